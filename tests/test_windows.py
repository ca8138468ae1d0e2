"""Windows by count, time and session key."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.base import DetectorError
from detectors.events import Event
from detectors.eventtable import EventTable
from detectors.windows import WindowSpec, make_windows


def _table(n: int, ts_step: float = 1.0) -> EventTable:
    table = EventTable()
    for i in range(n):
        table.append(Event("app.log", i + 1, 1000.0 + i * ts_step, f"m{i}", f"m{i}"), template=i % 3)
    return table.freeze()


def test_count_windows_slide_and_cover_the_tail() -> None:
    windows = make_windows(_table(45), WindowSpec.parse("count:20:10"))
    starts = [int(windows[i].events[0]) for i in range(len(windows))]
    assert starts == [0, 10, 20, 25]
    assert all(len(windows[i].events) == 20 for i in range(len(windows)))
    assert windows.key(0) == "app.log:1..app.log:20"


def test_time_windows_group_by_span() -> None:
    windows = make_windows(_table(600), WindowSpec.parse("time:1m"))
    assert len(windows) == 10
    assert len(windows[0].events) == 60


def test_session_windows_group_by_key() -> None:
    table = _table(6)
    sessions = np.array([0, 1, 0, -1, 1, 0])
    windows = make_windows(table, WindowSpec.parse(r"session:blk_-?\d+"), sessions, ["blk_1", "blk_2"])
    assert [w.key for w in windows] == ["blk_1", "blk_2"]
    assert windows[0].events.tolist() == [0, 2, 5]


@pytest.mark.parametrize("spec", ["count:x", "count:0", "time:5q", "session:", "session:(", "hourly"],
                         ids=["count-nan", "count-zero", "time-unit", "session-empty", "session-bad-regex", "kind"])
def test_bad_window_specs_say_what_to_write(spec: str) -> None:
    with pytest.raises(DetectorError, match=r"use|needs|bad"):
        WindowSpec.parse(spec)


def test_time_windows_without_timestamps_are_a_clear_error() -> None:
    table = EventTable()
    for i in range(5):
        table.append(Event("a.log", i + 1, None, "x", "x"), template=1)
    with pytest.raises(DetectorError, match="count"):
        make_windows(table.freeze(), WindowSpec.parse("time:1m"))

"""Hostile input holds (issue 19): damaged saved state, partial reads, terminal safety, user patterns.

The property-based side (random and adversarial bytes) is in tests/test_fuzz.py; speed is measured by
`sleuth bench hostile` (lab/bench_hostile.py), not asserted here.
"""

from __future__ import annotations

import gzip
import re
import sqlite3
from pathlib import Path

import pytest

from detectors.pipeline import AuditOptions, audit
from detectors.saferegex import UnsafePattern, compile_user
from detectors.templates import TemplateStore
from detectors.terminal import has_unsafe, visible

CORPUS = Path(__file__).parent / "corpus" / "hostile"


def _lines(n: int, start: int = 0) -> str:
    return "".join(f"2024-05-01T10:{(i // 60) % 60:02d}:{i % 60:02d}Z INFO worker {i % 7} finished job {i}\n"
                   for i in range(start, start + n))


# ------------------------------------------------------------------------------------------- damaged state


@pytest.mark.parametrize("damage", ["half", "empty", "junk"])
def test_a_damaged_template_state_is_moved_aside_and_rebuilt(tmp_path: Path, damage: str) -> None:
    log = tmp_path / "app.log"
    log.write_text(_lines(200))
    state = tmp_path / "state"
    first = audit([str(log)], AuditOptions(state_dir=state))
    saved = state / "drain3" / "app.bin"
    assert saved.is_file() and first.report.totals.templates > 0
    data = saved.read_bytes()
    saved.write_bytes({"half": data[: len(data) // 2], "empty": b"", "junk": b"\x00not drain3\xff"}[damage])

    again = audit([str(log)], AuditOptions(state_dir=state))  # no traceback: the run goes on from scratch

    notes = [s for s in again.stats.skips if s.reason == "damaged state"]
    assert len(notes) == 1 and str(saved) in notes[0].message and "moved it to" in notes[0].message
    aside = list((state / "drain3").glob("app.bin.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == {"half": data[: len(data) // 2], "empty": b"",
                                                          "junk": b"\x00not drain3\xff"}[damage]
    assert again.report.totals.templates == first.report.totals.templates
    assert saved.is_file() and TemplateStore(saved).recovered is None  # rebuilt and readable again


def test_a_damaged_sessions_database_is_moved_aside(tmp_path: Path) -> None:
    from agent.sessions import open_checkpointer

    db = tmp_path / "sessions.sqlite"
    saver = open_checkpointer(db)
    saver.conn.close()
    data = db.read_bytes()
    db.write_bytes(b"this is not a database" + data[: len(data) // 3])
    saver = open_checkpointer(db)  # a fresh, working database
    try:
        assert saver.conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    finally:
        saver.conn.close()
    assert len(list(tmp_path.glob("sessions.sqlite.damaged-*"))) == 1


def test_an_unreadable_sessions_folder_is_still_a_clear_error(tmp_path: Path) -> None:
    from agent.sessions import SessionError, open_checkpointer

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SessionError, match="cannot open the sessions database"):
        open_checkpointer(blocker / "sessions.sqlite")  # its folder is a file: not damage, nothing moved
    assert blocker.read_text() == "x"


def test_a_damaged_demo_pool_is_moved_aside_and_starts_empty(tmp_path: Path) -> None:
    from detectors.retriever import Demo
    from retrieval.embed import get_encoder
    from retrieval.pool import DemoPool

    folder = tmp_path / "pool"
    pool = DemoPool(folder, get_encoder("hash:32"))
    pool.add([Demo(id=f"d{i}", text=f"disk error {i}", label="anomaly", system="x", source=f"a.log:{i}")
              for i in range(5)])
    assert len(DemoPool(folder, get_encoder("hash:32")).demos) == 5
    (folder / "meta.jsonl").write_text('{"id": "d0", "te')  # cut mid-row

    again = DemoPool(folder, get_encoder("hash:32"))

    assert again.recovered is not None and str(folder) in again.recovered and len(again.demos) == 0
    assert len(list(tmp_path.glob("pool.damaged-*"))) == 1


def test_a_pool_of_another_encoder_is_not_treated_as_damage(tmp_path: Path) -> None:
    from detectors.retriever import Demo
    from retrieval.embed import get_encoder
    from retrieval.index import IndexError_
    from retrieval.pool import DemoPool

    folder = tmp_path / "pool"
    DemoPool(folder, get_encoder("hash:32")).add([Demo(id="d", text="t", label="normal", system="x", source="a:1")])
    with pytest.raises(IndexError_, match="was built with encoder"):
        DemoPool(folder, get_encoder("hash:16"))
    assert not list(tmp_path.glob("pool.damaged-*"))


def test_a_crash_exits_70_with_one_line_and_the_traceback_in_a_file(tmp_path: Path, monkeypatch) -> None:
    import io

    from detectors.recovery import CRASH_EXIT, crash_exit

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("SLEUTH_CACHE_DIR", raising=False)
    out = io.StringIO()
    try:
        raise KeyError("boom")
    except KeyError as error:
        code = crash_exit(error, out)
    text = out.getvalue()
    assert code == CRASH_EXIT and code not in (0, 1, 2)
    assert text.count("\n") == 1 and "Traceback" not in text and "KeyError" in text
    path = Path(re.search(r"details are in (\S+);", text).group(1))
    assert "Traceback" in path.read_text()


# ------------------------------------------------------------------------------------------- user patterns


def test_user_patterns_run_in_linear_time_or_are_refused() -> None:
    rx = compile_user(r"(x+x+)+y")  # catastrophic for a backtracking engine
    assert rx.search("x" * 50_000) is None  # returns at once on RE2 (or on a capped slice without it)
    with pytest.raises(re.error, match="back-references"):
        compile_user(r"(a)\1")
    with pytest.raises(UnsafePattern, match="not a valid regular expression"):
        compile_user("(")
    assert compile_user("error", ignore_case=True).search("an ERROR here").group(0) == "ERROR"


def test_a_session_window_with_look_around_is_a_usage_error(tmp_path: Path) -> None:
    from detectors.windows import WindowError, WindowSpec

    with pytest.raises(WindowError, match="look-around"):
        WindowSpec.parse("session:(?<=id=)\\d+")


# ------------------------------------------------------------------------------------------- terminal


def test_the_sanitiser_shows_controls_and_bidi_as_escapes_and_clips() -> None:
    line = "a\x1b[2J\x1b[H\x1b]0;pwned\x07b \u202eexe.txt \x00 \x9b"
    shown = visible(line)
    assert not has_unsafe(shown) and "\x1b" not in shown and "\u202e" not in shown
    assert shown == "a\\x1b[2J\\x1b[H\\x1b]0;pwned\\x07b \\u202eexe.txt \\x00 \\x9b"
    long = visible("x" * 1_000_008)
    assert long.endswith("… [+998,008 chars]") and len(long) < 2_100
    assert visible("one\ntwo", newlines=False) == "one\\x0atwo" and visible("one\ntwo") == "one\ntwo"

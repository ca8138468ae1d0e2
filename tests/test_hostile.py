"""Hostile input holds (issue 19): damaged saved state, partial reads, terminal safety, user patterns.

The property-based side (random and adversarial bytes) is in tests/test_fuzz.py; speed is measured by
`sleuth bench hostile` (lab/bench_hostile.py), not asserted here.
"""

from __future__ import annotations

import gzip
import re
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


# ------------------------------------------------------------------------------------------- partial reads


def _read(paths: list[str]):
    from detectors.events import ReadStats
    from detectors.readers import read_events

    stats = ReadStats()
    return list(read_events(paths, stats=stats)), stats


def test_a_truncated_gz_drops_and_counts_its_cut_off_last_line(tmp_path: Path) -> None:
    whole = gzip.compress(_lines(3000).encode())
    gz = tmp_path / "app.log.gz"
    gz.write_bytes(whole[: len(whole) * 2 // 3])
    events, stats = _read([str(gz)])
    complete = _lines(3000).split("\n")
    assert events and all(e.raw + "" in complete for e in events)  # no half line was audited
    skip = next(s for s in stats.skips if s.reason == "truncated gzip")
    assert skip.line == len(events) + 1 and "cut-off line itself was dropped" in skip.message


def test_nul_bytes_inside_lines_are_counted(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    text = _lines(400)  # past the 8 KB binary probe, then NULs
    log.write_bytes(text.encode() + b"2024-05-01T11:00:00Z ERROR a\x00b\n" + _lines(3, 500).encode() + b"\x00\x00\n")
    events, stats = _read([str(log)])
    skip = next(s for s in stats.skips if s.reason == "NUL bytes")
    assert skip.line == 401 and "2 line(s)" in skip.message
    assert "a\\x00b" in visible(next(e.raw for e in events if "\x00" in e.raw))


def test_a_file_that_shrinks_while_it_is_read_is_reported(tmp_path: Path) -> None:
    from detectors.events import ReadStats
    from detectors.readers import read_events

    log = tmp_path / "app.log"
    log.write_text(_lines(60_000))  # several MB: read in 64 KB chunks
    stats = ReadStats()
    events = read_events([str(log)], stats=stats)
    first = [next(events) for _ in range(10)]
    with open(log, "r+b") as f:
        f.truncate(0)  # as logrotate's copytruncate does
    rest = list(events)
    skip = next(s for s in stats.skips if s.reason == "file shrank")
    assert str(log) in skip.message and "shrank from" in skip.message and " to 0 bytes" in skip.message
    assert len(first) + len(rest) < 60_000


def test_watch_rejects_a_binary_file_up_front(tmp_path: Path) -> None:
    import io

    from detectors.calm.pipeline import watch_main

    blob = tmp_path / "metrics.csv"
    blob.write_bytes(bytes(range(256)) * 40)
    err = io.StringIO()
    code = watch_main([str(blob)], model_dir=tmp_path / "models", out=str(tmp_path / "events.jsonl"), stderr=err)
    assert code == 2 and f"{blob}: looks binary" in err.getvalue()


# ------------------------------------------------------------------------------------------- the corpus


def _audit_md(paths: list[str], tmp_path: Path):
    from detectors.render import render_markdown

    result = audit(paths, AuditOptions(state_dir=tmp_path / "state"))
    return result, render_markdown(result.report)


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.iterdir() if p.is_file() and p.name != "README.md"))
def test_each_corpus_file_is_audited_and_reported_without_raw_controls(name: str, tmp_path: Path) -> None:
    result, md = _audit_md([str(CORPUS / name)], tmp_path)
    assert not has_unsafe(md), f"raw control/bidi characters in the report of {name}"
    reasons = {s.reason for s in result.stats.skips}
    if name == "truncated.log.gz":
        assert "truncated gzip" in reasons
    if name == "nul_inside.log":
        assert "NUL bytes" in reasons and "\\x00" in md
    if name == "escape_sequences.log":
        assert "\\x9b31m" in md  # the line is in the report, its C1 control shown as an escape


def test_hostile_lines_reach_the_prompt_defanged_and_redacted() -> None:
    from agent.prompts import data_block

    lines = [ln for name in ("prompt_injection.log", "secrets.log", "bidi.log", "escape_sequences.log")
             for ln in (CORPUS / name).read_text(encoding="utf-8").splitlines() if "ERROR" in ln or "WARN" in ln]
    from agent.redact import redact

    block = redact(data_block(lines)).text
    assert "### SYSTEM:" not in block and "\nAssistant:" not in block and "<|im_start|>" not in block
    assert not has_unsafe(block) and "4111111111111111" not in block and "Sup3rS3cret!" not in block


def test_a_ten_megabyte_line_is_audited_and_clipped(tmp_path: Path) -> None:
    log = tmp_path / "long.log"
    with open(log, "w", encoding="utf-8") as f:
        f.write(_lines(200))
        f.write("2024-05-01T11:00:00Z ERROR " + "x" * 10_000_000 + "\n")
        f.write(_lines(200, 300))
    result, md = _audit_md([str(log)], tmp_path)
    assert "line too long" in {s.reason for s in result.stats.skips}  # cut at the 1 MB line cap, and said so
    assert max(len(line) for line in md.splitlines()) < 5_000  # no megabyte line reaches the terminal

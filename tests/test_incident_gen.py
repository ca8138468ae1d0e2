"""The incident generator (lab.incidents) and the rubric that judges triage with it."""

from __future__ import annotations

import filecmp
import re
from pathlib import Path

import pytest

from detectors.events import ReadStats
from detectors.readers import read_events
from lab.incidents import HERRINGS, KINDS, generate_incident, generate_incidents, read_answer
from lab.incidents.bench import log_files, score_folders
from lab.incidents.gen import ANSWER, LOGS
from lab.incidents.score import Cited, Prediction, epoch, from_triage, score

SYSLOG_HEAD = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ ")


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    root = tmp_path_factory.mktemp("incidents")
    out = {}
    for i, kind in enumerate(KINDS):
        folder = root / kind
        out[kind] = (folder, generate_incident(folder, kind=kind, seed=100 + i, lines=4000))
    return out


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a = generate_incident(tmp_path / "a", kind="dns_failure", seed=5, lines=3000)
    b = generate_incident(tmp_path / "b", kind="dns_failure", seed=5, lines=3000)
    c = generate_incident(tmp_path / "c", kind="dns_failure", seed=6, lines=3000)
    assert a == b
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files and all(filecmp.cmp(tmp_path / "a" / f, tmp_path / "b" / f, shallow=False) for f in files)
    assert a["onset"] != c["onset"] or a["cause"] != c["cause"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_parses_and_its_key_points_at_real_lines(folders, kind: str) -> None:
    folder, ans = folders[kind]
    logs = folder / LOGS
    assert not (logs / ANSWER).exists() and (folder / ANSWER).is_file()
    assert read_answer(folder) == ans
    assert 5 <= len(ans["files"]) <= 7
    files, metrics = log_files(logs)
    assert len(metrics) == 1 and metrics[0].endswith("metrics.csv")
    stats = ReadStats()
    events = list(read_events(files, stats=stats))
    assert not stats.skips, [s.message for s in stats.skips]
    assert "plain" not in stats.formats, dict(stats.formats)
    assert stats.formats.get("syslog3164") == 1
    assert stats.lines == sum(n for f, n in ans["lines"].items() if not f.endswith(".csv"))
    # Every chain step's lines exist and contain one of its phrases; cause first, a symptom last.
    chain = ans["chain"]
    assert chain[0]["role"] == "cause" and chain[-1]["role"] == "symptom" and len(chain) >= 3
    for step in chain:
        text = _lines(logs / step["file"])
        assert step["lines"], step["step"]
        for n in step["lines"]:
            assert any(p.casefold() in text[n - 1].casefold() for p in step["phrases"]), (step["step"], text[n - 1])
    cause_lines = {(loc["file"], n) for loc in ans["cause"]["locations"] for n in loc["lines"]}
    assert cause_lines
    for f, n in cause_lines:
        assert any(p.casefold() in _lines(logs / f)[n - 1].casefold() for p in ans["cause"]["phrases"])
    # The red herring is there, loud, and says what its key says.
    rh = ans["red_herring"]
    assert rh["kind"] in HERRINGS and len(rh["lines"]) >= 20
    text = _lines(logs / rh["file"])
    assert all(any(p.casefold() in text[n - 1].casefold() for p in rh["phrases"]) for n in rh["lines"])
    assert not set(p.casefold() for p in rh["phrases"]) & set(p.casefold() for p in ans["cause"]["phrases"])
    # Hours of chatter with errors before the onset: the first error is not the answer.
    onset = epoch(ans["onset"])
    assert epoch(ans["start"]) + 3600 < onset < epoch(ans["end"])
    errors_before = [e for e in events if e.level in ("ERROR", "FATAL") and e.ts is not None and e.ts < onset - 600]
    assert errors_before
    traces = ("\n", '"stack_trace":', '"exc_info":')  # folded lines, or a JSON line's trace field
    assert any(t in e.raw for e in events if e.ts is not None and e.ts < onset for t in traces)


def test_syslog_has_no_year_and_the_others_do(folders) -> None:
    for folder, ans in folders.values():
        logs = folder / LOGS
        years = {str(ans["year"]), str(ans["year"] + 1)}
        syslog = next(f for f in ans["files"].values() if "syslog" in f or "messages" in f)
        lines = [ln for ln in _lines(logs / syslog) if ln]
        assert all(SYSLOG_HEAD.match(ln) for ln in lines)
        assert not any(re.match(r"^\S+ +\d+ \d\d:\d\d:\d\d (19|20)\d\d", ln) for ln in lines)
        access = _lines(logs / ans["files"]["access"])[0]
        assert any(f"/{y}:" in access for y in years)
        app = _lines(logs / ans["files"]["app"])[0]
        assert any(f'"{y}-' in app for y in years)


def test_a_batch_cycles_through_the_kinds(tmp_path: Path) -> None:
    made = generate_incidents(tmp_path, 3, seed=1, lines=2000)
    assert [a["kind"] for _, a in made] == list(KINDS)[:3]
    assert [p.name for p, _ in made] == [f"{i:02d}-{k}" for i, k in enumerate(list(KINDS)[:3])]


def test_bad_kind_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown incident kind 'nope'; choose one of: bad_deploy"):
        generate_incident(tmp_path / "x", kind="nope")
    with pytest.raises(FileNotFoundError, match="no answer key"):
        read_answer(tmp_path)


# --- the judge -------------------------------------------------------------------------------------------------


def _perfect(ans: dict, logs: Path) -> Prediction:
    first = ans["cause"]["locations"][0]
    top = Cited(ans["cause"]["phrases"][0], str(logs / first["file"]), first["lines"][0])
    cited = [Cited("", step["file"], step["lines"][0]) for step in ans["chain"]]  # relative names count too
    return Prediction("whatever the title says", epoch(ans["onset"]), top, cited)


def test_the_rubric_gives_full_marks_to_the_answer(folders) -> None:
    for folder, ans in folders.values():
        marks = score(ans, _perfect(ans, folder / LOGS), folder / LOGS)
        assert marks == {"cause": 1.0, "chain": 1.0, "herring_ok": 1.0, "onset": 1.0, "score": 1.0}


def test_the_rubric_gives_nothing_to_the_red_herring(tmp_path: Path) -> None:
    for seed in range(40):  # a folder whose red herring starts well before the onset
        ans = generate_incident(tmp_path / str(seed), kind="disk_full", seed=seed, lines=2500)
        if epoch(ans["onset"]) - epoch(ans["red_herring"]["start"]) > 900:
            break
    logs = tmp_path / str(seed) / LOGS
    rh = ans["red_herring"]
    blame = Prediction(rh["phrases"][0], epoch(rh["start"]), Cited("", rh["file"], rh["lines"][0]),
                       [Cited("", rh["file"], n) for n in rh["lines"][:50]])
    assert score(ans, blame, logs) == {"cause": 0.0, "chain": 0.0, "herring_ok": 0.0, "onset": 0.0, "score": 0.0}
    # Naming the cause in the title while the top candidate is the red herring still counts as blaming it.
    mixed = Prediction(ans["cause"]["phrases"][0], epoch(ans["onset"]) + 200, Cited("", rh["file"], rh["lines"][0]))
    marks = score(ans, mixed, logs)
    assert marks["cause"] == 1.0 and marks["herring_ok"] == 0.0 and marks["onset"] == 1.0
    # Off by more than five minutes is a miss; no incident at all scores zero.
    late = _perfect(ans, logs)
    late.onset = epoch(ans["onset"]) + 301
    assert score(ans, late, logs)["onset"] == 0.0
    assert score(ans, Prediction(found=False), logs)["score"] == 0.0


def test_triage_dicts_are_read_by_the_adapter(folders) -> None:
    folder, ans = folders["cron_lock_contention"]
    loc = ans["cause"]["locations"][-1]
    step = ans["chain"][-1]
    d = {"incidents": [{"title": "t", "onset_ts": epoch(ans["onset"]) - 60,
                        "candidates": [{"text": "x", "file": str(folder / LOGS / loc["file"]), "line": loc["lines"][0]}],
                        "chain": [{"text": "y", "file": step["file"], "line": step["lines"][0]}]}]}
    marks = score(ans, from_triage(d), folder / LOGS)
    assert marks["cause"] == 1.0 and marks["onset"] == 1.0 and 0 < marks["chain"] < 1


def test_the_level_rule_baseline_misses_a_cause_buried_in_chatter(folders) -> None:
    folder, ans = folders["config_push"]
    rows = score_folders([(folder, ans)], ["level:first"])
    assert len(rows) == 1 and rows[0]["error"] is None and rows[0]["found"]
    assert rows[0]["cause"] == 0.0 and rows[0]["onset"] == 0.0


def test_cli_generates_folders_and_scores_them(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    runner = CliRunner()
    r = runner.invoke(app, ["generate", "--incidents", "2", "--out", str(tmp_path), "--kind", "dns_failure",
                            "--lines", "2000"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00-dns_failure", "01-dns_failure"]
    assert read_answer(tmp_path / "01-dns_failure")["kind"] == "dns_failure"
    r = runner.invoke(app, ["bench", "triage", "--data", str(tmp_path), "--methods", "level:first", "--scale", ""])
    assert r.exit_code == 0, r.output
    assert "level:first" in r.output and "dns_failure" in r.output
    r = runner.invoke(app, ["bench", "triage", "--data", str(tmp_path / "nothing"), "--scale", ""])
    assert r.exit_code == 2 and "no folder with an answer.json" in r.output
    r = runner.invoke(app, ["generate", "--incidents", "1", "--out", str(tmp_path), "--kind", "nope"])
    assert r.exit_code == 2 and "unknown --kind 'nope'" in r.output


def test_scale_rows_report_peak_rss_and_anonymous_memory(tmp_path: Path) -> None:
    import sys

    from lab.incidents.bench import scale_rows, scale_table

    ballast = bytearray(400 << 20)  # this process 400 MB larger: a forked child's rusage would count it
    ballast[::4096] = b"x" * len(ballast[::4096])
    (row,) = scale_rows(tmp_path, 0, [3000], mode="engine:none")
    del ballast
    assert "error" not in row, row
    assert row["lines"] >= 3000 and row["peak_rss_mb"] > 0
    if sys.platform.startswith("linux"):  # the child's own VmHWM; RssAnon sampled from /proc while it runs
        assert row["peak_rss_mb"] < 400, row
        assert 0 < row["peak_anon_mb"] <= row["peak_rss_mb"]
    table = scale_table([row])
    assert "peak anon MB" in table and f"{row['lines']:,}" in table

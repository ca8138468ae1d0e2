"""Synthetic logs and metrics: deterministic, the requested size, valid in each format, and honestly labelled."""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from lab.synth import FORMATS, SynthTruth, generate_logs, generate_metrics, read_truth, write_truth

LINES = 3_000

# Every injected message matches one of these, and no normal message does.
INCIDENT = re.compile(
    r"above threshold 85%|is full \(|No space left on device|db write failed \(DiskFull\)|gave up after"
    r"|QueuePool limit|HikariPool-1|too many clients|unrecoverable error|Exception in ASGI|died: unhandled"
    r"|api\.service|Started server process|Application startup complete|Uvicorn running|archived WAL"
    r"|back below threshold|back to normal|healthy again|deferred jobs"
)
ISO_HEADER = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ [\w-]+\[\d+\]: (INFO|WARN|ERROR|FATAL) ")
SYSLOG = re.compile(r"^<(\d{1,3})>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [\w-]+\[\d+\]: ")


@pytest.fixture(scope="module")
def iso_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], SynthTruth]:
    path = tmp_path_factory.mktemp("synth") / "fleet.log"
    truth = generate_logs(path, lines=LINES, seed=7)
    return path.read_text(encoding="utf-8").split("\n")[:-1], truth


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_seed_gives_the_same_bytes(tmp_path: Path, fmt: str) -> None:
    generate_logs(tmp_path / "a", lines=LINES, seed=3, fmt=fmt)
    generate_logs(tmp_path / "b", lines=LINES, seed=3, fmt=fmt)
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_different_seeds_differ(tmp_path: Path) -> None:
    generate_logs(tmp_path / "a", lines=LINES, seed=1)
    generate_logs(tmp_path / "b", lines=LINES, seed=2)
    assert (tmp_path / "a").read_bytes() != (tmp_path / "b").read_bytes()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("lines", [1_000, 2_345], ids=["minimum", "odd"])
def test_exactly_the_requested_lines(tmp_path: Path, fmt: str, lines: int) -> None:
    truth = generate_logs(tmp_path / "log", lines=lines, fmt=fmt)
    data = (tmp_path / "log").read_bytes()
    assert data.endswith(b"\n") and data.count(b"\n") == lines == truth.lines


def test_labels_are_exactly_the_injected_lines(iso_log: tuple[list[str], SynthTruth]) -> None:
    lines, truth = iso_log
    for n, line in enumerate(lines, 1):
        continuation = not ISO_HEADER.match(line)
        if n in truth.anomalous_lines:
            assert continuation or INCIDENT.search(line), f"line {n} is labelled but not injected: {line!r}"
        else:
            assert not INCIDENT.search(line), f"line {n} is injected but not labelled: {line!r}"
            assert not continuation or "SocketTimeoutException" in line or line.startswith("\tat "), line


def test_stack_traces_are_labelled_but_benign_ones_are_not(iso_log: tuple[list[str], SynthTruth]) -> None:
    lines, truth = iso_log
    labelled = [lines[n - 1] for n in sorted(truth.anomalous_lines)]
    assert "Traceback (most recent call last):" in labelled
    assert any(line.startswith("\tat org.postgresql") for line in labelled)
    assert any(line.startswith('  File "/srv/api/app/routes/orders.py"') for line in labelled)
    benign = [n for n, line in enumerate(lines, 1) if "SocketTimeoutException" in line]
    assert benign and not set(benign) & truth.anomalous_lines


def test_benign_warnings_are_common_and_unlabelled(iso_log: tuple[list[str], SynthTruth]) -> None:
    lines, truth = iso_log
    warn_or_error = [n for n, line in enumerate(lines, 1) if re.search(r"\]: (WARN|ERROR) ", line)]
    benign = [n for n in warn_or_error if n not in truth.anomalous_lines]
    assert len(benign) > len(warn_or_error) / 2, "flagging every WARN/ERROR must not find the incident"
    assert min(benign) < LINES * 0.3, "benign warnings must appear before the incident too"


def test_incident_phases_cover_the_labels_late_in_the_file(iso_log: tuple[list[str], SynthTruth]) -> None:
    _, truth = iso_log
    kinds = [i.kind for i in truth.incidents]
    assert kinds[0] == "disk_filling" and "crash" in kinds and kinds[-1] == "recovery"
    for n in truth.anomalous_lines:
        assert any(i.start_line <= n <= i.end_line for i in truth.incidents)
    assert min(truth.anomalous_lines) > LINES * 0.5


def test_syslog_lines_parse_as_rfc3164(tmp_path: Path) -> None:
    truth = generate_logs(tmp_path / "s.log", lines=LINES, fmt="syslog")
    lines = (tmp_path / "s.log").read_text(encoding="utf-8").splitlines()
    for line in lines:
        m = SYSLOG.match(line)
        assert m and 0 <= int(m[1]) <= 191, line
    trace = [lines[n - 1] for n in sorted(truth.anomalous_lines) if "Traceback" in lines[n - 1]]
    assert trace and SYSLOG.match(trace[0])


def test_jsonl_lines_are_objects_with_five_fields(tmp_path: Path) -> None:
    truth = generate_logs(tmp_path / "j.log", lines=LINES, fmt="jsonl")
    objects = [json.loads(line) for line in (tmp_path / "j.log").read_text(encoding="utf-8").splitlines()]
    assert len(objects) == LINES
    for obj in objects:
        assert list(obj) == ["timestamp", "level", "host", "service", "message"]
        datetime.fromisoformat(obj["timestamp"])
    traces = [objects[n - 1]["message"] for n in truth.anomalous_lines if "\n" in objects[n - 1]["message"]]
    assert any("Traceback (most recent call last):" in t for t in traces), "a trace stays inside one object"


def test_without_incident_nothing_is_labelled(tmp_path: Path) -> None:
    truth = generate_logs(tmp_path / "n.log", lines=500, incident=False)
    assert truth.anomalous_lines == set() and truth.incidents == []
    assert "No space left" not in (tmp_path / "n.log").read_text(encoding="utf-8")


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown log format 'xml'"):
        generate_logs(tmp_path / "x", fmt="xml")
    with pytest.raises(ValueError, match="incident=False"):
        generate_logs(tmp_path / "x", lines=100)


def test_truth_round_trips(tmp_path: Path, iso_log: tuple[list[str], SynthTruth]) -> None:
    _, truth = iso_log
    write_truth(truth, tmp_path / "truth.json")
    assert read_truth(tmp_path / "truth.json") == truth


def _runs(indices: set[int]) -> list[range]:
    runs: list[range] = []
    for i in sorted(indices):
        if runs and runs[-1].stop == i:
            runs[-1] = range(runs[-1].start, i + 1)
        else:
            runs.append(range(i, i + 1))
    return runs


def test_metrics_have_the_points_and_labels_where_the_shift_and_spike_are(tmp_path: Path) -> None:
    path, labels = generate_metrics(tmp_path / "m.csv", points=600, seed=5)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 600 * 2 and list(rows[0]) == ["timestamp", "value", "series"]
    assert set(labels) == {"cpu", "latency_ms"}
    for name, shift in (("cpu", 8.0), ("latency_ms", 35.0)):
        values = [float(r["value"]) for r in rows if r["series"] == name]
        assert len(values) == 600
        onset, incident = _runs(labels[name])
        before = values[onset.start - 20 : onset.start]
        after = values[onset.start : onset.start + 20]
        assert sum(after) / 20 - sum(before) / 20 > shift / 2, f"{name}: no level shift at {onset.start}"
        plateau = sorted(values[i] for i in incident)[len(incident) // 2]
        assert plateau > max(values[incident.start - 100 : incident.start]), f"{name}: no spike at {incident.start}"
    second = generate_metrics(tmp_path / "m2.csv", points=600, seed=5)
    assert Path(second[0]).read_bytes() == Path(path).read_bytes() and second[1] == labels

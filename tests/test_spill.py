"""Long columns in temporary files (detectors.spill): the same answers as in memory, the pages handed back, the files
gone, and no failure when the spill folder cannot be used."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from detectors import spill
from detectors.incidents import columns, timebase, triage
from detectors.incidents import keys as keys_mod
from detectors.pipeline import AuditOptions, audit
from tests.incident_fixtures import haproxy_postgres


@pytest.fixture
def spill_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Spill every column of more than 64 elements, flushing while reading every 32 elements."""
    folder = tmp_path / "spill"
    monkeypatch.setenv("SLEUTH_SPILL_DIR", str(folder))
    monkeypatch.setattr(spill, "SPILL_MIN", 64)
    monkeypatch.setattr(spill.Appender, "FLUSH", 32)
    return folder


def _resident_pages(a: np.ndarray) -> int:
    """Pages of `a`'s mapping resident in this process (from /proc/self/smaps)."""
    start = a.__array_interface__["data"][0]
    with open("/proc/self/smaps") as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        head = line.split()[0]
        if "-" in head and all(c in "0123456789abcdef-" for c in head):
            lo, hi = (int(x, 16) for x in head.split("-"))
            if lo <= start < hi:
                for more in lines[i + 1:]:
                    if more.startswith("Rss:"):
                        return int(more.split()[1]) // 4
    raise AssertionError("mapping not found")


def test_columns_spill_keep_their_values_and_hand_pages_back(spill_small: Path) -> None:
    values = np.arange(200_000, dtype=np.float64) * 0.5
    col = spill.copy(values)
    assert spill.is_spilled(col)
    assert np.array_equal(col, values)
    if os.path.exists("/proc/self/smaps") and spill._DONTNEED is not None:
        col.sum()  # every page read
        assert _resident_pages(col) > 300
        spill.release()
        assert _resident_pages(col) == 0
    assert np.array_equal(col, values)  # read back from the file after the release
    col[5] = -1.0  # still writable, and the write survives a release
    spill.release()
    assert col[5] == -1.0
    # The files are unlinked from the start: nothing is left in the folder for anyone to clean up.
    assert not any(spill_small.iterdir())


def test_short_columns_stay_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLEUTH_SPILL_DIR", str(tmp_path / "s"))
    assert not spill.is_spilled(spill.empty(spill.SPILL_MIN - 1, np.int32))
    assert not (tmp_path / "s").exists()


def test_unusable_spill_folder_keeps_columns_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SLEUTH_SPILL_DIR", str(blocker / "spill"))  # cannot be created
    monkeypatch.setattr(spill, "SPILL_MIN", 8)
    monkeypatch.setattr(spill.Appender, "FLUSH", 4)
    col = spill.full(100, 7, np.int16)
    assert not spill.is_spilled(col) and int(col.sum()) == 700
    app = spill.Appender("i")
    for i in range(50):
        app.append(i)
        app.maybe_flush()
    assert app.freeze(np.int16).tolist() == list(range(50))


def _as_a_long_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Spill every column of more than 64 elements, and make chunks far smaller than the log, so that every
    chunked pass (times, keys, groups, impact) crosses chunk boundaries as it does on a long log."""
    monkeypatch.setenv("SLEUTH_SPILL_DIR", str(tmp_path / "spill"))
    monkeypatch.setattr(spill, "SPILL_MIN", 64)
    monkeypatch.setattr(spill.Appender, "FLUSH", 32)
    monkeypatch.setattr(columns, "CHUNK", 257)
    monkeypatch.setattr(timebase, "_STEP", 257)
    monkeypatch.setattr(keys_mod, "CHUNK", 257)


def _triage_json(folder: Path) -> str:
    d = triage([str(folder)]).to_dict()
    d.pop("seconds", None)
    return json.dumps(d, sort_keys=True, default=str)


def test_triage_and_audit_the_same_when_spilled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "incident"
    haproxy_postgres(folder)
    in_memory = _triage_json(folder)
    opts = AuditOptions(detector="classical", state_dir=None, incidents=True)
    res = audit([str(folder)], opts)
    assert not spill.is_spilled(res.events.ts)
    mem_scores, mem_lines = res.line_scores.copy(), [a.where for a in res.report.anomalies]
    mem_incidents = json.dumps({k: v for k, v in res.report.incidents.items() if k != "seconds"}, sort_keys=True,
                               default=str)

    _as_a_long_log(monkeypatch, tmp_path)
    assert _triage_json(folder) == in_memory
    res = audit([str(folder)], opts)
    assert spill.is_spilled(res.events.ts) and spill.is_spilled(res.events.template)
    assert spill.is_spilled(res.line_scores)
    assert np.array_equal(res.line_scores, mem_scores)
    assert [a.where for a in res.report.anomalies] == mem_lines
    assert json.dumps({k: v for k, v in res.report.incidents.items() if k != "seconds"}, sort_keys=True,
                      default=str) == mem_incidents


def test_quantiles_without_the_copy_are_numpys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(columns, "CHUNK", 97)
    rng = np.random.default_rng(7)
    qs = (0.01, 0.99, 0.0, 1.0, 0.3)
    for n in (1, 2, 5, 250, 4000):
        t = np.round(rng.normal(1.7e9, 3e4, n), rng.integers(0, 3))  # ties too
        for share in (0.02, 0.5, 1.0):
            mask = rng.random(n) < share
            mask[rng.integers(n)] = True
            got = columns.quantiles_where(t, lambda lo, hi, m=mask: m[lo:hi], int(mask.sum()), qs)
            assert got == [float(np.quantile(t[mask], q)) for q in qs]


def test_shifted_and_detached_clocks_the_same_when_spilled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The time base's per-source ranges, shifts and masks are built a chunk at a time when spilled."""
    from datetime import datetime, timedelta

    from tests.test_incidents import write_incident

    folders = []
    for i, hours in enumerate((2, 30)):  # an access log written in local time; one from another day
        folder = tmp_path / f"incident-{i}"
        write_incident(folder, hours=3.0)
        src = folder / "nginx-access.log"
        out = []
        for line in src.read_text().splitlines():
            a, b = line.index("["), line.index("]")
            t = datetime.strptime(line[a + 1:b], "%d/%b/%Y:%H:%M:%S %z") + timedelta(hours=hours)
            out.append(line[:a + 1] + t.strftime("%d/%b/%Y:%H:%M:%S") + line[b:])
        src.write_text("\n".join(out) + "\n")
        folders.append(folder)
    in_memory = [_triage_json(f) for f in folders]
    assert "+2 h" in in_memory[0] and "does not overlap" in in_memory[1]
    _as_a_long_log(monkeypatch, tmp_path)
    assert [_triage_json(f) for f in folders] == in_memory

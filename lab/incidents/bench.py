"""`sleuth bench triage`: generated (or given) incident folders, scored by the rubric, with baselines in the same run.

Methods (all without any LLM):
- `level:first` — the level rule: the earliest ERROR-or-worse line is the cause, its time the onset;
- `level:frequent` — the level rule, most frequent variant: the most frequent ERROR-or-worse message (digits
  masked), at its first line;
- `classical` — the classical ranking `sleuth audit` shows: its top anomaly is the cause, its time the onset
  (every anomaly shown counts as cited);
- `engine` — the incident engine through the audit path: `audit(logs, classical)` then `triage_audit` with the
  folder's metrics.csv, which is what `sleuth audit LOGS --metrics metrics.csv` runs (the time counts both);
- `engine:none` — the engine on the logs and metrics without any detector's scores (`triage`);
- `engine:nometrics` — the audit path without the metrics file;
- `engine:icad` — the audit path with the ICAD detector (slow; only when asked for with --methods).

The scale rows time the audit path on a 25k-line 6-source folder and on a 1M-line folder (the same incident in 40x
the chatter), each in a child process so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lab.incidents.gen import ANSWER, LOGS, generate_incident, generate_incidents, read_answer
from lab.incidents.score import Cited, Prediction, from_anomalies, from_triage, score

METHODS = ("level:first", "level:frequent", "classical", "engine", "engine:none", "engine:nometrics", "engine:icad")
DEFAULT_METHODS = ("level:first", "level:frequent", "classical", "engine", "engine:none", "engine:nometrics")
SCALE_LINES = (25_000, 1_000_000)
_BAD = ("ERROR", "FATAL")


def log_files(logs: Path) -> tuple[list[str], list[str]]:
    """(log files, metric CSVs) of a folder of logs, sorted."""
    files = sorted(p for p in logs.rglob("*") if p.is_file())
    metrics = [str(p) for p in files if p.suffix == ".csv"]
    return [str(p) for p in files if p.suffix != ".csv" and p.name != ANSWER], metrics


def level_rule(files: Sequence[str], frequent: bool = False) -> Prediction:
    """The first (or most frequent) ERROR-or-worse entry as the cause, its time as the onset."""
    from detectors.events import ReadStats
    from detectors.readers import read_events

    started = time.perf_counter()
    first = None
    counts: dict[str, list[Any]] = {}
    for ev in read_events(list(files), stats=ReadStats()):
        if ev.level not in _BAD:
            continue
        if first is None or (ev.ts is not None and (first.ts is None or ev.ts < first.ts)):
            first = ev
        if frequent:
            msg = ev.text.partition("\n")[0]
            k = re.sub(r"0x[0-9a-f]+|[0-9a-f]{8,}|\d+", "#", msg)
            slot = counts.get(k)
            if slot is None:
                counts[k] = [1, ev]
            else:
                slot[0] += 1
                if ev.ts is not None and (slot[1].ts is None or ev.ts < slot[1].ts):
                    slot[1] = ev
    pick = first
    if frequent and counts:
        pick = max(counts.values(), key=lambda s: s[0])[1]
    secs = time.perf_counter() - started
    if pick is None:
        return Prediction(found=False, seconds=secs)
    c = Cited(pick.text.partition("\n")[0], pick.source, pick.line)
    return Prediction(c.text, pick.ts, c, [c], True, secs)


def _audit(files: Sequence[str], detector: str) -> tuple[Any, float]:
    from detectors.pipeline import AuditOptions, audit

    started = time.perf_counter()
    # The engine runs separately (triage_audit, as the audit itself would call it) so that the classical row's time
    # is the classical ranking's alone.
    res = audit(list(files), AuditOptions(detector=detector, state_dir=None, incidents=False))
    return res, time.perf_counter() - started


def run_methods(folder: Path, methods: Sequence[str]) -> dict[str, Prediction]:
    """Each method's prediction on one folder (errors become a prediction with `error` set)."""
    logs = folder / LOGS if (folder / LOGS).is_dir() else folder
    files, metrics = log_files(logs)
    out: dict[str, Prediction] = {}
    audits: dict[str, tuple[Any, float]] = {}

    def audited(det: str) -> tuple[Any, float]:
        if det not in audits:
            audits[det] = _audit(files, det)
        return audits[det]

    for m in methods:
        try:
            if m == "level:first":
                out[m] = level_rule(files)
            elif m == "level:frequent":
                out[m] = level_rule(files, frequent=True)
            elif m == "classical":
                res, secs = audited("classical")
                out[m] = from_anomalies([_anomaly_dict(a) for a in res.report.anomalies], secs)
            elif m in ("engine", "engine:nometrics", "engine:icad"):
                from detectors.incidents import triage_audit

                res, secs = audited("icad" if m == "engine:icad" else "classical")
                started = time.perf_counter()
                t = triage_audit(res, metrics=[] if m == "engine:nometrics" else metrics)
                out[m] = from_triage(t, secs + time.perf_counter() - started)
            elif m == "engine:none":
                from detectors.incidents import triage

                started = time.perf_counter()
                t = triage(files, metrics=metrics)
                out[m] = from_triage(t, time.perf_counter() - started)
            else:
                raise ValueError(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
        except ValueError:
            raise
        except Exception as e:  # a method failing on a folder is a result, not a crash of the bench
            out[m] = Prediction(found=False, error=f"{type(e).__name__}: {e}")
    return out


def _anomaly_dict(a: Any) -> dict[str, Any]:
    return {"text": a.text, "template": a.template, "source": a.source, "line": a.line, "ts": a.ts}


def score_folders(folders: Sequence[tuple[Path, dict[str, Any]]], methods: Sequence[str],
                  progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """One row per (folder, method): the marks, seconds, lines."""
    rows = []
    for i, (folder, answer) in enumerate(folders, 1):
        logs = folder / LOGS if (folder / LOGS).is_dir() else folder
        preds = run_methods(folder, methods)
        lines = int(answer.get("total_lines") or 0)
        for m, p in preds.items():
            marks = score(answer, p, logs)
            rows.append({"folder": folder.name, "kind": answer.get("kind", "?"), "method": m, **marks,
                         "seconds": round(p.seconds, 3), "lines": lines, "error": p.error, "found": p.found,
                         "title": p.title[:200], "top": (p.top.text[:200] if p.top else None),
                         "onset_said": p.onset, "onset_true": answer.get("onset"),
                         "top_where": (f"{p.top.file}:{p.top.line}" if p.top and p.top.file else None)})
        if progress:
            eng = next((r for r in rows[-len(preds):] if r["method"].startswith("engine")), None)
            tail = f"engine score {eng['score']:.2f}" if eng else ""
            progress(f"[{i}/{len(folders)}] {folder.name} {tail}")
    return rows


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def tables(rows: Sequence[dict[str, Any]], methods: Sequence[str]) -> str:
    """The totals table (one row per method) and the per-kind table (engine and baselines side by side)."""
    out = []
    head = f"{'method':<18} {'cause':>6} {'chain':>6} {'RH ok':>6} {'onset':>6} {'score':>6} {'s/folder':>9} " \
           f"{'lines/s':>9} {'errors':>6}"
    out += ["Totals (mean over folders; cause / RH ok / onset are the share of folders)", head, "-" * len(head)]
    best = None
    for m in methods:
        rs = [r for r in rows if r["method"] == m]
        if not rs:
            continue
        secs = sum(r["seconds"] for r in rs)
        lines = sum(r["lines"] for r in rs)
        sc = _mean([r["score"] for r in rs])
        out.append(f"{m:<18} {_mean([r['cause'] for r in rs]):>6.2f} {_mean([r['chain'] for r in rs]):>6.2f} "
                   f"{_mean([r['herring_ok'] for r in rs]):>6.2f} {_mean([r['onset'] for r in rs]):>6.2f} "
                   f"{sc:>6.2f} {secs / len(rs):>9.2f} {lines / secs if secs else 0:>9.0f} "
                   f"{sum(1 for r in rs if r['error']):>6}")
        if m.startswith("engine"):
            if best is None or sc > best[1] + 1e-9:
                best = ([m], sc)
            elif abs(sc - best[1]) <= 1e-9:
                best[0].append(m)
    if best:
        tie = " (a tie)" if len(best[0]) > 1 else ""
        out.append(f"best engine input mix: {', '.join(best[0])}{tie}, score {best[1]:.2f}")
    kinds = sorted({r["kind"] for r in rows})
    out += ["", "By kind: score (cause hits / folders) per method"]
    out.append(f"{'kind':<22}" + "".join(f"{m:>18}" for m in methods))
    for k in kinds:
        cells = []
        for m in methods:
            rs = [r for r in rows if r["method"] == m and r["kind"] == k]
            cells.append(f"{_mean([r['score'] for r in rs]):.2f} ({int(sum(r['cause'] for r in rs))}/{len(rs)})"
                         if rs else "-")
        out.append(f"{k:<22}" + "".join(f"{c:>18}" for c in cells))
    return "\n".join(out)


def _child(folder: str, mode: str) -> None:
    """Run in a child process: triage one folder's logs and print a JSON line with the time taken."""
    logs = Path(folder) / LOGS
    files, metrics = log_files(logs)
    started = time.perf_counter()
    if mode == "engine:none":
        from detectors.incidents import triage

        t = triage(files, metrics=metrics)
    else:
        from detectors.incidents import triage_audit

        res, _ = _audit(files, "classical")
        t = triage_audit(res, metrics=metrics)
    secs = time.perf_counter() - started
    answer = read_answer(folder)
    marks = score(answer, from_triage(t), logs)
    print(json.dumps({"seconds": round(secs, 2), "incidents": len(t.incidents), "vmhwm_mb": _own_hwm_mb(), **marks}))


def _own_hwm_mb() -> float | None:
    """This process's peak resident memory since its exec (VmHWM; Linux only). Unlike the rusage the parent reads,
    it does not count the parent's memory that the forked child held before it exec'd (a bench parent of 170 MB
    made a 25k-line child read 170 MB)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


class _AnonPeak(threading.Thread):
    """The highest anonymous resident memory (RssAnon) of a running process, sampled from /proc every 20 ms.

    Peak RSS (ru_maxrss) also counts the pages of spilled columns' files that a pass touched (page cache the
    kernel reclaims at will); RssAnon is what the process must keep. Linux only (None elsewhere)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.path = f"/proc/{pid}/status"
        self.peak_kb = 0
        self.stop = False

    def run(self) -> None:
        while not self.stop:
            try:
                with open(self.path) as f:
                    for line in f:
                        if line.startswith("RssAnon:"):
                            self.peak_kb = max(self.peak_kb, int(line.split()[1]))
                            break
            except (OSError, ValueError):
                return
            time.sleep(0.02)


def scale_rows(out: Path, seed: int, sizes: Sequence[int], mode: str = "engine",
               progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Time the engine on folders of these sizes, each in a child process (its peak RSS is measured)."""
    rows = []
    for n in sizes:
        folder = out / f"scale-{n}"
        gen_s = 0.0
        if not (folder / ANSWER).is_file() or read_answer(folder).get("lines_target") != n:
            started = time.perf_counter()
            a = generate_incident(folder, kind="db_pool_exhaustion", seed=seed, lines=n, java=True, python=False)
            a["lines_target"] = n
            (folder / ANSWER).write_text(json.dumps(a, indent=1) + "\n")
            gen_s = time.perf_counter() - started
        answer = read_answer(folder)
        if progress:
            progress(f"scale: triage of {answer['total_lines']:,} lines ({len(answer['files'])} sources)…")
        proc = subprocess.Popen([sys.executable, "-m", "lab.incidents.bench", "--child", mode, str(folder)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sampler = _AnonPeak(proc.pid)
        sampler.start()
        # Read the pipes while the child runs (a full pipe would block it), then reap it for its rusage.
        out_chunks: list[str] = []
        err_chunks: list[str] = []
        readers = [threading.Thread(target=lambda f=f, acc=acc: acc.append(f.read()), daemon=True)
                   for f, acc in ((proc.stdout, out_chunks), (proc.stderr, err_chunks)) if f is not None]
        for r in readers:
            r.start()
        _, status, usage = os.wait4(proc.pid, 0)
        sampler.stop = True
        for r in readers:
            r.join()
        sampler.join()
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()
        stdout, stderr = "".join(out_chunks), "".join(err_chunks)
        proc.returncode = os.waitstatus_to_exitcode(status)
        row: dict[str, Any] = {"lines": answer["total_lines"], "sources": len(answer["files"]),
                               "generate_s": round(gen_s, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                               "peak_anon_mb": round(sampler.peak_kb / 1024, 1) if sampler.peak_kb else None,
                               "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "mode": mode}
        try:
            row.update(json.loads(stdout.strip().splitlines()[-1]))
            if row.get("vmhwm_mb"):  # the child's own peak, without its pre-exec copy of this process
                row["peak_rss_mb"] = row["vmhwm_mb"]
        except (ValueError, IndexError):
            row["error"] = (stderr.strip().splitlines() or ["no output"])[-1][:300]
        rows.append(row)
    return rows


def _mb(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}"


def scale_table(rows: Sequence[dict[str, Any]]) -> str:
    head = (f"{'lines':>10} {'sources':>7} {'triage s':>9} {'CPU s':>8} {'lines/s':>9} {'peak RSS MB':>12} "
            f"{'peak anon MB':>13} {'score':>6}")
    out = ["Scale (the audit path: audit classical + triage with metrics, in a child process; wall and CPU time of "
           "the child, which includes its imports; peak RSS counts the spill files' pages the kernel can reclaim, "
           "peak anon what the child must keep)", head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            out.append(f"{r['lines']:>10,} {r['sources']:>7} failed: {r['error']}")
            continue
        out.append(f"{r['lines']:>10,} {r['sources']:>7} {r['seconds']:>9.2f} {r.get('cpu_s', 0.0):>8.1f} "
                   f"{r['lines'] / max(r['seconds'], 1e-9):>9.0f} "
                   f"{r['peak_rss_mb']:>12.1f} {_mb(r.get('peak_anon_mb')):>13} {r['score']:>6.2f}")
    return "\n".join(out)


def bench_triage(n: int | None = None, seed: int = 0, out: str | Path | None = None, data: str | Path | None = None,
                 methods: Sequence[str] = DEFAULT_METHODS, scale: Sequence[int] = SCALE_LINES,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Generate (or read) incident folders, score every method on them, time the scale rows; return it all.

    Args:
        n: Folders to generate (default: two per kind). Ignored with `data`.
        seed: Seed of the generated folders.
        out: Where folders and `bench_triage.json` go (default: a temporary folder, removed afterwards).
        data: Score these existing folders instead (every folder under it with an answer.json).
        methods: Which methods to run (see METHODS).
        scale: Sizes of the scale rows (empty: none).
        progress: Called with one line per folder.

    Raises:
        ValueError: For an unknown method or a data folder without answer keys.
    """
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"unknown method(s) {', '.join(bad)}; choose from {', '.join(METHODS)}")
    tmp = None
    if out is None:
        tmp = tempfile.TemporaryDirectory(prefix="sleuth-bench-triage-")
        out = tmp.name
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)  # (with --data nothing else creates it before bench_triage.json)
    try:
        if data is not None:
            root = Path(data)
            keys = sorted(root.rglob(ANSWER)) if root.is_dir() else []
            keys = [k for k in keys if not k.parent.name.startswith("scale-")]
            if not keys:
                raise ValueError(f"{root}: no folder with an {ANSWER} under it; generate some with "
                                 "`sleuth generate --incidents N --out DIR`")
            folders = [(k.parent, read_answer(k.parent)) for k in keys]
        else:
            if progress:
                progress(f"generating {n if n is not None else 'two per kind of'} incident folders in {out} …")
            folders = generate_incidents(out, n, seed=seed)
        rows = score_folders(folders, methods, progress)
        srows = scale_rows(out, seed, scale, progress=progress) if scale else []
        result = {"methods": list(methods), "seed": seed, "folders": len(folders), "rows": rows, "scale": srows,
                  "table": tables(rows, methods), "scale_table": scale_table(srows) if srows else ""}
        if tmp is None:
            (out / "bench_triage.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
        return result
    finally:
        if tmp is not None:
            tmp.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m lab.incidents.bench` (the same as `sleuth bench triage`)."""
    ap = argparse.ArgumentParser(prog="sleuth bench triage", description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=None, help="folders to generate (default: two per kind)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="keep folders and bench_triage.json here")
    ap.add_argument("--data", default=None, help="score existing folders (with answer.json) instead")
    ap.add_argument("--methods", default=",".join(DEFAULT_METHODS), help=f"comma list of {', '.join(METHODS)}")
    ap.add_argument("--scale", default=",".join(str(s) for s in SCALE_LINES),
                    help="line counts of the scale rows, comma list ('' for none)")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "FOLDER"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        _child(a.child[1], a.child[0])
        return 0
    try:
        res = bench_triage(a.n, a.seed, a.out, a.data, [m for m in a.methods.split(",") if m],
                           [int(s) for s in a.scale.split(",") if s.strip()],
                           progress=lambda s: print(s, file=sys.stderr, flush=True))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(res["table"])
    if res["scale_table"]:
        print()
        print(res["scale_table"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

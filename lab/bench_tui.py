"""`sleuth bench tui`: seconds to first paint on a large generated log, peak RSS, and keypress-to-repaint latency
while the audit scores in the background.

Each measurement runs the real app, headless at 120×40, in a fresh child process (`python -m lab.bench_tui
--child ...`), so first paint includes interpreter start-up and imports, and RSS is the app's alone. A keypress's
latency is the time from pressing it until the screen has been refreshed after it was handled
(`App.call_after_refresh`). Goals (issue 5): first paint ≤ 2 s on a 1M-line log, ≤ 100 ms per keypress on 2 cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

GOAL_PAINT_S = 2.0
GOAL_KEY_MS = 100.0
KEYS_WHILE_SCORING = ["j"] * 15 + ["pagedown"] * 8 + ["pageup"] * 4 + ["G", "g", "k", "k", "l", "h"]
FILTER_KEYS = ["f", "e", "r", "r", "o", "r", "escape"]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


class PaintClock:
    """Records when the app last wrote a frame (wraps `App._display`, which every repaint goes through)."""

    def __init__(self, app: Any) -> None:
        self.frames: list[float] = []
        original = app._display

        def display(screen: Any, update: Any) -> None:
            original(screen, update)
            self.frames.append(time.perf_counter())

        app._display = display


async def _press_and_time(pilot: Any, key: str, clock: PaintClock | None = None) -> float:
    """Milliseconds from a key reaching the app (as the terminal driver posts it) until the next frame after the
    key was handled."""
    from textual import events

    app = pilot.app
    clock = clock or getattr(app, "_bench_clock", None) or PaintClock(app)
    app._bench_clock = clock
    handled = asyncio.Event()
    char = key if len(key) == 1 else None
    start = time.perf_counter()
    app.post_message(events.Key(key, char))
    app.call_later(handled.set)  # runs after the key's own handling, on the app's queue
    await asyncio.wait_for(handled.wait(), 30)
    t_handled = time.perf_counter()
    deadline = t_handled + 5
    while time.perf_counter() < deadline:
        if clock.frames and clock.frames[-1] >= t_handled:
            return (clock.frames[-1] - start) * 1000.0
        await asyncio.sleep(0.001)
    return (time.perf_counter() - start) * 1000.0


async def _child(log: str, out: str, audit_timeout: float) -> None:
    """Run the app on `log`, report first paint, key latencies during scoring, and RSS, as JSON to `out`."""
    t_start = float(os.environ.get("SLEUTH_BENCH_T0", time.time()))
    from tui.agent_bridge import EvidenceAgent
    from tui.app import TriageApp

    result: dict[str, Any] = {}
    app = TriageApp([log], agent=EvidenceAgent("benchmark"))
    async with app.run_test(size=(120, 40), headless=True) as pilot:
        while app.first_paint_s is None:
            await asyncio.sleep(0.005)
        result["first_paint_s"] = time.time() - t_start
        result["rss_first_paint_mb"] = _rss_mb()
        while app.model.total == 0 or app.audit_state == "indexing":
            await asyncio.sleep(0.01)
        result["indexed_s"] = time.time() - t_start
        result["lines"] = app.model.total
        latencies: list[float] = []
        scoring: list[bool] = []
        for key in KEYS_WHILE_SCORING:
            busy = app.result is None
            latencies.append(await _press_and_time(pilot, key))
            scoring.append(busy)
            await asyncio.sleep(0.05)  # a fast typist, not a paste
        result["key_ms_while_auditing"] = [ms for ms, busy in zip(latencies, scoring, strict=True) if busy]
        result["key_ms_idle"] = [ms for ms, busy in zip(latencies, scoring, strict=True) if not busy]
        filter_ms = []
        for key in FILTER_KEYS:
            filter_ms.append(await _press_and_time(pilot, key))
            await asyncio.sleep(0.05)
        result["filter_key_ms"] = filter_ms
        t_filter = time.perf_counter()
        await app.workers.wait_for_complete([w for w in app.workers if w.group == "filter"])
        result["filter_done_s"] = time.perf_counter() - t_filter
        deadline = time.time() + audit_timeout
        while app.result is None and app.audit_state != "audit failed" and time.time() < deadline:
            await asyncio.sleep(0.2)
        result["audit_state"] = app.audit_state
        result["audit_done_s"] = time.time() - t_start if app.result is not None else None
        if app.result is not None:
            await pilot.pause(0.2)
            result["key_ms_after_audit"] = [await _press_and_time(pilot, k) for k in ["n", "n", "N", "j", "pagedown"]]
        result["rss_peak_mb"] = _rss_mb()
        Path(out).write_text(json.dumps(result))
        os._exit(0)  # do not wait for workers or the audit's child process


def _ensure_log(lines: int, folder: Path, console: Console) -> Path:
    from lab.synth import generate_logs

    path = folder / f"bench-{lines}.log"
    if not path.exists():
        console.print(f"generating a {lines:,}-line incident log in {path} …")
        t = time.perf_counter()
        generate_logs(path, lines=lines, seed=1)
        console.print(f"  generated in {time.perf_counter() - t:.1f} s ({path.stat().st_size / 1e6:.0f} MB)")
    return path


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def run_bench(console: Console, *, lines: int = 1_000_000, workdir: Path | None = None,
              audit_timeout: float = 300.0) -> dict[str, Any]:
    """Run the benchmark and print a table.

    Args:
        console: Where the table goes.
        lines: Lines of the generated log.
        workdir: Where the log is generated (kept between runs); default: a folder under the temp dir.
        audit_timeout: Seconds to wait for the background audit to finish before reporting without it.

    Returns:
        The raw figures (also printed).
    """
    folder = workdir or Path(tempfile.gettempdir()) / "sleuth-bench-tui"
    folder.mkdir(parents=True, exist_ok=True)
    log = _ensure_log(lines, folder, console)
    out = folder / "result.json"
    out.unlink(missing_ok=True)
    from lab.paths import child_env

    env = {**child_env(), "SLEUTH_BENCH_T0": repr(time.time())}
    cmd = [sys.executable, "-m", "lab.bench_tui", "--child", str(log), str(out), str(audit_timeout)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=audit_timeout + 300, check=False)
    if not out.exists():
        console.print(f"[red]the benchmark app failed[/] (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        raise SystemExit(1)
    r = json.loads(out.read_text())
    busy = r["key_ms_while_auditing"]
    table = Table(title=f"sleuth bench tui — {r['lines']:,}-line log, 120×40 headless, {os.cpu_count()} CPUs")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("goal", justify="right")
    table.add_row("first paint (process start → first lines drawn)", f"{r['first_paint_s']:.2f} s", f"≤ {GOAL_PAINT_S:.0f} s")
    table.add_row("all lines indexed", f"{r['indexed_s']:.2f} s", "")
    table.add_row(f"keypress → repaint while auditing (n={len(busy)}) median / p95 / max",
                  f"{_pct(busy, .5):.0f} / {_pct(busy, .95):.0f} / {max(busy, default=float('nan')):.0f} ms",
                  f"≤ {GOAL_KEY_MS:.0f} ms")
    idle = r["key_ms_idle"] + r.get("key_ms_after_audit", [])
    if idle:
        table.add_row(f"keypress → repaint, audit done (n={len(idle)}) median / max",
                      f"{_pct(idle, .5):.0f} / {max(idle):.0f} ms", f"≤ {GOAL_KEY_MS:.0f} ms")
    fk = r["filter_key_ms"]
    table.add_row("typing a filter: keypress → repaint median / max", f"{_pct(fk, .5):.0f} / {max(fk):.0f} ms",
                  f"≤ {GOAL_KEY_MS:.0f} ms")
    table.add_row("filter 'error' over all lines: last key → result", f"{r['filter_done_s']:.2f} s", "")
    done = r["audit_done_s"]
    table.add_row("audit in the background (start → anomalies shown)",
                  f"{done:.1f} s" if done is not None else f"not done ({r['audit_state']})", "")
    table.add_row("peak RSS at first paint / overall", f"{r['rss_first_paint_mb']:.0f} / {r['rss_peak_mb']:.0f} MB", "")
    console.print(table)
    return r


def main(argv: list[str] | None = None) -> None:
    """`python -m lab.bench_tui [--lines N]`, or the child run (`--child LOG OUT TIMEOUT`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--child":
        asyncio.run(_child(args[1], args[2], float(args[3])))
        return
    lines = int(args[args.index("--lines") + 1]) if "--lines" in args else 1_000_000
    run_bench(Console(), lines=lines)


if __name__ == "__main__":
    main()

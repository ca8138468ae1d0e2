"""`sleuth pool add ...` / `sleuth pool show` / `sleuth pool tune`: build and extend the LogICL demo pool (argparse; the lead mounts it)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retrieval.pool import DemoPool

DEFAULT_POOL = Path("~/.local/share/sleuth/logicl/pool")
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pool_main(argv: Sequence[str] | None = None) -> int:
    """`sleuth pool add [PATH ...] [--system NAME] [--target] [--anomalous LINES] [--normal LINES]
    [--builtin bgl openstack logreduce] [--limit N] [--pool DIR]`, `sleuth pool show [--pool DIR]` and
    `sleuth pool tune [--pool DIR]`. Exit 0 on success, 2 on a usage error."""
    ap = argparse.ArgumentParser(prog="sleuth pool", description="The LogICL demonstration pool.")
    sub = ap.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add labelled samples (re-adding is a no-op; the index grows incrementally)")
    add.add_argument("paths", nargs="*", help="labelled log files whose format carries labels (e.g. BGL), or one "
                     "log of any format with --anomalous / --normal lines")
    add.add_argument("--system", default=None, help="system name of PATHs (default: from the first file name)")
    add.add_argument("--builtin", nargs="*", default=[], choices=["bgl", "openstack", "logreduce"],
                     help="labelled sets from ../shared/data")
    add.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder (for --builtin)")
    add.add_argument("--limit", type=int, default=None, help="at most this many demos per set (anomalies kept)")
    add.add_argument("--target", action="store_true", help="mark PATHs' samples as few shots of the target system")
    add.add_argument("--anomalous", default=None, metavar="LINES",
                     help="lines of PATH that are anomalous, e.g. 1405-1420,1502 (a log without labels of its own)")
    add.add_argument("--normal", default=None, metavar="LINES",
                     help="lines of PATH known to be normal, e.g. 1-400 (unmarked lines are left out)")
    tune = sub.add_parser("tune", help="choose the vote's settings by leave-one-system-out (done after every add)")
    tune.add_argument("--max-queries", type=int, default=400, help="held-out samples judged per system")
    for p in (add, sub.add_parser("show", help="counts by system and label"), tune):
        p.add_argument("--pool", type=Path, default=DEFAULT_POOL, help="pool folder")
        p.add_argument("--encoder", default="minilm", help="minilm | distilled:<checkpoint>")
    args = ap.parse_args(argv)

    from retrieval.embed import EncoderError, get_encoder
    from retrieval.index import IndexError_
    from retrieval.pool import (
        DemoPool,
        builtin_demos,
        labelled_file_demos,
        parse_line_ranges,
        pool_summary,
        sample_demos,
    )

    marks: dict[str, list[tuple[int, int]]] = {}
    if args.command == "add":
        for flag in ("anomalous", "normal"):
            spec = getattr(args, flag)
            if spec is None:
                continue
            try:
                marks[flag] = parse_line_ranges(spec)
            except ValueError as error:
                print(f"error: --{flag} {spec!r}: {error}", file=sys.stderr)
                return 2
        if marks and len(args.paths) != 1:
            print("error: --anomalous / --normal mark lines of one log: give exactly one PATH", file=sys.stderr)
            return 2

    try:
        pool = DemoPool(args.pool.expanduser(), get_encoder(args.encoder))
    except (EncoderError, IndexError_) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "show":
        print(json.dumps(pool_summary(pool), indent=1))
        return 0
    if args.command == "tune":
        if not len(pool):
            print(f"error: the pool at {args.pool} is empty: add demos first (`sleuth pool add --builtin ...`)",
                  file=sys.stderr)
            return 2
        _tune(pool, args.max_queries)
        return 0
    if not args.paths and not args.builtin:
        print("error: give labelled log PATHs or --builtin bgl openstack logreduce", file=sys.stderr)
        return 2
    added = 0
    for name in args.builtin:
        if not args.data.is_dir():
            print(f"error: data folder {args.data} not found (pass --data)", file=sys.stderr)
            return 2
        n = pool.add(builtin_demos(name, args.data, args.limit))
        print(f"{name}: {n} demos added")
        added += n
    if args.paths:
        missing = [p for p in args.paths if not Path(p).exists()]
        if missing:
            print(f"error: not found: {', '.join(missing)}", file=sys.stderr)
            return 2
        system = args.system or Path(args.paths[0]).name.split(".")[0].split("_")[0].lower()
        demos = sample_demos(labelled_file_demos(args.paths, system, **marks), args.limit)
        if args.target:
            for d in demos:
                d.target = True
        if not demos:
            why = ("no entry starts on the lines given by --anomalous / --normal" if marks else
                   "their format carries no labels: mark lines with --anomalous 1405-1420 --normal 1-400")
            print(f"error: no labelled lines in {', '.join(args.paths)} ({why})", file=sys.stderr)
            return 2
        if marks and "normal" not in marks:
            print("note: only anomalous lines were marked; lines like the ones you marked will be judged anomalous, "
                  "and nothing tells the vote what this system's normal lines look like (add --normal LINES)",
                  file=sys.stderr)
        n = pool.add(demos)
        print(f"{system}: {n} demos added")
        added += n
    summary = pool_summary(pool)
    print(f"pool {args.pool}: {summary['demos']} demos ({added} new), version {summary['version']}, "
          f"index {pool.index.kind}")
    if added or pool.vote_tuning() is None:
        _tune(pool)
    return 0


def _tune(pool: DemoPool, max_queries: int = 400) -> None:
    """Choose the vote's settings on the pool (no target label) and keep them beside it; say what was chosen."""
    import time

    from detectors.logicl import tune_vote

    started = time.perf_counter()
    tuning = tune_vote(pool, max_queries=max_queries)
    pool.save_vote_tuning(tuning.to_json())
    if not tuning.settings:
        print("vote settings: the defaults (choosing them needs two or more systems with both labels in the pool)")
        return
    chosen = ", ".join(f"{k}={v}" for k, v in tuning.settings.items())
    print(f"vote settings: {chosen} — mean F1 {tuning.mean_f1:.3f} when each of {', '.join(tuning.systems)} is "
          f"judged from the others ({tuning.queries} samples; the defaults get {tuning.default_f1:.3f}) "
          f"[{time.perf_counter() - started:.1f} s]")


if __name__ == "__main__":
    raise SystemExit(pool_main())

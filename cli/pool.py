"""`sleuth pool add|show|tune|build-default`: the LogICL demonstration pool (runtime: retrieval.pool and
retrieval.shipped; --builtin reads the lab's shared data sets; build-default rebuilds the shipped pool, lab code)."""

from __future__ import annotations

import json
import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import err, fail, lab, shared_data

if TYPE_CHECKING:
    from retrieval.pool import DemoPool

app = typer.Typer(no_args_is_help=True, help="The LogICL demonstration pool.")

POOL_HELP = "Pool folder (default: <data dir>/logicl/pool)."
ENCODER_HELP = "minilm | distilled:<checkpoint> | hash:<dim> (tests)."


class Shipped(str, Enum):
    extend = "extend"
    replace = "replace"


class Builtin(str, Enum):
    bgl = "bgl"
    openstack = "openstack"
    logreduce = "logreduce"


def _open(pool: Path | None, encoder: str) -> DemoPool:
    from detectors.logicl import default_pool_dir
    from retrieval.embed import EncoderError, get_encoder
    from retrieval.index import IndexError_
    from retrieval.pool import DemoPool

    try:
        return DemoPool((pool or default_pool_dir()).expanduser(), get_encoder(encoder))
    except (EncoderError, IndexError_) as error:
        raise fail(str(error)) from None


def tune_pool(pool: DemoPool, max_queries: int = 400) -> None:
    """Choose the vote's settings on the pool (no target label) and keep them beside it; say what was chosen."""
    from detectors.logicl import tune_vote

    started = time.perf_counter()
    tuning = tune_vote(pool, max_queries=max_queries)
    pool.save_vote_tuning(tuning.to_json())
    if not tuning.settings:
        print("vote settings: the defaults (choosing them needs two or more systems with both labels in the pool)")
        return
    chosen = ", ".join(f"{k}={v}" for k, v in tuning.settings.items())
    print(f"vote settings: {chosen} — mean window F1 {tuning.mean_f1:.3f} when each of {', '.join(tuning.systems)} "
          f"is judged from the others ({tuning.queries} samples; the defaults get {tuning.default_f1:.3f}); "
          f"{tuning.held_out_f1:.3f} with settings chosen without the judged system "
          f"[{time.perf_counter() - started:.1f} s]")


def tune_in_use(folder: Path | None, encoder: str) -> None:
    """When the user's pool extends the shipped one, choose the vote's settings for the two together as well."""
    from detectors.logicl import tune_vote
    from retrieval.shipped import ReadOnlyPool, ShippedPoolMissing, open_in_use

    try:
        pool = open_in_use(folder, encoder)
    except ShippedPoolMissing as error:
        err.print(f"note: {error}", highlight=False, soft_wrap=True)
        return
    if isinstance(pool, ReadOnlyPool) and "+" in pool.version:
        tuning = tune_vote(pool)
        pool.save_vote_tuning(tuning.to_json())
        print(f"with the shipped pool: vote {tuning.settings or 'defaults'}, window F1 {tuning.mean_f1:.3f} "
              f"(held-out system {tuning.held_out_f1:.3f})")


@app.command("add")
def add(
    paths: Annotated[list[Path] | None, typer.Argument(help="Labelled log files whose format carries labels (e.g. BGL), or one log of any format with --anomalous / --normal lines.")] = None,
    system: Annotated[str | None, typer.Option("--system", help="System name of PATHs (default: from the first file name).")] = None,
    target: Annotated[bool, typer.Option("--target", help="Mark PATHs' samples as few shots of the target system.")] = False,
    anomalous: Annotated[str | None, typer.Option("--anomalous", metavar="LINES", help="Lines of PATH that are anomalous, e.g. 1405-1420,1502 (a log without labels of its own).")] = None,
    normal: Annotated[str | None, typer.Option("--normal", metavar="LINES", help="Lines of PATH known to be normal, e.g. 1-400 (unmarked lines are left out).")] = None,
    builtin: Annotated[list[Builtin] | None, typer.Option("--builtin", help="A labelled set from the shared data folder (repeatable).")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="The shared data folder, for --builtin (default: $SLEUTH_SHARED_DATA, else ../shared/data beside the checkout).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many demos per set (anomalies kept).")] = None,
    pool: Annotated[Path | None, typer.Option("--pool", help=POOL_HELP)] = None,
    encoder: Annotated[str, typer.Option("--encoder", help=ENCODER_HELP)] = "minilm",
    shipped: Annotated[Shipped | None, typer.Option("--shipped", help="Whether your pool extends the pool shipped with sleuth (the default) or replaces it.")] = None,
) -> None:
    """Add labelled samples to your pool (re-adding is a no-op; the index grows incrementally), then re-tune the
    vote. Your pool extends the one shipped with sleuth unless you say `--shipped replace`."""
    from retrieval.pool import builtin_demos, labelled_file_demos, parse_line_ranges, pool_summary, sample_demos

    files = [str(p) for p in paths or ()]
    marks: dict[str, list[tuple[int, int]]] = {}
    for flag, spec in (("anomalous", anomalous), ("normal", normal)):
        if spec is None:
            continue
        try:
            marks[flag] = parse_line_ranges(spec)
        except ValueError as error:
            raise fail(f"--{flag} {spec!r}: {error}") from None
    if marks and len(files) != 1:
        raise fail("--anomalous / --normal mark lines of one log: give exactly one PATH")
    if not files and not builtin and shipped is None:
        raise fail("give labelled log PATHs or --builtin bgl --builtin openstack --builtin logreduce")
    missing = [p for p in files if not Path(p).exists()]
    if missing:
        raise fail(f"not found: {', '.join(missing)}")
    demo_pool = _open(pool, encoder)
    added = 0
    if builtin:
        root = shared_data(data)
        for name in builtin:
            n = demo_pool.add(builtin_demos(name.value, root, limit))
            print(f"{name.value}: {n} demos added")
            added += n
    if files:
        name = system or Path(files[0]).name.split(".")[0].split("_")[0].lower()
        demos = sample_demos(labelled_file_demos(files, name, **marks), limit)
        if target:
            for d in demos:
                d.target = True
        if not demos:
            why = ("no entry starts on the lines given by --anomalous / --normal" if marks else
                   "their format carries no labels: mark lines with --anomalous 1405-1420 --normal 1-400")
            raise fail(f"no labelled lines in {', '.join(files)} ({why})")
        if marks and "normal" not in marks:
            err.print("note: only anomalous lines were marked; lines like the ones you marked will be judged "
                      "anomalous, and nothing tells the vote what this system's normal lines look like "
                      "(add --normal LINES)", highlight=False, soft_wrap=True)
        n = demo_pool.add(demos)
        print(f"{name}: {n} demos added")
        added += n
    from retrieval.shipped import set_use_mode, use_mode

    if shipped is not None:
        set_use_mode(demo_pool.folder, shipped.value)
    summary = pool_summary(demo_pool)
    mode = use_mode(demo_pool.folder)
    print(f"pool {demo_pool.folder}: {summary['demos']} demos ({added} new), version {summary['version']}, "
          f"index {demo_pool.index.kind}; it {mode}s the shipped pool")
    if len(demo_pool) and (added or demo_pool.vote_tuning() is None):
        tune_pool(demo_pool)
    if len(demo_pool) and mode == "extend" and (added or shipped is not None):
        tune_in_use(demo_pool.folder, encoder)


@app.command("show")
def show(
    pool: Annotated[Path | None, typer.Option("--pool", help=POOL_HELP)] = None,
    encoder: Annotated[str, typer.Option("--encoder", help=ENCODER_HELP)] = "minilm",
) -> None:
    """Which pool audits use (yours, yours plus the shipped one, or the shipped one), its counts by system and label
    and its vote settings (JSON)."""
    from retrieval.pool import pool_summary
    from retrieval.shipped import ShippedPoolMissing, in_use, open_in_use, shipped_info

    try:
        used = open_in_use(pool, encoder)
    except ShippedPoolMissing as error:
        raise fail(str(error)) from None
    info = in_use(used, pool)
    own = _open(pool, encoder)
    out: dict[str, object] = {"in_use": info.kind, "description": info.describe()}
    out.update(pool_summary(own if len(own) else used))  # your pool's counts and vote, else the shipped one's
    tuning = used.vote_tuning()
    if tuning is not None:
        out["in_use_vote"] = {"settings": tuning.get("settings") or "defaults",
                              "window_f1_tuned": round(float(tuning.get("mean_f1", 0.0)), 3),
                              "window_f1_held_out_system": round(float(tuning.get("held_out_f1", 0.0)), 3),
                              "held_out": tuning.get("systems", [])}
    try:
        shipped = shipped_info()
        out["shipped"] = {"version": shipped.get("version"), "demos": shipped.get("demos"),
                          "built_by": shipped.get("built_by"), "sources": shipped.get("sources"),
                          "left_out": shipped.get("left_out")}
    except ShippedPoolMissing as error:
        out["shipped"] = str(error)
    print(json.dumps(out, indent=1))


@app.command("tune")
def tune(
    max_queries: Annotated[int, typer.Option("--max-queries", min=1, help="Held-out samples judged per system.")] = 400,
    pool: Annotated[Path | None, typer.Option("--pool", help=POOL_HELP)] = None,
    encoder: Annotated[str, typer.Option("--encoder", help=ENCODER_HELP)] = "minilm",
) -> None:
    """Choose the vote's settings (k_vote, tau, balance) by leave-one-system-out on the pool, with no label of the
    system you audit (`pool add` does it after every change)."""
    demo_pool = _open(pool, encoder)
    if not len(demo_pool):
        raise fail(f"the pool at {demo_pool.folder} is empty: add demos first (`sleuth pool add --builtin bgl`)")
    tune_pool(demo_pool, max_queries)


@app.command("build-default")
def build_default(
    out: Annotated[Path | None, typer.Option("--out", help="Where to write the pool (default: the package's retrieval/shipped_pool/).")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="The shared data folder, for the logreduce cases (default: $SLEUTH_SHARED_DATA, else ../shared/data beside the checkout).")] = None,
    incidents: Annotated[int, typer.Option("--incidents", min=0, help="Generated incident folders to take demos from.")] = 6,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated incidents and of the per-system draw.")] = 0,
    per_system: Annotated[int, typer.Option("--per-system", min=10, help="At most this many demos per system (anomalies first).")] = 500,
) -> None:
    """Rebuild the pool shipped with sleuth from sources that may be redistributed (the logreduce CI cases and
    generated incidents); its README lists each source's terms (lab code: needs a checkout)."""
    code = lab("logicl_pool").build_command(out, data, incidents=incidents, seed=seed, per_system=per_system)
    if code:
        raise typer.Exit(code)

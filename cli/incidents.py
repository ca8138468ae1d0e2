"""`sleuth bench triage` and `sleuth generate --incidents`: realistic incident folders with answer keys, and the
rubric that scores triage on them (lab code, imported lazily: the lab is not in the wheel)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import err, fail, lab

METHODS_HELP = ("Comma list of methods: level:first, level:frequent (the level rule), classical (the audit's top "
                "anomaly), engine (the audit path with metrics), engine:none (no detector scores), engine:nometrics, "
                "engine:icad (slow).")


def generate_incident_folders(n: int, out: Path, kind: str | None, seed: int, lines: int | None) -> None:
    """Write `n` incident folders under `out` (logs in NN-kind/logs/, the answer key in NN-kind/answer.json)."""
    gen = lab("incidents.gen")
    if kind is not None and kind not in gen.KINDS:
        raise fail(f"unknown --kind {kind!r}; choose one of: {', '.join(gen.KINDS)}")
    if n < 1:
        raise fail("--incidents must be at least 1")

    def progress(i: int, total: int, folder: Path) -> None:
        err.print(f"[{i}/{total}] {folder}", highlight=False)

    made = gen.generate_incidents(out, n, seed=seed, kind=kind, lines=lines, progress=progress)
    total = sum(int(a["total_lines"]) for _, a in made)
    err.print(f"wrote {len(made)} incident folder(s) in {out} ({total:,} lines); point sleuth at a folder's logs/ "
              f"(e.g. sleuth audit {made[0][0] / gen.LOGS} --metrics {made[0][0] / gen.LOGS / 'metrics.csv'}); "
              "each answer.json is the key", highlight=False)


def bench_triage(
    n: Annotated[int | None, typer.Option("--n", min=1, help="Folders to generate (default: two per kind).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated folders (same seed, same folders).")] = 0,
    out: Annotated[Path | None, typer.Option("--out", help="Keep the folders and bench_triage.json here "
                                                            "(default: a temporary folder).")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Score these existing folders (each with an "
                                                              "answer.json) instead of generating.")] = None,
    methods: Annotated[str, typer.Option("--methods", help=METHODS_HELP)] =
        "level:first,level:frequent,classical,engine,engine:none,engine:nometrics",
    scale: Annotated[str, typer.Option("--scale", help="Line counts of the scale rows, comma list; '' for none.")] =
        "25000,1000000",
) -> None:
    """Score incident triage on generated incident folders (cause named, chain cited, red herring not blamed, onset
    within 5 min), with the level rule and the classical ranking as baselines in the same run, the engine fed by each
    detector mix, and scale rows (time and peak RSS on 25k and 1M lines)."""
    bench = lab("incidents.bench")
    try:
        sizes = [int(s) for s in scale.split(",") if s.strip()]
    except ValueError:
        raise fail(f"--scale {scale!r}: give line counts separated by commas, e.g. 25000,1000000") from None
    try:
        res = bench.bench_triage(n, seed, out, data, [m.strip() for m in methods.split(",") if m.strip()], sizes,
                                 progress=lambda s: err.print(s, highlight=False))
    except (ValueError, FileNotFoundError) as error:
        raise fail(str(error)) from None
    print(res["table"])
    if res["scale_table"]:
        print()
        print(res["scale_table"])

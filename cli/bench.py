"""`sleuth bench ...`: quality and speed, with baselines in the same run. Every command runs lab code (imported
lazily; the lab is not in the wheel)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cli import incidents
from cli.common import fail, lab, settings, shared_data, wide_console

app = typer.Typer(no_args_is_help=True, help="Benchmarks: quality and speed, with baselines in the same run.")

DATA_HELP = "The shared data folder (default: $SLEUTH_SHARED_DATA, else ../shared/data beside the checkout)."


class ScoreMode(str, Enum):
    auto = "auto"
    combined = "combined"
    delta = "delta"
    residual = "residual"


class IcadSection(str, Enum):
    logs = "logs"
    loghub = "loghub"
    logreduce = "logreduce"
    smd = "smd"
    nab = "nab"
    tables = "tables"
    ablations = "ablations"
    speed = "speed"


class Direction(str, Enum):
    bgl2openstack = "bgl2openstack"
    openstack2bgl = "openstack2bgl"


@app.command("logs")
def bench_logs(
    data: Annotated[Path | None, typer.Option("--data", help=DATA_HELP)] = None,
    fit_fraction: Annotated[float, typer.Option("--fit-fraction", help="Earliest fraction of BGL_20k to fit on.")] = 0.5,
    parts: Annotated[str, typer.Option("--parts", help="Comma-separated parts to run: bgl (BGL_20k detectors), diff (failed run vs good run on the logreduce cases with the kNN baseline, and the diff on splits of the Loghub samples), quiet (13 Loghub samples audited with no flags).")] = "bgl,diff,quiet",
) -> None:
    """Log detectors: BGL_20k (time-ordered split), failed vs good run (--baseline), quiet on logs with no incident."""
    bench = lab("bench")
    chosen = tuple(p.strip() for p in parts.split(",") if p.strip())
    if not chosen or set(chosen) - set(bench.LOG_PARTS):
        raise fail(f"--parts {parts!r}: choose from {','.join(bench.LOG_PARTS)}")
    bench.bench_logs(wide_console(), data=shared_data(data), fit_fraction=fit_fraction, parts=chosen)


@app.command("ingest")
def bench_ingest(
    lines: Annotated[int, typer.Option("--lines", help="Lines of the generated file.")] = 1_000_000,
    data: Annotated[Path | None, typer.Option("--data", help=DATA_HELP)] = None,
) -> None:
    """Lines/s and peak RSS for read → template → window → score, with plain Drain3 as the baseline."""
    lab("bench").bench_ingest(wide_console(), lines=lines, data=shared_data(data))


@app.command("icad")
def bench_icad(
    quick: Annotated[bool, typer.Option("--quick", help="Subsample (1 SMD machine, every third NAB series, 4 Loghub systems, smaller tables, fewer ablations): a few minutes on 2 cores.")] = False,
    only: Annotated[list[IcadSection] | None, typer.Option("--only", help="Run only this section (repeatable).")] = None,
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", help="Checkpoint folder (default: the shipped one).")] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Target false-alarm rate of the label-free thresholds (ICAD and baselines alike).")] = 0.01,
    score: Annotated[ScoreMode, typer.Option("--score", help="The detector's score mode.")] = ScoreMode.auto,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the rows as JSON here.")] = None,
    data: Annotated[Path | None, typer.Option("--data", help=DATA_HELP)] = None,
) -> None:
    """ICAD-LLM quality and speed vs Isolation Forest / rule baselines, on the same splits."""
    lab("icad.bench").run_bench(shared_data(data), checkpoint, quick, alpha, out,
                                tuple(s.value for s in only or ()), score.value)


@app.command("logicl")
def bench_logicl(
    quick: Annotated[bool, typer.Option("--quick", help="Fewer test samples and LLM calls (smoke run).")] = False,
    direction: Annotated[list[Direction] | None, typer.Option("--direction", help="Only this direction (repeatable; default both).")] = None,
    shots: Annotated[list[int] | None, typer.Option("--shots", help="Target-system shots k (repeatable; default 0, 5 and 20).")] = None,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="Only the rule, ICAD and the non-LLM vote rows.")] = False,
    no_icad: Annotated[bool, typer.Option("--no-icad", help="Skip the ICAD detector's row on the BGL target.")] = False,
    llm_samples: Annotated[int | None, typer.Option("--llm-samples", help="Test samples sent to the LLM per row.")] = None,
    json_calls: Annotated[int | None, typer.Option("--json-calls", help="Schema-constrained calls priced for the cost row.")] = None,
    threads: Annotated[int, typer.Option("--threads", help="CPU threads for the local model.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Few-shot draw, OpenStack split, logreduce subsample, LLM subset.")] = 0,
    out: Annotated[Path | None, typer.Option("--out", help="Write the JSON result here.")] = None,
    llm_url: Annotated[str | None, typer.Option("--llm-url", help="An OpenAI-compatible server (vLLM) for the LLM rows, e.g. http://127.0.0.1:8000/v1 (default: SmolLM2 on this machine).")] = None,
    llm_model: Annotated[str | None, typer.Option("--llm-model", help="The served model name (default: the server's only model).")] = None,
    data: Annotated[Path | None, typer.Option("--data", help=DATA_HELP)] = None,
    loghub: Annotated[bool | None, typer.Option("--loghub/--no-loghub", help="Audit the 13 Loghub 2k samples (share of windows flagged) and BGL_20k (window F1) with --detector logicl (default: on, off with --quick).")] = None,
) -> None:
    """Cross-system LogICL (BGL<->OpenStack, k in {0,5,20} target shots) with baselines and cost."""
    raise typer.Exit(lab("logicl_bench").bench_command(
        quick=quick, directions=tuple(d.value for d in direction or ()), shots=tuple(shots or (0, 5, 20)),
        no_llm=no_llm, no_icad=no_icad, llm_samples=llm_samples, json_calls=json_calls, threads=threads, seed=seed,
        data=shared_data(data), out=out, llm_url=llm_url, llm_model=llm_model, loghub=loghub))


@app.command("calm")
def bench_calm(
    data: Annotated[Path | None, typer.Option("--data", help=DATA_HELP)] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N series (smoke run).")] = None,
    parts: Annotated[str, typer.Option("--parts", help="quality,judge,throughput,latency")] = "quality,judge,throughput,latency",
    no_embedded: Annotated[bool, typer.Option("--no-embedded", help="Skip the SmolLM2 judge.")] = False,
    judge_cases: Annotated[int, typer.Option("--judge-cases", min=1, help="Size of the generated judge set.")] = 60,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write every figure here.")] = None,
) -> None:
    """CALM: ROC-AUC static vs adaptive (+ Beam's robust-z / IQR baselines), judge accuracy, throughput, adaptation latency."""
    known = ("quality", "judge", "throughput", "latency")
    chosen = [p.strip() for p in parts.split(",") if p.strip()]
    if not chosen or any(p not in known for p in chosen):
        raise fail(f"--parts {parts!r}: choose from {','.join(known)}")
    result = lab("calm.bench").run_bench(wide_console(), data=shared_data(data), limit=limit, parts=chosen, llms=[],
                                         embedded=not no_embedded, judge_cases_n=judge_cases)
    if json_out is not None:
        import json

        json_out.write_text(json.dumps(result, indent=2, default=str))


@app.command("agent")
def bench_agent(
    incidents: Annotated[int, typer.Option("--incidents", min=1, help="Incidents to generate (kinds in turn).")] = 3,
    folder: Annotated[Path | None, typer.Option("--folder", help="Incident folders already generated (each with answer.json); default: generate them.")] = None,
    lines: Annotated[int, typer.Option("--lines", min=1000, help="About how many lines each generated incident holds.")] = 8000,
    seed: Annotated[int, typer.Option("--seed", help="Generator seed.")] = 0,
    no_embedded: Annotated[bool, typer.Option("--no-embedded", help="Skip the embedded model's rows (only --llm none, and --llm-url if given).")] = False,
    llm_url: Annotated[str | None, typer.Option("--llm-url", help="Also run a served model (any OpenAI-compatible server).")] = None,
    model: Annotated[str | None, typer.Option("--model", help="The served model's name (default: the server's only model).")] = None,
) -> None:
    """On-call questions on generated incidents (what happened, root cause, onset, HOST around TIME, is the red
    herring related, lines around the cause, which host first, what changed, a host not in the logs, an injected
    instruction): correct / partial / wrong per question kind, citations valid / total, markup leaks, invalid tool
    calls run, latency; with --llm none, the embedded model, and a served model when --llm-url is given."""
    lab("bench_agent").bench_agent(incidents, settings=settings({"llm_url": None}), folder=folder, seed=seed,
                                   lines=lines, embedded=not no_embedded, llm_url=llm_url, model=model)


@app.command("tui")
def bench_tui(
    lines: Annotated[int, typer.Option("--lines", help="Lines of the generated log.")] = 1_000_000,
) -> None:
    """Seconds to first paint, peak RSS and keypress-to-repaint latency while the audit scores in the background."""
    lab("bench_tui").run_bench(Console(), lines=lines)


@app.command("hostile")
def bench_hostile(
    quick: Annotated[bool, typer.Option("--quick", help="Smaller sizes, no audit of the 10 MB files.")] = False,
) -> None:
    """Hostile input: regex scaling on adversarial runs, one line up to 1 MB templated, 10 MB-line files audited."""
    print(lab("bench_hostile").run(quick=quick))


app.command("triage")(incidents.bench_triage)  # sleuth bench triage (cli/incidents.py)

"""The `sleuth` command line: audit logs, generate a demo incident, run benchmarks.

Settings resolve once here (defaults → environment → flags) and are passed down; nothing below reads the
environment. Errors the user can fix print one line and exit 2; `audit` exits 1 when it finds anomalies at or above
`--fail-on`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="sleuth: find, rank and explain anomalies in logs and metrics.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks: quality and speed, with baselines in the same run.")
app.add_typer(bench_app, name="bench")
train_app = typer.Typer(no_args_is_help=True, help="Train the embedded models (CPU is enough; the shipped checkpoints came from these).")
app.add_typer(train_app, name="train")

err = Console(stderr=True)


class Format(str, Enum):
    md = "md"
    json = "json"
    html = "html"


class Runner(str, Enum):
    direct = "direct"
    prism = "prism"
    flink = "flink"
    dataflow = "dataflow"


class FailOn(str, Enum):
    low = "low"
    medium = "medium"
    high = "high"
    never = "never"


def _settings(flags: dict[str, Any]) -> Any:
    """The resolved settings (defaults → ~/.config/sleuth/config.toml → SLEUTH_* environment → these flags)."""
    from agent import ConfigError, load_settings

    try:
        return load_settings(flags=flags)
    except ConfigError as error:
        raise fail(str(error)) from None


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `Error: message` on stderr and return the Exit to raise."""
    err.print(f"[bold red]Error:[/] {message}", highlight=False)
    return typer.Exit(code)


class RichHook:
    """Maps the pipeline's progress hook onto Rich progress bars (on stderr, so stdout stays clean)."""

    LABELS = {"read": "reading", "score": "scoring windows", "explain": "collecting evidence"}

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, advance: float, total: float | None) -> None:
        task = self.tasks.get(stage)
        if task is None:
            task = self.tasks[stage] = self.progress.add_task(self.LABELS.get(stage, stage), total=total)
        elif total is not None:
            self.progress.update(task, total=total)
        if advance:
            self.progress.advance(task, advance)


def progress_bar() -> Progress:
    """A Rich progress display on stderr; invisible when stderr is not a terminal."""
    return Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), TaskProgressColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal)


def parse_options(items: Sequence[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` items -> keyword options (ints, floats, true/false and none are converted)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise fail(f"--set {item!r}: expected KEY=VALUE, e.g. --set score=delta")
        value: Any = raw
        low = raw.strip().lower()
        if low in ("true", "false"):
            value = low == "true"
        elif low == "none":
            value = None
        else:
            for conv in (int, float):
                try:
                    value = conv(raw)
                    break
                except ValueError:
                    pass
        out[key.strip().replace("-", "_")] = value
    return out


@app.command()
def audit(
    paths: Annotated[list[str], typer.Argument(help="Log files, .gz files, directories, or - for stdin.")],
    format: Annotated[Format, typer.Option("--format", "-f", help="Report format.")] = Format.md,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the report to this file.")] = None,
    fail_on: Annotated[FailOn, typer.Option("--fail-on", help="Exit 1 if an anomaly is at least this severe.")] = FailOn.low,
    window: Annotated[str, typer.Option("--window", "-w", help="count:SIZE[:STEP], time:SPAN[:STEP] or session:REGEX.")] = "count:20:10",
    detector: Annotated[str, typer.Option("--detector", "-d", help="Detector name.")] = "classical",
    include: Annotated[list[str] | None, typer.Option("--include", help="Glob of files to read in directories (repeatable).")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Glob of files to skip in directories (repeatable).")] = None,
    baseline: Annotated[list[str] | None, typer.Option("--baseline", help="Logs of normal operation to fit on (repeatable).")] = None,
    fit_fraction: Annotated[float | None, typer.Option("--fit-fraction", min=0.05, max=0.95, help="Fit on the earliest fraction of the windows (time-ordered) instead of all of them; e.g. 0.5 when the trouble is recent.")] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Anomalies to show.")] = 20,
    context: Annotated[int, typer.Option("--context", min=0, help="Lines of context around each anomaly.")] = 3,
    system: Annotated[str | None, typer.Option("--system", help="Name of the template state to reuse (default: from the file name).")] = None,
    no_state: Annotated[bool, typer.Option("--no-state", help="Do not load or save template state.")] = False,
    llm_url: Annotated[str | None, typer.Option("--llm-url", help="OpenAI-compatible server (vLLM), e.g. http://gpu:8000/v1; default: the embedded model.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model name served by vLLM, or a GGUF path for the embedded engine.")] = None,
    no_explain: Annotated[bool, typer.Option("--no-explain", help="Skip the model's explanation; report the detectors' verdicts only.")] = False,
    no_redact: Annotated[bool, typer.Option("--no-redact", help="Send log text to a remote --llm-url without masking secrets.")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Detector option KEY=VALUE, e.g. --set score=delta for icad (repeatable).")] = None,
) -> None:
    """Audit logs: rank anomalies with their evidence (file:line, template, score, threshold, why, context) and
    explain the top ones with the configured model (the embedded one by default)."""
    from detectors.base import DetectorError
    from detectors.pipeline import AuditOptions
    from detectors.pipeline import audit as run_audit
    from detectors.render import print_report, render_html, render_json, render_markdown

    settings = _settings({"llm_url": llm_url, "model": model, "explain": False if no_explain else None,
                          "redact": False if no_redact else None})
    options = AuditOptions(detector=detector, window=window, include=tuple(include or ()), exclude=tuple(exclude or ()),
                           baseline=tuple(baseline or ()), top=top, context=context,
                           state_dir=None if no_state else settings.data_dir, system=system,
                           detector_options=parse_options(set_ or ()), fit_fraction=fit_fraction)
    if "-" in paths and sys.stdin.isatty():
        err.print("reading log lines from standard input (end with Ctrl-D)…")
    try:
        with progress_bar() as bar:
            result = run_audit(paths, options, progress=RichHook(bar), stdin=sys.stdin.buffer)
    except DetectorError as error:
        raise fail(str(error)) from None
    report = result.report
    for skip in report.skipped[:20]:
        err.print(f"[yellow]skipped:[/] {skip.message}", highlight=False)
    if len(report.skipped) > 20:
        err.print(f"[yellow]… and {len(report.skipped) - 20} more skipped (see the report's skipped section)[/]")
    if report.totals.events == 0:
        raise fail("no log lines could be read from " + ", ".join(paths) + "; see the messages above")

    from agent.cli_support import explain_audit

    if settings.explain and report.anomalies:
        err.print(f"explaining the top anomalies with the {settings.backend} model…")
        report = explain_audit(result, paths, settings)  # "explanation unavailable: …" when the model fails

    text = {Format.md: render_markdown, Format.json: render_json, Format.html: render_html}[format](report)
    if out is not None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
        except OSError as error:
            raise fail(f"cannot write the report to {str(out)!r}: {error.strerror or error}; choose another --out") from None
        err.print(f"report written to {out} ({len(report.anomalies)} anomalies shown)")
    elif format is Format.md:
        print_report(report, Console())
    else:
        sys.stdout.write(text + ("\n" if not text.endswith("\n") else ""))

    from detectors.base import SEVERITIES

    if fail_on is not FailOn.never and SEVERITIES.index(report.worst_severity()) >= SEVERITIES.index(fail_on.value):
        raise typer.Exit(1)


@app.command()
def generate(
    out: Annotated[Path, typer.Argument(help="File to write the synthetic log to.")],
    lines: Annotated[int, typer.Option("--lines", "-n", min=1000, help="Number of lines (an incident needs 1000).")] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same bytes).")] = 0,
    fmt: Annotated[str, typer.Option("--fmt", help="iso, syslog or jsonl.")] = "iso",
    metrics: Annotated[Path | None, typer.Option("--metrics", help="Also write a metrics CSV here.")] = None,
) -> None:
    """Write a realistic synthetic log with an injected incident (and its labels beside it, as OUT.truth.json)."""
    from lab.synth import generate_logs, generate_metrics, write_truth

    if fmt not in ("iso", "syslog", "jsonl"):
        raise fail(f"unknown --fmt {fmt!r}; choose iso, syslog or jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    truth = generate_logs(out, lines=lines, seed=seed, fmt=fmt)
    write_truth(truth, str(out) + ".truth.json")
    err.print(f"wrote {out}: {truth.lines} lines, {len(truth.anomalous_lines)} injected incident lines "
              f"({', '.join(i.kind for i in truth.incidents)})")
    if metrics is not None:
        path, labels = generate_metrics(metrics, seed=seed)
        err.print(f"wrote {path}: series {', '.join(labels)}")


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option("--dir", help="Where to write the sample incident log.")] = Path("sleuth-demo"),
    lines: Annotated[int, typer.Option("--lines", "-n", min=1000, help="Lines in the sample log.")] = 20_000,
) -> None:
    """Generate a sample incident log, audit it, print the report and how much of the incident it found."""
    from detectors.pipeline import AuditOptions
    from detectors.pipeline import audit as run_audit
    from detectors.render import print_report
    from lab.synth import generate_logs, write_truth

    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "incident.log"
    truth = generate_logs(log, lines=lines, seed=7)
    write_truth(truth, str(log) + ".truth.json")
    err.print(f"generated {log} ({truth.lines} lines; incident: {', '.join(i.kind for i in truth.incidents)})")
    with progress_bar() as bar:
        result = run_audit([str(log)], AuditOptions(state_dir=None), progress=RichHook(bar))
    settings = _settings({})
    report = result.report
    if settings.explain:
        from agent.cli_support import explain_audit

        err.print(f"explaining the top anomalies with the {settings.backend} model…")
        report = explain_audit(result, [str(log)], settings)
    print_report(report, Console())
    found = {a.line for a in result.report.anomalies} & truth.anomalous_lines
    flagged = int((result.line_scores >= result.detector.threshold).sum())
    err.print(f"\n{len(found)} of the {len(result.report.anomalies)} anomalies shown are injected incident lines; "
              f"{flagged} lines lie in anomalous windows.")


@app.command()
def triage(
    paths: Annotated[list[str], typer.Argument(help="Log files, .gz files or directories.")],
    metrics: Annotated[list[Path] | None, typer.Option("--metrics", help="Metric CSV (timestamp,value[,series]) to chart (repeatable).")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-F", help="Tail the files: new lines appear as they are written.")] = False,
    session: Annotated[str | None, typer.Option("--session", "-s", help="Save the agent conversation under this name; reopen it next time.")] = None,
    window: Annotated[str, typer.Option("--window", "-w", help="count:SIZE[:STEP], time:SPAN[:STEP] or session:REGEX.")] = "count:20:10",
    detector: Annotated[str, typer.Option("--detector", "-d", help="Detector name.")] = "classical",
    llm_url: Annotated[str | None, typer.Option("--llm-url", help="OpenAI-compatible server (vLLM); default: the embedded model.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Served model name, or a GGUF path for the embedded engine.")] = None,
    no_redact: Annotated[bool, typer.Option("--no-redact", help="Do not mask secrets before they go to a remote server.")] = False,
) -> None:
    """Open the terminal dashboard: logs merged by time, anomalies, evidence, metrics and the agent."""
    from agent import SessionError
    from agent.sessions import check_name
    from detectors.pipeline import AuditOptions
    from tui.app import run_triage

    if "-" in paths:
        raise fail("triage reads files, not standard input (the terminal is the UI); save the stream to a file first")
    missing = [p for p in [*paths, *(str(m) for m in metrics or [])] if not Path(p).exists()]
    if missing:
        raise fail(f"{missing[0]!r} does not exist; give log files or directories (and metric CSV files)")
    if session is not None:
        try:
            check_name(session)
        except SessionError as error:
            raise fail(str(error)) from None
    settings = _settings({"llm_url": llm_url, "model": model, "redact": False if no_redact else None})
    options = AuditOptions(detector=detector, window=window, state_dir=None)
    run_triage(paths, [str(m) for m in metrics or []], follow, session, audit_options=options, settings=settings)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def watch(
    ctx: typer.Context,
    sources: Annotated[list[str], typer.Argument(help="CSV / JSON-lines files (timestamp,value[,series]), directories, or - for stdin.")],
    runner: Annotated[Runner, typer.Option("--runner", help="Beam runner; extra --flags after the sources go to Beam.")] = Runner.direct,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep reading lines appended to the files (streaming).")] = False,
    out: Annotated[str | None, typer.Option("--out", help="Write JSON-lines events here (default stdout).")] = None,
    model_dir: Annotated[Path | None, typer.Option("--model-dir", help="CALM model versions (default <data dir>/calm/models).")] = None,
    judge: Annotated[str, typer.Option("--judge", help="rule (default) or embedded (SmolLM2 via llama.cpp).")] = "rule",
    lateness: Annotated[float, typer.Option("--allowed-lateness", help="Seconds a point may arrive late and still be re-ordered.")] = 0.0,
    keep_batch: Annotated[int, typer.Option("--keep-batch", help="KEEP segments per fine-tune.")] = 3,
    no_adapt: Annotated[bool, typer.Option("--no-adapt", help="Never fine-tune.")] = False,
    points: Annotated[bool, typer.Option("--points", help="Also emit every scored point with its band (for charts).")] = False,
    stop_after: Annotated[float | None, typer.Option("--stop-after", help="With --follow: stop after this many seconds.")] = None,
) -> None:
    """Stream metrics through CALM: forecast bands, anomalies, KEEP/REMOVE judgments, live model updates."""
    from detectors.calm.pipeline import watch_main

    settings = _settings({})
    raise typer.Exit(watch_main(
        sources, runner=runner.value, model_dir=model_dir or settings.data_dir / "calm" / "models", follow=follow,
        out=out, judge=judge, allowed_lateness_s=lateness, keep_batch=keep_batch, adapt=not no_adapt,
        emit_points=points, stop_after_s=stop_after, beam_args=list(ctx.args),
    ))


@train_app.command("calm")
def train_calm(
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs.")] = 6,
    out: Annotated[Path | None, typer.Option("--out", help="Checkpoint file (default: the shipped one).")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Path of ../shared/data.")] = None,
) -> None:
    """Train CALM's patch quantile forecaster on NAB + SMD (label-free; about 3 minutes on one core)."""
    from lab.calm.train import main as train_main

    args = ["--epochs", str(epochs), "--data", str(_shared(data))] + (["--out", str(out)] if out else [])
    raise typer.Exit(train_main(args))


@bench_app.command("calm")
def bench_calm(
    data: Annotated[Path | None, typer.Option("--data", help="Path of ../shared/data.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N series (smoke run).")] = None,
    parts: Annotated[str, typer.Option("--parts", help="quality,judge,throughput,latency")] = "quality,judge,throughput,latency",
    no_embedded: Annotated[bool, typer.Option("--no-embedded", help="Skip the SmolLM2 judge.")] = False,
) -> None:
    """CALM: ROC-AUC static vs adaptive (+ Beam's robust-z / IQR baselines), judge accuracy, throughput, adaptation latency."""
    from lab.calm.bench import run_bench

    run_bench(Console(width=max(Console().width, 150)), data=_shared(data), limit=limit, parts=parts.split(","),
              llms=[], embedded=not no_embedded)


@app.command()
def chat(
    paths: Annotated[list[str] | None, typer.Argument(help="Logs to audit first (a resumed session keeps its own).")] = None,
    session: Annotated[str | None, typer.Option("--session", "-s", help="Save and resume the conversation under this name.")] = None,
    llm_url: Annotated[str | None, typer.Option("--llm-url", help="OpenAI-compatible server (vLLM); default: the embedded model.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Served model name, or a GGUF path for the embedded engine.")] = None,
    no_redact: Annotated[bool, typer.Option("--no-redact", help="Do not mask secrets before they go to a remote server.")] = False,
) -> None:
    """Ask about your logs; answers stream and cite evidence. Log text never decides which tools run."""
    from agent import SessionError
    from agent.cli_support import chat_loop

    settings = _settings({"llm_url": llm_url, "model": model, "redact": False if no_redact else None})
    try:
        code = chat_loop(settings, session, paths=paths or [])
    except SessionError as error:
        raise fail(str(error)) from None
    raise typer.Exit(code)


@app.command()
def sessions() -> None:
    """List saved chat sessions, most recent first."""
    from agent.cli_support import list_sessions

    list_sessions(_settings({}))


@app.command("serve-llm")
def serve_llm(
    model: Annotated[str, typer.Argument(help="Hugging Face model to serve, e.g. Qwen/Qwen2.5-7B-Instruct.")] = "Qwen/Qwen2.5-7B-Instruct",
    port: Annotated[int, typer.Option("--port", help="Port to serve on.")] = 8000,
    max_model_len: Annotated[int, typer.Option("--max-model-len", help="Context length.")] = 8192,
    gpu_memory_utilization: Annotated[float, typer.Option("--gpu-memory-utilization", help="Fraction of GPU memory for vLLM.")] = 0.90,
    print_only: Annotated[bool, typer.Option("--print-only", help="Print the command without running it.")] = False,
) -> None:
    """Print (and, where vllm is installed, run) the recommended `vllm serve` command for the agent."""
    from agent.cli_support import serve_llm_command

    raise typer.Exit(serve_llm_command(model, run=not print_only, port=port, max_model_len=max_model_len,
                                       gpu_memory_utilization=gpu_memory_utilization))


@bench_app.command("agent")
def bench_agent_cmd(
    lines: Annotated[int, typer.Option("--lines", help="Lines of the generated incident log.")] = 20_000,
) -> None:
    """Seconds from a generated log to an explained report on the embedded model; tokens/s; citations resolved/total."""
    from lab.bench_agent import bench_agent

    bench_agent(lines, settings=_settings({"llm_url": None}))


@bench_app.command("tui")
def bench_tui(
    lines: Annotated[int, typer.Option("--lines", help="Lines of the generated log.")] = 1_000_000,
) -> None:
    """Seconds to first paint, peak RSS and keypress-to-repaint latency while the audit scores in the background."""
    from lab.bench_tui import run_bench

    run_bench(Console(), lines=lines)


pool_app = typer.Typer(help="The LogICL demonstration pool.")
app.add_typer(pool_app, name="pool")

@pool_app.command("add", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def pool_add(ctx: typer.Context) -> None:
    """Add labelled samples to the LogICL pool: `sleuth pool add [PATH ...] [--system NAME] [--target]
    [--anomalous LINES] [--normal LINES] [--builtin bgl openstack logreduce] [--limit N] [--pool DIR]
    [--encoder minilm|distilled:NAME]`."""
    from lab.pool_cli import pool_main
    raise typer.Exit(pool_main(["add", *ctx.args]))


@pool_app.command("tune", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def pool_tune(ctx: typer.Context) -> None:
    """Choose the vote's settings (k_vote, tau, balance) by leave-one-system-out on the pool, with no label of
    the system you audit; `pool add` does it after every change: `sleuth pool tune [--pool DIR] [--max-queries N]`."""
    from lab.pool_cli import pool_main
    raise typer.Exit(pool_main(["tune", *ctx.args]))


@pool_app.command("show", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def pool_show(ctx: typer.Context) -> None:
    """Counts of the LogICL pool by system and label."""
    from lab.pool_cli import pool_main
    raise typer.Exit(pool_main(["show", *ctx.args]))

@train_app.command("logicl", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train_logicl(ctx: typer.Context) -> None:
    """Distil SmolLM2's demonstration preferences into the retrieval encoder
    (`[--direction bgl2openstack|openstack2bgl|both] [--queries N] [--m N] [--steps N] [--from-deltas] [--data DIR]`)."""
    from lab.logicl_bench import train_main
    raise typer.Exit(train_main(ctx.args))

@bench_app.command("logicl", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench_logicl(ctx: typer.Context) -> None:
    """Cross-system LogICL (BGL<->OpenStack, k in {0,5,20} target shots) with baselines and cost
    (`[--quick] [--direction NAME] [--no-llm] [--llm-samples N] [--json-calls N] [--seed N] [--out FILE]`)."""
    from lab.logicl_bench import bench_main
    raise typer.Exit(bench_main(ctx.args))


@train_app.command("icad", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train_icad(ctx: typer.Context) -> None:
    """Train the ICAD-LLM checkpoint (contrastive, LoRA on SmolLM2; CPU): `[--steps N] [--out DIR] [--resume] ...`."""
    from lab.icad.train import train_main

    raise typer.Exit(train_main(ctx.args))


@bench_app.command("icad", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench_icad(ctx: typer.Context) -> None:
    """ICAD-LLM quality and speed vs Isolation Forest / rule baselines, same splits: `[--quick] [--only logs tables ...]`."""
    from lab.icad.bench import bench_main

    raise typer.Exit(bench_main(ctx.args))


@bench_app.command("ingest")
def bench_ingest(
    lines: Annotated[int, typer.Option("--lines", help="Lines of the generated file.")] = 1_000_000,
    data: Annotated[Path | None, typer.Option("--data", help="Path of ../shared/data.")] = None,
) -> None:
    """Lines/s and peak RSS for read → template → window → score, with plain Drain3 as the baseline."""
    from lab.bench import bench_ingest as run

    run(Console(width=max(Console().width, 150)), lines=lines, data=_shared(data))


@bench_app.command("logs")
def bench_logs(
    data: Annotated[Path | None, typer.Option("--data", help="Path of ../shared/data.")] = None,
    fit_fraction: Annotated[float, typer.Option("--fit-fraction", help="Earliest fraction of BGL_20k to fit on.")] = 0.5,
) -> None:
    """AUROC / precision / recall / F1 of the log detectors on BGL_20k (time-ordered split)."""
    from lab.bench import bench_logs as run

    run(Console(width=max(Console().width, 150)), data=_shared(data), fit_fraction=fit_fraction)


def _shared(data: Path | None) -> Path:
    from lab.paths import SharedDataMissing, shared_data

    try:
        return shared_data(data)
    except SharedDataMissing as error:
        raise fail(str(error)) from None


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the `sleuth` command."""
    return app(args=argv)


if __name__ == "__main__":
    main()

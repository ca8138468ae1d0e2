"""The `sleuth` command line: audit logs, generate a demo incident, run benchmarks.

Settings resolve once here (defaults → environment → flags) and are passed down; nothing below reads the
environment. Errors the user can fix print one line and exit 2; `audit` exits 1 when it finds anomalies at or above
`--fail-on`.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="sleuth: find, rank and explain anomalies in logs and metrics.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks: quality and speed, with baselines in the same run.")
app.add_typer(bench_app, name="bench")

err = Console(stderr=True)


class Format(str, Enum):
    md = "md"
    json = "json"
    html = "html"


class FailOn(str, Enum):
    low = "low"
    medium = "medium"
    high = "high"
    never = "never"


def data_dir() -> Path:
    """Where sleuth keeps its state (Drain3 templates, indexes, sessions): $SLEUTH_DATA_DIR or XDG data home."""
    env = os.environ.get("SLEUTH_DATA_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sleuth"


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
    top: Annotated[int, typer.Option("--top", min=1, help="Anomalies to show.")] = 20,
    context: Annotated[int, typer.Option("--context", min=0, help="Lines of context around each anomaly.")] = 3,
    system: Annotated[str | None, typer.Option("--system", help="Name of the template state to reuse (default: from the file name).")] = None,
    no_state: Annotated[bool, typer.Option("--no-state", help="Do not load or save template state.")] = False,
) -> None:
    """Audit logs: rank anomalies with their evidence (file:line, template, score, threshold, why, context)."""
    from detectors.base import DetectorError
    from detectors.pipeline import AuditOptions
    from detectors.pipeline import audit as run_audit
    from detectors.render import print_report, render_html, render_json, render_markdown

    options = AuditOptions(detector=detector, window=window, include=tuple(include or ()), exclude=tuple(exclude or ()),
                           baseline=tuple(baseline or ()), top=top, context=context,
                           state_dir=None if no_state else data_dir(), system=system)
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
    from detectors.synth import generate_logs, generate_metrics, write_truth

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
    from detectors.synth import generate_logs, write_truth

    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "incident.log"
    truth = generate_logs(log, lines=lines, seed=7)
    write_truth(truth, str(log) + ".truth.json")
    err.print(f"generated {log} ({truth.lines} lines; incident: {', '.join(i.kind for i in truth.incidents)})")
    with progress_bar() as bar:
        result = run_audit([str(log)], AuditOptions(state_dir=None), progress=RichHook(bar))
    print_report(result.report, Console())
    found = {a.line for a in result.report.anomalies} & truth.anomalous_lines
    flagged = int((result.line_scores >= result.detector.threshold).sum())
    err.print(f"\n{len(found)} of the {len(result.report.anomalies)} anomalies shown are injected incident lines; "
              f"{flagged} lines lie in anomalous windows.")


@bench_app.command("ingest")
def bench_ingest(
    lines: Annotated[int, typer.Option("--lines", help="Lines of the generated file.")] = 1_000_000,
    data: Annotated[Path | None, typer.Option("--data", help="Path of ../shared/data.")] = None,
) -> None:
    """Lines/s and peak RSS for read → template → window → score, with plain Drain3 as the baseline."""
    from detectors.bench import bench_ingest as run

    run(Console(width=max(Console().width, 150)), lines=lines, data=_shared(data))


@bench_app.command("logs")
def bench_logs(
    data: Annotated[Path | None, typer.Option("--data", help="Path of ../shared/data.")] = None,
    fit_fraction: Annotated[float, typer.Option("--fit-fraction", help="Earliest fraction of BGL_20k to fit on.")] = 0.5,
) -> None:
    """AUROC / precision / recall / F1 of the log detectors on BGL_20k (time-ordered split)."""
    from detectors.bench import bench_logs as run

    run(Console(width=max(Console().width, 150)), data=_shared(data), fit_fraction=fit_fraction)


def _shared(data: Path | None) -> Path:
    if data is not None:
        return data
    env = os.environ.get("SLEUTH_SHARED_DATA")
    if env:
        return Path(env)
    for candidate in (Path.cwd().parent / "shared" / "data", Path(__file__).resolve().parents[2] / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    raise fail("../shared/data not found; pass --data PATH or set SLEUTH_SHARED_DATA")


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the `sleuth` command."""
    return app(args=argv)


if __name__ == "__main__":
    main()

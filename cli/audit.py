"""`sleuth audit`: rank anomalies with their evidence and explain the top ones."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cli.common import FailOn, Format, Llm, RichHook, err, fail, parse_options, progress_bar, settings


def audit(
    paths: Annotated[list[str], typer.Argument(help="Log files, .gz files, directories, - for stdin, journal:PATH (systemd journal) or loki://HOST:PORT/QUERY?since=2h.")],
    format: Annotated[Format, typer.Option("--format", "-f", help="Report format.")] = Format.md,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the report to this file.")] = None,
    fail_on: Annotated[FailOn, typer.Option("--fail-on", help="Exit 1 if an anomaly is at least this severe or an incident at least this confident.")] = FailOn.low,
    window: Annotated[str, typer.Option("--window", "-w", help="count:SIZE[:STEP], time:SPAN[:STEP] or session:REGEX.")] = "count:20:10",
    detector: Annotated[str, typer.Option("--detector", "-d", help="Detector: auto (diff against --baseline, else classical), classical, diff, icad, logicl.")] = "auto",
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
    llm: Annotated[Llm | None, typer.Option("--llm", help="Model back end: auto (a server when --llm-url is set, else embedded), embedded, served, or none (deterministic answers only, no model).")] = None,
    no_explain: Annotated[bool, typer.Option("--no-explain", help="Skip the model's explanation; report the detectors' verdicts only.")] = False,
    no_redact: Annotated[bool, typer.Option("--no-redact", help="Send log text to a remote --llm-url without masking secrets.")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Detector option KEY=VALUE, e.g. --set score=delta for icad (repeatable).")] = None,
    metrics: Annotated[list[str] | None, typer.Option("--metrics", help="Metric file (CSV timestamp,series... or JSON lines) or prom://HOST:9090/QUERY?since=2h whose changes the incident engine weighs as causes or symptoms; read once, as metrics, even if also given as a log (repeatable).")] = None,
    all_windows: Annotated[bool, typer.Option("--all-windows", help="List every window's score in json/jsonl reports, not only the flagged ones (for your own thresholds).")] = False,
    no_incidents: Annotated[bool, typer.Option("--no-incidents", help="Skip the incident engine (the report then lists the ranked anomalies only).")] = False,
) -> None:
    """Audit logs: rank anomalies with their evidence (file:line, template, score, threshold, why, context) and
    explain the top ones with the configured model (the embedded one by default)."""
    from detectors.base import SEVERITIES, DetectorError
    from detectors.pipeline import AuditOptions
    from detectors.pipeline import audit as run_audit
    from detectors.render import print_report, render_html, render_json, render_markdown

    if detector == "logicl":
        import retrieval.pool  # noqa: F401 - registers how LogICL opens its pool folder

    conf = settings({"llm_url": llm_url, "model": model, "explain": False if no_explain else None,
                     "redact": False if no_redact else None, "llm": llm.value if llm else None})
    if metrics:
        from detectors.sources import SourceError
        from detectors.sources.prom import materialize_metrics

        try:
            metrics = materialize_metrics(metrics)  # prom://HOST:PORT/QUERY -> a metric CSV of its query_range
        except SourceError as error:
            raise fail(str(error)) from None
    options = AuditOptions(detector=detector, window=window, include=tuple(include or ()), exclude=tuple(exclude or ()),
                           baseline=tuple(baseline or ()), top=top, context=context,
                           state_dir=None if no_state else conf.data_dir, system=system,
                           detector_options=parse_options(set_ or ()), fit_fraction=fit_fraction,
                           incidents=not no_incidents, metrics=tuple(metrics or ()), all_windows=all_windows)
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

    # An incident is explained though no window crossed the detector's threshold (the engine reads rates, the
    # detector rare windows: a run compared with a like baseline flags no line and still has its incident).
    if conf.explain and (report.anomalies or (report.incidents or {}).get("incidents")):
        from agent.cli_support import explain_audit  # the agent (LangGraph, LangChain) loads only when it explains

        err.print("explaining the incident (no model: the incident engine's words)…" if conf.backend == "none"
                  else f"explaining the incident with the {conf.backend} model…")
        report = explain_audit(result, paths, conf)  # the engine's deterministic text when the model fails

    from detectors.render_ci import render_github, render_jsonl

    text = {Format.md: render_markdown, Format.json: render_json, Format.html: render_html, Format.jsonl: render_jsonl,
            Format.github: render_github}[format](report)
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

    # A failed CI log read alone has its incident (the run that failed) and may have no anomaly: it fails too.
    worst = max(SEVERITIES.index(report.worst_severity()), SEVERITIES.index(report.worst_incident()))
    if fail_on is not FailOn.never and worst >= SEVERITIES.index(fail_on.value):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command()(audit)

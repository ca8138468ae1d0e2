"""`sleuth triage`: the Textual dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import Llm, fail, settings


def triage(
    paths: Annotated[list[str], typer.Argument(help="Log files, .gz files, directories, journal:PATH or loki://HOST:PORT/QUERY.")],
    metrics: Annotated[list[str] | None, typer.Option("--metrics", help="Metric CSV (timestamp,value[,series]) or prom://HOST:9090/QUERY?since=2h to chart (repeatable).")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-F", help="Tail the files: new lines appear as they are written.")] = False,
    session: Annotated[str | None, typer.Option("--session", "-s", help="Save the agent conversation under this name; reopen it next time.")] = None,
    window: Annotated[str, typer.Option("--window", "-w", help="count:SIZE[:STEP], time:SPAN[:STEP] or session:REGEX.")] = "count:20:10",
    detector: Annotated[str, typer.Option("--detector", "-d", help="Detector name.")] = "classical",
    llm_url: Annotated[str | None, typer.Option("--llm-url", help="OpenAI-compatible server (vLLM); default: the embedded model.")] = None,
    llm: Annotated[Llm | None, typer.Option("--llm", help="Model back end of the agent pane: auto (a server when --llm-url is set, else embedded), embedded, served, or none (deterministic answers only, no model).")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Served model name, or a GGUF path for the embedded engine.")] = None,
    no_redact: Annotated[bool, typer.Option("--no-redact", help="Do not mask secrets before they go to a remote server.")] = False,
) -> None:
    """Open the terminal dashboard: logs merged by time, anomalies, evidence, metrics and the agent."""
    from agent import SessionError
    from agent.sessions import check_name
    from detectors.pipeline import AuditOptions
    from tui.app import run_triage

    if detector == "logicl":
        import retrieval.pool  # noqa: F401 - registers how LogICL opens its pool folder

    if "-" in paths:
        raise fail("triage reads files, not standard input (the terminal is the UI); save the stream to a file first")
    from detectors.sources import SourceError, materialize_sources
    from detectors.sources.prom import materialize_metrics

    try:  # journal:/loki:// sources and prom:// metrics are fetched once into local files for the dashboard
        paths = materialize_sources(paths)
        metrics = materialize_metrics(metrics or [])
    except SourceError as error:
        raise fail(str(error)) from None
    missing = [p for p in [*paths, *(str(m) for m in metrics or [])] if not Path(p).exists()]
    if missing:
        raise fail(f"{missing[0]!r} does not exist; give log files or directories (and metric CSV files)")
    if session is not None:
        try:
            check_name(session)
        except SessionError as error:
            raise fail(str(error)) from None
    conf = settings({"llm_url": llm_url, "model": model, "redact": False if no_redact else None,
                     "llm": llm.value if llm else None})
    options = AuditOptions(detector=detector, window=window, state_dir=None)
    run_triage(paths, [str(m) for m in metrics or []], follow, session, audit_options=options, settings=conf)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command()(triage)

"""`sleuth investigate ALERT.json [SOURCES...]`: start from an alert, triage its time range and hosts."""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import Annotated, Any

import typer

from cli.common import RichHook, err, fail, progress_bar


class OutFormat(str, Enum):
    md = "md"
    json = "json"


def _duration(text: str, flag: str) -> float:
    from detectors.sources.loki import duration_s

    value = duration_s(text)
    if value is None:
        raise fail(f"{flag} {text!r} is not a duration; use e.g. 30m, 2h")
    return value


def post_json(url: str, payload: dict[str, Any], timeout: float = 15.0) -> int:
    """POST `payload` as JSON to a webhook; returns the HTTP status.

    Raises:
        typer.Exit: (code 2) with one line naming the URL and what to change, when it cannot be delivered.
    """
    import httpx

    if not url.startswith(("http://", "https://")):
        raise fail(f"--post {url!r}: give an http:// or https:// URL")
    try:
        r = httpx.post(url, json=payload, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as error:
        raise fail(f"--post {url}: could not deliver the report ({str(error)[:160] or type(error).__name__}); "
                   f"check the URL and that the receiver runs") from None
    if r.status_code >= 300:
        raise fail(f"--post {url}: the receiver answered {r.status_code} ({' '.join(r.text.split())[:160]}); "
                   f"check the webhook's URL and what it accepts")
    return r.status_code


def investigate(
    alert: Annotated[str, typer.Argument(help="Alertmanager webhook payload (v4) or {startsAt, labels} JSON file, or - for stdin.")],
    sources: Annotated[list[str] | None, typer.Argument(help="Logs to triage: files, directories, journal:PATH, loki://HOST:PORT/QUERY (remote ones are narrowed to the alert's time range).")] = None,
    before: Annotated[str, typer.Option("--before", help="How long before the alert started to look.")] = "30m",
    after: Annotated[str, typer.Option("--after", help="How long after it started to look, while it still fires.")] = "15m",
    output: Annotated[OutFormat, typer.Option("--output", "-o", "--format", help="Report format (md or json).")] = OutFormat.md,
    post: Annotated[str | None, typer.Option("--post", help="Also POST the JSON report (redacted) to this webhook URL.")] = None,
    window: Annotated[str, typer.Option("--window", "-w", help="count:SIZE[:STEP], time:SPAN[:STEP] or session:REGEX.")] = "count:20:10",
    metrics: Annotated[list[str] | None, typer.Option("--metrics", help="Metric CSV or prom://HOST:9090/QUERY (narrowed to the alert's range) for the incident engine (repeatable).")] = None,
) -> None:
    """Start from an alert: its time and labels pick the range and the hosts; the logs are triaged and the
    incident report is printed (and POSTed as JSON with --post)."""
    from agent.mcp_server import redact_obj
    from detectors.base import DetectorError
    from detectors.pipeline import AuditOptions
    from detectors.pipeline import audit as run_audit
    from detectors.render import render_json, render_markdown
    from detectors.sources import SourceError
    from detectors.sources.alerts import load_alert, scope_source

    try:
        inv = load_alert(alert, before_s=_duration(before, "--before"), after_s=_duration(after, "--after"))
    except SourceError as error:
        raise fail(str(error)) from None
    if not sources:
        raise fail(f"{alert}: give the logs to triage after the alert (files, journal:PATH or loki://...); the "
                   f"alert names hosts {', '.join(inv.hosts) or '-'} and services {', '.join(inv.services) or '-'}")
    scoped = [scope_source(s, inv) for s in sources]
    from detectors.sources.prom import materialize_metrics

    try:
        metric_paths = materialize_metrics([scope_source(m, inv) for m in metrics or []])
    except SourceError as error:
        raise fail(str(error)) from None
    summary = inv.to_dict()
    err.print(f"investigating {inv.title}: {summary['start']} to {summary['end']}, hosts "
              f"{', '.join(inv.hosts) or '-'}, services {', '.join(inv.services) or '-'}", highlight=False)
    try:
        with progress_bar() as bar:
            result = run_audit(scoped, AuditOptions(window=window, metrics=tuple(metric_paths)), progress=RichHook(bar))
    except DetectorError as error:
        raise fail(str(error)) from None
    report = result.report
    for skip in report.skipped[:20]:
        err.print(f"[yellow]skipped:[/] {skip.message}", highlight=False)
    if report.totals.events == 0:
        raise fail("no log lines could be read from " + ", ".join(scoped) + "; see the messages above")
    seen_hosts = {h for h in result.events.hosts if h}
    summary["hosts_in_logs"] = [h for h in inv.hosts if h in seen_hosts]
    summary["hosts_not_in_logs"] = [h for h in inv.hosts if h not in seen_hosts]
    summary["sources"] = scoped
    doc = {"alert": summary, "report": json.loads(render_json(report))}
    if post:
        status = post_json(post, redact_obj(doc))
        err.print(f"report posted to {post} ({status})", highlight=False)
    if output is OutFormat.json:
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return
    head = [f"# Investigation: {inv.title}", "",
            f"- window: {summary['start']} to {summary['end']}",
            f"- hosts: {', '.join(inv.hosts) or '-'} (in the logs: {', '.join(summary['hosts_in_logs']) or 'none'})",
            f"- services: {', '.join(inv.services) or '-'}", ""]
    sys.stdout.write("\n".join(head) + "\n" + render_markdown(report))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command()(investigate)


"""The read-only tools over audited logs: audit, list anomalies, search events, context, templates, window scores.

Each returns capped text for the model plus structured data. Error messages never quote log text (hosts,
templates, lines): they go back to the model's planner, which must not see untrusted data.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from detectors.base import SEVERITIES, LogWindow
from detectors.events import ReadStats
from detectors.eventtable import LEVELS
from detectors.formats import parse_timestamp
from detectors.readers import context_lines, read_events
from detectors.saferegex import compile_user
from tools.base import MAX_ITEMS, Cited, Tool, ToolArgs, ToolInputError, ToolOutput, clip
from tools.workspace import Workspace

Level = Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
Severity = Literal["low", "medium", "high"]


def _iso(ts: float) -> str:
    if not math.isfinite(ts):
        return "-"
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_where(where: str) -> tuple[str, int]:
    source, sep, line = where.strip().rpartition(":")
    if not sep or not line.isdigit() or not source:
        raise ToolInputError(f"where must be 'file:line' (e.g. 'app.log:120'), got {where!r}")
    return source, int(line)


def _known_source(ws: Workspace, source: str) -> str:
    """The audited source `source` names; reading files that were not audited is not allowed."""
    sources = ws.result.events.sources
    if source in sources:
        return source
    matches = [s for s in sources if s.endswith("/" + source) or s.rsplit("/", 1)[-1] == source]
    if len(matches) == 1:
        return matches[0]
    raise ToolInputError(
        f"{source!r} is not one of the audited sources ({len(sources)} audited); use a file:line from an anomaly "
        "or a search result"
    )


def _event_index(ws: Workspace, where: str) -> int:
    source, line = _parse_where(where)
    source = _known_source(ws, source)
    table = ws.result.events
    sidx = table.sources.index(source)
    hits = np.nonzero((table.source == sidx) & (table.line <= line))[0]
    if not len(hits):
        raise ToolInputError(f"no event at or before {where!r}; lines start at 1")
    return int(hits[-1])


def _time_bound(text: str | None, ws: Workspace) -> float | None:
    """Epoch seconds from ISO 8601, epoch seconds, or HH:MM[:SS] on the day the logs start."""
    if text is None or text == "":
        return None
    m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text.strip())
    if m:
        ts = ws.result.events.ts
        finite = ts[np.isfinite(ts)]
        if not len(finite):
            raise ToolInputError("these logs carry no timestamps, so a time range cannot be used")
        day = datetime.fromtimestamp(float(finite.min()), tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if h > 23 or mi > 59 or s > 59:
            raise ToolInputError(f"{text!r} is not a time of day")
        return day.timestamp() + h * 3600 + mi * 60 + s
    value = parse_timestamp(text.strip())
    if value is None:
        raise ToolInputError(f"cannot read {text!r} as a time; use ISO 8601 (2026-11-23T03:10:00Z) or HH:MM")
    return float(value)


# --------------------------------------------------------------------------------------------------- audit_source


class AuditSourceArgs(ToolArgs):
    """Arguments of audit_source."""

    paths: list[Annotated[str, Field(max_length=400)]] = Field(min_length=1, max_length=20,
                                                               description="log files or directories to audit")
    detector: str | None = Field(None, max_length=40, description="detector name (default: the configured one)")
    window: str | None = Field(None, max_length=80, description="count:SIZE[:STEP] | time:SPAN[:STEP] | session:REGEX")


def audit_source(ws: Workspace, args: AuditSourceArgs) -> ToolOutput:
    """Audit log files and summarise the ranked anomalies."""
    result = ws.audit(args.paths, detector=args.detector, window=args.window)
    report = result.report
    t = report.totals
    rows = [
        f"audited {t.sources} source(s): {t.events} events, {t.templates} templates, {t.windows} windows "
        f"({report.windowing}); {t.anomalous_windows} anomalous windows, {len(report.anomalies)} anomalies shown"
    ]
    cited = []
    for a in report.anomalies[:10]:
        rows.append(f"{a.id} {a.severity} {a.where} {a.time or '-'} score {a.score:.3g}/{a.threshold:.3g} T{a.template_id}: {clip(a.template or '', 120)}")
        cited.append(Cited(a.where, clip(a.text)))
    if t.skipped:
        rows.append(f"skipped: {t.skipped} ({', '.join(f'{k}: {v}' for k, v in report.skipped_by_reason.items())})")
    return ToolOutput("\n".join(rows), {"anomalies": len(report.anomalies), "events": t.events}, cited, len(report.anomalies))


# ------------------------------------------------------------------------------------------------- list_anomalies


class ListAnomaliesArgs(ToolArgs):
    """Arguments of list_anomalies."""

    min_severity: Severity = Field("low", description="the lowest severity to list")
    limit: int = Field(10, ge=1, le=MAX_ITEMS, description="how many to list, best first")


def list_anomalies(ws: Workspace, args: ListAnomaliesArgs) -> ToolOutput:
    """The audit's ranked anomalies at or above a severity."""
    floor = SEVERITIES.index(args.min_severity)
    chosen = [a for a in ws.result.report.anomalies if a.severity in SEVERITIES and SEVERITIES.index(a.severity) >= floor]
    rows = [f"{len(chosen)} anomalies at or above {args.min_severity}:"]
    cited = []
    for a in chosen[: args.limit]:
        rows.append(
            f"{a.id} {a.severity} {a.where} {a.time or '-'} host {a.host or '-'} score {a.score:.3g}/{a.threshold:.3g} "
            f"T{a.template_id}: {clip(a.text or a.template or '', 160)}"
        )
        cited.append(Cited(a.where, clip(a.text)))
    if len(chosen) > args.limit:
        rows.append(f"… {len(chosen) - args.limit} more (raise limit)")
    return ToolOutput("\n".join(rows), {"ids": [a.id for a in chosen[: args.limit]]}, cited, len(chosen))


# -------------------------------------------------------------------------------------------------- search_events


class SearchEventsArgs(ToolArgs):
    """Arguments of search_events."""

    pattern: str | None = Field(None, max_length=200, description="regular expression matched against each line")
    since: str | None = Field(None, max_length=40, description="start time: ISO 8601 or HH:MM (day of the logs)")
    until: str | None = Field(None, max_length=40, description="end time: ISO 8601 or HH:MM")
    host: str | None = Field(None, max_length=120, description="only events from this host")
    service: str | None = Field(None, max_length=120, description="only events from this service/program")
    min_level: Level | None = Field(None, description="only events at this level or worse")
    limit: int = Field(20, ge=1, le=MAX_ITEMS, description="how many matching lines to show")


def _code(names: list[str], value: str, what: str) -> int:
    try:
        return names.index(value)
    except ValueError:
        lowered = [n.lower() for n in names]
        if value.lower() in lowered:
            return lowered.index(value.lower())
        raise ToolInputError(f"no events from {what} {value!r}; call search_events without {what} to see which exist") from None


def search_events(ws: Workspace, args: SearchEventsArgs) -> ToolOutput:
    """Events matching a regex, a time range, a host/service and a minimum level (all optional)."""
    table = ws.result.events
    mask = np.ones(len(table), dtype=bool)
    since, until = _time_bound(args.since, ws), _time_bound(args.until, ws)
    if since is not None and until is not None and until < since:
        raise ToolInputError(f"until ({args.until}) is before since ({args.since}); swap them")
    with np.errstate(invalid="ignore"):
        if since is not None:
            mask &= table.ts >= since
        if until is not None:
            mask &= table.ts <= until + (59.999 if args.until and len(args.until) <= 5 else 0.0)
    if args.host:
        mask &= table.host == _code(table.hosts, args.host, "host")
    if args.service:
        mask &= table.service == _code(table.services, args.service, "service")
    if args.min_level:
        mask &= table.level >= LEVELS.index(args.min_level)
    hits = np.nonzero(mask)[0]
    regex = None
    if args.pattern:
        try:
            regex = compile_user(args.pattern)  # the model's pattern, on log text: RE2, linear time
        except re.error as error:
            raise ToolInputError(f"pattern {args.pattern!r} is not a valid regular expression: {error}") from None
    # One streaming pass over the sources brings back the text (the event table keeps none).
    candidates = hits if regex is not None else hits[: args.limit]
    wanted = {(table.sources[int(table.source[i])], int(table.line[i])): int(i) for i in candidates}
    shown: list[tuple[int, str]] = []
    count = 0 if regex is not None else len(hits)
    if wanted:
        found = 0
        for event in read_events(list(ws.sources), stats=ReadStats(), include=ws.options.include,
                                 exclude=ws.options.exclude):
            i = wanted.get((event.source, event.line))
            if i is None:
                continue
            found += 1
            if regex is None or regex.search(event.raw):
                count += regex is not None
                if len(shown) < args.limit:
                    shown.append((i, event.raw))
            if found == len(wanted):
                break
    shown.sort()
    rows = [f"{count} events match (showing {len(shown)}):"]
    cited = []
    for i, text in shown:
        where = table.where(i)
        rows.append(f"{where} {_iso(float(table.ts[i]))} {table.host_name(i) or '-'} {table.level_name(i) or '-'} | {clip(text)}")
        cited.append(Cited(where, clip(text)))
    if count > len(shown):
        rows.append(f"… {count - len(shown)} more (narrow the search or raise limit)")
    return ToolOutput("\n".join(rows), {"matches": count}, cited, count)


# ---------------------------------------------------------------------------------------------------- get_context


class GetContextArgs(ToolArgs):
    """Arguments of get_context."""

    where: str = Field(max_length=400, description="file:line of the line to show, e.g. from an anomaly")
    before: int = Field(5, ge=0, le=25, description="lines before")
    after: int = Field(5, ge=0, le=25, description="lines after")


def get_context(ws: Workspace, args: GetContextArgs) -> ToolOutput:
    """The lines around file:line in an audited source."""
    source, line = _parse_where(args.where)
    source = _known_source(ws, source)
    lines = context_lines(source, line, before=args.before, after=args.after)
    if not lines:
        raise ToolInputError(f"{args.where!r} is past the end of its file; use a line number from the audit")
    rows = [f"{source}:{n}{' >' if n == line else '  '} {clip(text)}" for n, text in lines]
    cited = [Cited(f"{source}:{n}", clip(text)) for n, text in lines]
    return ToolOutput("\n".join(rows), {"lines": len(lines)}, cited, len(lines))


# ----------------------------------------------------------------------------------------------- describe_template


class DescribeTemplateArgs(ToolArgs):
    """Arguments of describe_template."""

    template_id: int = Field(ge=0, description="template id, the number in T17")


def describe_template(ws: Workspace, args: DescribeTemplateArgs) -> ToolOutput:
    """A template's text, count, first and last time seen, hosts, and whether it is new in this run."""
    result = ws.result
    table = result.events
    idx = np.nonzero(table.template == args.template_id)[0]
    if not len(idx):
        raise ToolInputError(f"template T{args.template_id} does not occur in the audited logs; use a T<id> from an anomaly")
    ts = table.ts[idx]
    finite = ts[np.isfinite(ts)]
    hosts = Counter(table.host_name(int(i)) or "-" for i in idx[:10_000])
    new = result.templates.is_new(args.template_id)
    first, last = int(idx[0]), int(idx[-1])
    rows = [
        f"T{args.template_id}: {clip(result.templates.template(args.template_id), 200)}",
        f"count {len(idx)} of {len(table)} events; {'NEW in this run' if new else 'seen in earlier runs of this system'}",
        f"first {table.where(first)} {_iso(float(finite.min())) if len(finite) else '-'}; "
        f"last {table.where(last)} {_iso(float(finite.max())) if len(finite) else '-'}",
        "hosts: " + ", ".join(f"{h} ({n})" for h, n in hosts.most_common(8)),
    ]
    cited = [Cited(table.where(first), f"first T{args.template_id}"), Cited(table.where(last), f"last T{args.template_id}")]
    return ToolOutput("\n".join(rows), {"count": int(len(idx)), "new": bool(new), "hosts": dict(hosts)}, cited, int(len(idx)))


# ---------------------------------------------------------------------------------------------------- score_window


class ScoreWindowArgs(ToolArgs):
    """Arguments of score_window."""

    where: str = Field(max_length=400, description="file:line at the centre of the window")
    size: int = Field(20, ge=2, le=500, description="events in the window")
    detector: str | None = Field(None, max_length=40, description="detector to score with (default: the audit's)")


def score_window(ws: Workspace, args: ScoreWindowArgs) -> ToolOutput:
    """Score the window of `size` events centred on file:line with a detector; its verdict and evidence."""
    centre = _event_index(ws, args.where)
    result = ws.with_detector(args.detector) if args.detector else ws.result
    table = result.events
    lo = max(0, centre - args.size // 2)
    hi = min(len(table), lo + args.size)
    events = np.arange(lo, hi, dtype=np.int64)
    window = LogWindow(id=0, key=f"{table.where(lo)}..{table.where(hi - 1)}", events=events, templates=table.template[events])
    detector = result.detector
    score = float(detector.score([window])[0])
    verdict = detector.verdict(window, score)
    rows = [
        f"{detector.name} on {window.key}: score {score:.3g}, threshold {verdict.threshold:.3g}, "
        f"{verdict.label} ({verdict.severity})"
    ]
    rows += [f"- {e.kind}: {clip(e.summary, 160)}{f' at {e.where}' if e.where else ''}" for e in verdict.evidence[:6]]
    cited = [Cited(e.where, clip(e.summary)) for e in verdict.evidence if e.where]
    return ToolOutput("\n".join(rows), {"score": score, "threshold": verdict.threshold, "label": verdict.label}, cited, 1)


TOOLS: tuple[Tool, ...] = (
    Tool("audit_source", "Audit log files or directories with a detector; returns totals and the ranked anomalies.",
         AuditSourceArgs, audit_source),
    Tool("list_anomalies", "List the audit's anomalies (id, severity, file:line, time, host, template), best first.",
         ListAnomaliesArgs, list_anomalies),
    Tool("search_events", "Find log events by regex, time range (since/until), host, service and minimum level.",
         SearchEventsArgs, search_events),
    Tool("get_context", "Show the lines around a file:line of an audited log.", GetContextArgs, get_context),
    Tool("describe_template", "Describe template T<id>: its text, count, first/last seen, hosts, new or known.",
         DescribeTemplateArgs, describe_template),
    Tool("score_window", "Score the window of events around a file:line with a detector; returns its verdict.",
         ScoreWindowArgs, score_window),
)

"""Render an audit `Report` as Markdown, JSON, one self-contained HTML page, or on a rich console.

Log lines and the agent's text are untrusted input. Markdown output backslash-escapes them in tables and lists
and puts whole lines in fences longer than any backtick run they hold, so a `|` or a backtick in a log line
cannot break the layout. HTML output escapes every string it did not write itself and never emits a script.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from detectors.base import SEVERITIES, Evidence
from detectors.incidents.render import html_lines as incidents_html
from detectors.incidents.render import markdown_lines as incidents_markdown
from detectors.report import Anomaly, ContextLine, Report
from detectors.terminal import visible

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["iter_jsonl", "print_report", "render_html", "render_json", "render_jsonl", "render_markdown"]

TEMPLATE_CELL_CHARS = 80  # a table cell longer than this makes the anomaly table unreadable in a terminal
MAX_SOURCES_IN_TITLE = 5
_DASH = "\u2014"

# Characters that start an inline Markdown construct (code, emphasis, links, raw HTML, entities, table cells).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&!])")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_FENCE_LINE = re.compile(r"^\s{0,3}(```|~~~)")
_ID_REF = re.compile(r"\b(A\d+(?:\.e\d+)?)\b")


# ----------------------------------------------------------------------------------------------- shared helpers


def _clean(text: object) -> str:
    """`text` as a string safe for a terminal and for HTML: control and bidi characters shown as visible escapes
    (`\\x1b`, `\\u202e`), each line clipped with a marker (detectors.terminal, the one sanitiser)."""
    return visible(text)


def _one_line(text: object) -> str:
    """A single line: newlines become a visible return symbol so folded stack traces stay legible."""
    s = "" if text is None else str(text)
    return _clean(s.replace("\r\n", "\n").replace("\r", "\n").replace("\n", " \u23ce ").replace("\t", " "))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _num(value: float | None) -> str:
    """A score for people: 3 decimals in the usual range, scientific notation outside it."""
    if value is None:
        return _DASH
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value != 0 and (abs(value) < 0.01 or abs(value) >= 1e6):
        return f"{value:.3g}"
    return f"{value:.3f}"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _count(value: Any) -> int | None:
    """A count given either as a number or as the list of the things counted."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, list | tuple | set | dict):
        return len(value)
    return None


def _focus_window(context: Sequence[ContextLine], max_context: int) -> list[ContextLine]:
    """At most `max_context` lines, centred on the focus line when there is one."""
    if max_context <= 0 or len(context) <= max_context:
        return list(context) if max_context > 0 else []
    focus = next((i for i, c in enumerate(context) if c.focus), 0)
    start = max(0, min(focus - max_context // 2, len(context) - max_context))
    return list(context[start : start + max_context])


def _summary_sentence(report: Report) -> str:
    """The one-paragraph summary, as plain text (each renderer escapes it)."""
    n = len(report.anomalies)
    totals = report.totals
    if n:
        head = f"{_plural(n, 'anomaly', 'anomalies')} shown (worst severity: {report.worst_severity()})"
        if totals.anomalous_windows > n:
            head += f" of {totals.anomalous_windows} anomalous windows"
    else:
        head = "No anomalies above the threshold"
    parts = [f"{head}, found by detector {report.detector} over {report.windowing or 'the whole input'}."]
    if report.fit:
        parts.append(f"Fitted on {report.fit}.")
    if report.threshold_rule:
        parts.append(f"Threshold: {report.threshold_rule}.")
    return " ".join(parts)


def _title_sources(sources: Sequence[str]) -> str:
    shown = list(sources[:MAX_SOURCES_IN_TITLE])
    text = ", ".join(shown) if shown else "(no sources)"
    if len(sources) > MAX_SOURCES_IN_TITLE:
        text += f" and {len(sources) - MAX_SOURCES_IN_TITLE} more"
    return text


def _totals_rows(report: Report) -> list[tuple[str, str]]:
    t = report.totals
    return [
        ("sources", str(t.sources)),
        ("lines read", str(t.lines)),
        ("events", str(t.events)),
        ("continuation lines folded", str(t.folded)),
        ("skipped", str(t.skipped)),
        ("templates", str(t.templates)),
        ("new templates", str(t.new_templates)),
        ("windows", str(t.windows)),
        ("anomalous windows", str(t.anomalous_windows)),
        ("anomalies shown", str(t.anomalies_shown or len(report.anomalies))),
        ("seconds", f"{t.seconds:.2f}"),
    ]


def _hypotheses(explanation: dict[str, Any]) -> list[tuple[str, str | None, list[str]]]:
    """(title, confidence, evidence ids) per hypothesis, tolerating strings and missing keys."""
    out: list[tuple[str, str | None, list[str]]] = []
    for item in explanation.get("hypotheses") or []:
        if isinstance(item, dict):
            title = str(item.get("title") or item.get("text") or item.get("hypothesis") or "(untitled)")
            conf = item.get("confidence")
            if isinstance(conf, int | float) and not isinstance(conf, bool) and 0 <= conf <= 1:
                confidence: str | None = f"{conf:.0%}"
            else:
                confidence = None if conf is None else str(conf)
            ids = item.get("evidence", item.get("evidence_ids", item.get("citations", [])))
            evidence = [str(i) for i in ids] if isinstance(ids, list | tuple) else ([str(ids)] if ids else [])
            out.append((title, confidence, evidence))
        else:
            out.append((str(item), None, []))
    return out


def _citations(explanation: dict[str, Any]) -> str | None:
    """'4 resolved, 1 dropped (A9.e1)' from whatever shape `citations` has, or None when absent."""
    cites = explanation.get("citations")
    if cites is None:
        return None
    if isinstance(cites, dict):
        parts = []
        for key in ("resolved", "dropped"):
            if key in cites:
                n = _count(cites[key])
                part = f"{n if n is not None else cites[key]} {key}"
                if key == "dropped" and isinstance(cites[key], list) and cites[key]:
                    part += f" ({', '.join(str(c) for c in cites[key])})"
                parts.append(part)
        return ", ".join(parts) if parts else None
    n = _count(cites)
    return f"{n} cited" if n is not None else str(cites)


# ----------------------------------------------------------------------------------------------------- Markdown


def _md(text: object, limit: int | None = None) -> str:
    """Untrusted text made safe inline (table cells, list items): one line, Markdown specials escaped."""
    line = _one_line(text)
    if limit is not None:
        line = _clip(line, limit)
    return _MD_SPECIAL.sub(r"\\\1", line)


def _md_code(text: object) -> str:
    """A code span that holds any text: the delimiter is longer than the longest backtick run inside."""
    line = _one_line(text)
    longest = max((len(m) for m in re.findall(r"`+", line)), default=0)
    tick = "`" * (longest + 1)
    pad = " " if line.startswith("`") or line.endswith("`") or not line.strip() else ""
    return f"{tick}{pad}{line}{pad}{tick}"


def _md_fence(lines: Iterable[str]) -> str:
    """A fenced block that no backtick run in its content can close early."""
    body = "\n".join(_clean(line) for line in lines)
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}"


def _md_model_text(text: str) -> list[str]:
    """The agent's own Markdown, kept as Markdown but with raw HTML neutralised outside code."""
    out: list[str] = []
    in_fence = False
    for line in _clean(text).splitlines():
        if _FENCE_LINE.match(line):
            in_fence = not in_fence
            out.append(line)
            continue
        if in_fence:
            out.append(line)
            continue
        pieces, pos = [], 0
        for m in _CODE_SPAN.finditer(line):
            pieces.append(line[pos : m.start()].replace("<", "&lt;"))
            pieces.append(m.group(0))
            pos = m.end()
        pieces.append(line[pos:].replace("<", "&lt;"))
        out.append("".join(pieces))
    if in_fence:  # an unclosed fence from the model must not swallow the rest of the report
        out.append("```")
    return out


def _md_context_lines(context: Sequence[ContextLine]) -> list[str]:
    width = max((len(str(c.line)) for c in context), default=1)
    rows: list[str] = []
    for c in context:
        first, *rest = (_clean(c.text).replace("\r\n", "\n").split("\n") or [""])
        rows.append(f"{'>' if c.focus else ' '} {c.line:>{width}} | {first}")
        rows.extend(f"  {'':>{width}} | {more}" for more in rest)
    return rows


def _md_evidence(e: Evidence) -> str:
    head = f"`{_md(e.id)}` " if e.id else ""
    where = f" ({_md_code(e.where)})" if e.where else ""
    return f"- {head}**{_md(e.kind)}**: {_md(e.summary)}{where}"


def window_label(window: str, where: str | None = None) -> str:
    """A window's key as a reader wants it: "app.log:771..790", not "app.log:771..app.log:790" (the file said once
    when the window stays in the file of the anomaly's line, `where`); sessions, time spans and windows across
    files are shown as they are."""
    path = where.rpartition(":")[0] if where else ""
    if not path:
        return window
    head, sep, tail = window.partition(f"..{path}:")
    if not sep or not head.startswith(f"{path}:") or not tail.isdigit() or not head[len(path) + 1:].isdigit():
        return window
    return head if head[len(path) + 1:] == tail else f"{head}..{tail}"


def _md_anomaly(a: Anomaly, max_context: int) -> list[str]:
    out = [f"### {_md(a.id)} \u00b7 {_md(a.severity)} \u00b7 {_md(a.where)}", ""]
    out.append(f"- **score** {_num(a.score)} vs threshold {_num(a.threshold)} (detector {_md(a.detector)})")
    out.append(f"- **where** {_md_code(a.where)}" + (f", window {_md_code(window_label(a.window, a.where))}" if a.window else ""))
    if a.time:
        out.append(f"- **time** {_md(a.time)}")
    if a.level or a.host:
        out.append(f"- **level** {_md(a.level or _DASH)}, **host** {_md(a.host or _DASH)}")
    if a.template is not None:
        tid = f" #{a.template_id}" if a.template_id is not None else ""
        out.append(f"- **template**{tid} {_md_code(a.template)}")
    out += ["", "Line:", "", _md_fence(_clean(a.text).split("\n")), ""]
    if a.evidence:
        out += ["Evidence:", ""]
        out += [_md_evidence(e) for e in a.evidence]
        out.append("")
    context = _focus_window(a.context, max_context)
    if context:
        out += [f"Context ({_plural(len(context), 'line')} around {_md(a.where)}, the focus line marked `>`):", ""]
        out += [_md_fence(_md_context_lines(context)), ""]
    return out


def render_markdown(report: Report, *, max_context: int = 7) -> str:
    """The report as Markdown: what `sleuth audit` prints, and writes with `--format md`.

    Args:
        report: The audit report.
        max_context: The most context lines shown per anomaly, centred on the focus line (0 hides context).

    Returns:
        Markdown text ending with a newline. Log text is escaped in tables and lists and fenced elsewhere.
    """
    out = [f"# sleuth audit: {_md(_title_sources(report.sources))}", ""]
    out += [f"Created {_md(report.created)} \u00b7 report version {report.version}", ""]
    out += [_md(_summary_sentence(report)), ""]
    out += incidents_markdown(report.incidents)  # the report leads with the incidents

    if report.explanation:
        out += _md_explanation(report.explanation)

    out += ["## Anomalies", ""]
    if report.anomalies:
        out += [
            "| # | id | severity | score | threshold | where | time | template |",
            "|--:|----|----------|------:|----------:|-------|------|----------|",
        ]
        for a in report.anomalies:
            template = a.template if a.template is not None else a.text
            out.append(
                f"| {a.rank} | {_md(a.id)} | {_md(a.severity)} | {_num(a.score)} | {_num(a.threshold)} "
                f"| {_md(a.where)} | {_md(a.time or _DASH)} | {_md(template, TEMPLATE_CELL_CHARS)} |"
            )
        out.append("")
        for a in report.anomalies:
            out += _md_anomaly(a, max_context)
    else:
        out += ["No anomalies above the threshold.", ""]

    out += ["## Totals", "", "| total | count |", "|---|--:|"]
    out += [f"| {name} | {value} |" for name, value in _totals_rows(report)]
    out.append("")
    out += _md_skipped(report)
    return "\n".join(out).rstrip("\n") + "\n"


def _md_explanation(explanation: dict[str, Any]) -> list[str]:
    out = ["## Explanation", ""]
    model = explanation.get("model")
    if model:
        out += [f"*By {_md(model)}; generated text, check it against the evidence ids.*", ""]
    text = explanation.get("text")
    if text:
        out += [*_md_model_text(str(text)), ""]
    hypotheses = _hypotheses(explanation)
    if hypotheses:
        out += ["Hypotheses:", ""]
        for i, (title, confidence, evidence) in enumerate(hypotheses, 1):
            line = f"{i}. **{_md(title)}**"
            if confidence:
                line += f", confidence {_md(confidence)}"
            if evidence:
                line += ", evidence " + ", ".join(_md_code(e) for e in evidence)
            out.append(line)
        out.append("")
    cites = _citations(explanation)
    if cites:
        out += [f"Citations: {_md(cites)}.", ""]
    return out


def _md_skipped(report: Report) -> list[str]:
    total = report.totals.skipped or sum(report.skipped_by_reason.values()) or len(report.skipped)
    out = ["## Skipped", ""]
    if not total and not report.skipped:
        return out + ["Nothing was skipped.", ""]
    if report.skipped_by_reason:
        out += ["| reason | count |", "|---|--:|"]
        for reason, n in sorted(report.skipped_by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f"| {_md(reason)} | {n} |")
        out.append("")
    if report.skipped:
        if len(report.skipped) < total:
            out += [f"The first {len(report.skipped)} of {total}:", ""]
        for s in report.skipped:
            where = f"{s.source}:{s.line}" if s.line is not None else s.source
            out.append(f"- {_md_code(where)} ({_md(s.reason)}): {_md(s.message)}")
        out.append("")
    return out


# --------------------------------------------------------------------------------------------------------- JSON


def render_json(report: Report) -> str:
    """The report as JSON (`Report.to_json`): keys in schema order, so diffs of two reports line up.

    Args:
        report: The audit report.

    Returns:
        JSON text that `Report.from_json` reads back.
    """
    return report.to_json()


def incident_dicts(report: Any) -> list[dict[str, Any]]:
    """The incident engine's incidents of a report as plain dicts (empty when the report has none)."""
    inc = getattr(report, "incidents", None)
    if inc is None:
        return []
    if hasattr(inc, "to_dict"):
        inc = inc.to_dict()
    if isinstance(inc, dict):
        inc = inc.get("incidents", [])
    return [i if isinstance(i, dict) else getattr(i, "__dict__", {}) for i in inc or []]


def iter_jsonl(report: Report) -> Iterator[str]:
    """The report as JSON lines, one object a line, produced one at a time (a caller may write each as it comes):
    the incidents (`"kind": "incident"`), the grouped anomalies (`"kind": "anomaly"`), one verdict per listed window
    (`"kind": "window"`: every flagged window or session, all windows with `--all-windows`), then one
    `"kind": "summary"` line with the detector, threshold rule and totals. The one JSON-lines writer of the audit
    (`sleuth audit --format jsonl`). Control characters are escaped by JSON, so the lines are safe on a terminal."""
    import json
    from dataclasses import asdict

    for inc in incident_dicts(report):
        yield json.dumps({"kind": "incident", **inc}, ensure_ascii=False, default=str)
    for a in report.anomalies:
        yield json.dumps({"kind": "anomaly", "id": a.id, "rank": a.rank, "severity": a.severity, "where": a.where,
                          "time": a.time, "host": a.host, "level": a.level, "template_id": a.template_id,
                          "template": a.template, "text": a.text, "score": a.score, "threshold": a.threshold,
                          "detector": a.detector}, ensure_ascii=False)
    for w in report.windows:
        yield json.dumps({"kind": "window", "detector": report.detector, **asdict(w)}, ensure_ascii=False)
    t = report.totals
    yield json.dumps({"kind": "summary", "detector": report.detector, "sources": report.sources, "events": t.events,
                      "windows": t.windows, "anomalous_windows": t.anomalous_windows,
                      "anomalies": len(report.anomalies), "windows_listed": report.windows_listed,
                      "skipped": t.skipped, "windowing": report.windowing, "threshold_rule": report.threshold_rule,
                      "totals": asdict(t), "version": report.version}, ensure_ascii=False)


def render_jsonl(report: Report) -> str:
    """`iter_jsonl` joined (what `--out FILE` writes)."""
    return "\n".join(iter_jsonl(report)) + "\n"


# --------------------------------------------------------------------------------------------------------- HTML

_CSS = """
:root{--fg:#1f2328;--muted:#59636e;--bg:#fff;--line:#d1d9e0;--code:#f6f8fa;--mark:#fff8c5;
--high:#cf222e;--medium:#bc4c00;--low:#9a6700;--none:#59636e}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--line:#3d444d;
--code:#151b23;--mark:#3b2f00;--high:#ff7b72;--medium:#ffa657;--low:#d29922;--none:#9198a1}}
*{box-sizing:border-box}
body{font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);
max-width:80rem;margin:2rem auto;padding:0 1.5rem}
h1{font-size:1.5rem;margin:0 0 .25rem;overflow-wrap:anywhere}h2{font-size:1.2rem;border-bottom:1px solid var(--line);
padding-bottom:.2rem;margin-top:2rem}h3{font-size:1.05rem;margin:0 0 .5rem}
.muted{color:var(--muted)}code,pre{font:12.5px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
code{background:var(--code);padding:0 .25em;border-radius:4px;overflow-wrap:anywhere}
pre{background:var(--code);padding:.6rem .8rem;border-radius:6px;overflow-x:auto;white-space:pre-wrap;
overflow-wrap:anywhere;margin:.4rem 0}
table{border-collapse:collapse;margin:.5rem 0;width:100%}th,td{border:1px solid var(--line);padding:.3rem .5rem;
text-align:left;vertical-align:top}th{background:var(--code)}td.n{text-align:right;font-variant-numeric:tabular-nums}
td.t{max-width:36rem;overflow-wrap:anywhere}table.kv{width:auto}
.sev{display:inline-block;padding:0 .5em;border-radius:1em;color:#fff;font-weight:600;font-size:.85em}
.sev-high{background:var(--high)}.sev-medium{background:var(--medium)}.sev-low{background:var(--low)}
.sev-none{background:var(--none)}
.anomaly{border:1px solid var(--line);border-left:6px solid var(--none);border-radius:6px;padding:.8rem 1rem;
margin:1rem 0}.anomaly.high{border-left-color:var(--high)}.anomaly.medium{border-left-color:var(--medium)}
.anomaly.low{border-left-color:var(--low)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem .8rem;margin:.3rem 0}dt{color:var(--muted)}dd{margin:0}
details{margin:.4rem 0}summary{cursor:pointer;color:var(--muted)}
.ctx .ln{color:var(--muted);user-select:none}.ctx .focus{background:var(--mark);display:block}
.explanation p{white-space:pre-wrap;margin:.4rem 0}
@media print{body{max-width:none;margin:0;padding:0;font-size:11px}a{color:inherit;text-decoration:none}
.anomaly{break-inside:avoid-page}summary{list-style:none}pre{white-space:pre-wrap}
.sev,.anomaly,th,.ctx .focus{print-color-adjust:exact;-webkit-print-color-adjust:exact}}
"""
# Kept apart: a browser that does not know ::details-content drops the whole rule it appears in.
_CSS_PRINT_OPEN = "@media print{details::details-content{content-visibility:visible;display:contents}}"


def _h(text: object) -> str:
    """Untrusted text escaped for HTML element content or a quoted attribute."""
    return html.escape(_clean(text), quote=True)


def _anchor(ident: str) -> str:
    """An id/fragment made of characters that need no escaping anywhere."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", ident) or "-"


def _sev_class(sev: str) -> str:
    return sev if sev in SEVERITIES else "none"


def _badge(sev: str) -> str:
    return f'<span class="sev sev-{_sev_class(sev)}">{_h(sev)}</span>'


def _link_ids(escaped: str, known: set[str]) -> str:
    """Turn evidence/anomaly ids in already-escaped text into links, for ids the report really has."""
    return _ID_REF.sub(lambda m: f'<a href="#{_anchor(m[1])}">{m[1]}</a>' if m[1] in known else m[1], escaped)


def _html_id_list(ids: Sequence[str], known: set[str]) -> str:
    return ", ".join(
        f'<a href="#{_anchor(i)}"><code>{_h(i)}</code></a>' if i in known else f"<code>{_h(i)}</code>" for i in ids
    )


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page: inline CSS, no scripts, fonts or other external assets.

    Every string from the logs, the sources or the agent is escaped, so a `<script>` in a log line shows as text.
    Anomalies are anchored by id (`#A1`, evidence `#A1.e2`); evidence and context are collapsible and expand
    when printed (in browsers that support `::details-content`).

    Args:
        report: The audit report.

    Returns:
        The HTML document.
    """
    known = {a.id for a in report.anomalies} | {e.id for a in report.anomalies for e in a.evidence if e.id}
    title = f"sleuth audit: {_title_sources(report.sources)}"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # No network at all: a report opened from a ticket must not call out, even for a favicon.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="generator" content="sleuth">',
        f"<title>{_h(title)}</title>",
        f"<style>{_CSS}{_CSS_PRINT_OPEN}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{_h(title)}</h1>",
        f'<p class="muted">Created {_h(report.created)} &middot; report version {_h(report.version)}</p>',
        f"<p>{_h(_summary_sentence(report))}</p>",
        "</header>",
    ]
    out += incidents_html(report.incidents)  # the report leads with the incidents
    if report.explanation:
        out += _html_explanation(report.explanation, known)
    out += ['<section id="anomalies">', "<h2>Anomalies</h2>"]
    if report.anomalies:
        out += [
            "<table>",
            "<thead><tr><th>#</th><th>id</th><th>severity</th><th>score</th><th>threshold</th>"
            "<th>where</th><th>time</th><th>template</th></tr></thead>",
            "<tbody>",
        ]
        for a in report.anomalies:
            template = a.template if a.template is not None else a.text
            out.append(
                f'<tr><td class="n">{a.rank}</td><td><a href="#{_anchor(a.id)}">{_h(a.id)}</a></td>'
                f'<td>{_badge(a.severity)}</td><td class="n">{_num(a.score)}</td><td class="n">{_num(a.threshold)}</td>'
                f"<td><code>{_h(a.where)}</code></td><td>{_h(a.time or '')}</td>"
                f'<td class="t"><code>{_h(_clip(_one_line(template), TEMPLATE_CELL_CHARS * 2))}</code></td></tr>'
            )
        out += ["</tbody>", "</table>"]
        for a in report.anomalies:
            out += _html_anomaly(a)
    else:
        out.append("<p>No anomalies above the threshold.</p>")
    out.append("</section>")
    out += ['<section id="totals">', "<h2>Totals</h2>", '<table class="kv"><tbody>']
    out += [f'<tr><th scope="row">{_h(k)}</th><td class="n">{_h(v)}</td></tr>' for k, v in _totals_rows(report)]
    out += ["</tbody></table>", "</section>"]
    out += _html_skipped(report)
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def _html_explanation(explanation: dict[str, Any], known: set[str]) -> list[str]:
    out = ['<section id="explanation" class="explanation">', "<h2>Explanation</h2>"]
    model = explanation.get("model")
    if model:
        out.append(f'<p class="muted">By {_h(model)}; generated text, check it against the evidence ids.</p>')
    text = explanation.get("text")
    if text:
        # Shown as text, never as HTML or rendered Markdown: the model's output is as untrusted as the logs.
        for para in re.split(r"\n\s*\n", _clean(str(text)).strip()):
            out.append(f"<p>{_link_ids(html.escape(para, quote=True), known)}</p>")
    hypotheses = _hypotheses(explanation)
    if hypotheses:
        out += ["<h3>Hypotheses</h3>", "<ol>"]
        for title, confidence, evidence in hypotheses:
            item = f"<strong>{_h(title)}</strong>"
            if confidence:
                item += f" &middot; confidence {_h(confidence)}"
            if evidence:
                item += f" &middot; evidence {_html_id_list(evidence, known)}"
            out.append(f"<li>{item}</li>")
        out.append("</ol>")
    cites = _citations(explanation)
    if cites:
        out.append(f'<p class="muted">Citations: {_h(cites)}.</p>')
    out.append("</section>")
    return out


def _html_anomaly(a: Anomaly) -> list[str]:
    sev = _sev_class(a.severity)
    out = [
        f'<article class="anomaly {sev}" id="{_anchor(a.id)}">',
        f"<h3>{_h(a.id)} {_badge(a.severity)} <code>{_h(a.where)}</code></h3>",
        "<dl>",
        f"<dt>score</dt><dd>{_num(a.score)} vs threshold {_num(a.threshold)} (detector {_h(a.detector)})</dd>",
    ]
    if a.time:
        out.append(f"<dt>time</dt><dd>{_h(a.time)}</dd>")
    if a.window:
        out.append(f"<dt>window</dt><dd><code>{_h(window_label(a.window, a.where))}</code></dd>")
    if a.level or a.host:
        out.append(f"<dt>level / host</dt><dd>{_h(a.level or _DASH)} / {_h(a.host or _DASH)}</dd>")
    if a.template is not None:
        tid = f"#{a.template_id} " if a.template_id is not None else ""
        out.append(f"<dt>template</dt><dd>{_h(tid)}<code>{_h(a.template)}</code></dd>")
    out += ["</dl>", f'<pre class="line">{_h(a.text)}</pre>']
    if a.evidence:
        out += [f"<details open><summary>Evidence ({len(a.evidence)})</summary>", "<ul>"]
        for e in a.evidence:
            ident = f' id="{_anchor(e.id)}"' if e.id else ""
            head = f"<code>{_h(e.id)}</code> " if e.id else ""
            where = f" <code>{_h(e.where)}</code>" if e.where else ""
            out.append(f"<li{ident}>{head}<strong>{_h(e.kind)}</strong>: {_h(e.summary)}{where}</li>")
        out += ["</ul>", "</details>"]
    if a.context:
        width = max(len(str(c.line)) for c in a.context)
        rows = []
        for c in a.context:
            row = f'<span class="ln">{"&gt;" if c.focus else " "} {c.line:>{width}} </span>{_h(c.text)}'
            rows.append(f'<span class="focus">{row}</span>' if c.focus else row + "\n")
        out += [
            f"<details><summary>Context ({_plural(len(a.context), 'line')})</summary>",
            f'<pre class="ctx">{"".join(rows)}</pre>',
            "</details>",
        ]
    out.append("</article>")
    return out


def _html_skipped(report: Report) -> list[str]:
    total = report.totals.skipped or sum(report.skipped_by_reason.values()) or len(report.skipped)
    out = ['<section id="skipped">', "<h2>Skipped</h2>"]
    if not total and not report.skipped:
        return out + ["<p>Nothing was skipped.</p>", "</section>"]
    if report.skipped_by_reason:
        out += ['<table class="kv"><thead><tr><th>reason</th><th>count</th></tr></thead><tbody>']
        for reason, n in sorted(report.skipped_by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f'<tr><td>{_h(reason)}</td><td class="n">{n}</td></tr>')
        out.append("</tbody></table>")
    if report.skipped:
        shown = f"the first {len(report.skipped)} of {total}" if len(report.skipped) < total else "all"
        out += [f"<details open><summary>Messages ({shown})</summary>", "<ul>"]
        for s in report.skipped:
            where = f"{s.source}:{s.line}" if s.line is not None else s.source
            out.append(f"<li><code>{_h(where)}</code> ({_h(s.reason)}): {_h(s.message)}</li>")
        out += ["</ul>", "</details>"]
    out.append("</section>")
    return out


# ----------------------------------------------------------------------------------------------------- terminal


def print_report(report: Report, console: Console) -> None:
    """Show the report on a console: rendered Markdown on a terminal, the Markdown text itself otherwise.

    Piped output stays plain Markdown so `sleuth audit > report.md` gives the same text as `--format md`.

    Args:
        report: The audit report.
        console: Where to print.
    """
    text = render_markdown(report)
    if console.is_terminal:
        from rich.markdown import Markdown

        console.print(Markdown(text, code_theme="ansi_dark", inline_code_lexer=None))
    else:
        console.print(text, markup=False, emoji=False, highlight=False, soft_wrap=True, end="")

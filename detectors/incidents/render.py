"""The incidents section of a report (Markdown and HTML), from `Triage.to_dict()` as the report stores it.

`detectors.render` calls these so the report leads with the incidents; the ranked anomaly list stays below.
Log text is untrusted: control characters are dropped, Markdown is escaped (or fenced), HTML is escaped.
"""

from __future__ import annotations

import html
import re
from typing import Any

from detectors.terminal import visible

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def _gap(before_s: float) -> str:
    """How long before the onset a change came ("12 min before"), or after it: the engine keeps changes up to a
    few minutes after the onset (a failover that follows the first errors), which are never "before"."""
    gap = abs(float(before_s or 0.0))
    span = f"{gap:.0f} s" if gap < 120 else f"{gap / 60:.0f} min" if gap < 7200 else f"{gap / 3600:.1f} h"
    return f"{span} before" if before_s >= 0 else f"{span} after the onset"


def _changed_heading(changed: list[dict[str, Any]]) -> str:
    return "Changed just before or at the onset" if any((c.get("before_s") or 0) < 0 for c in changed) \
        else "Changed just before"


def _clean(text: Any, limit: int = 300) -> str:
    # Controls (C0 and C1) and bidi characters as visible escapes: detectors.terminal, the one sanitiser.
    s = visible(str(text if text is not None else "").replace("\n", " ")[: limit * 2], limit=None,
                newlines=False).strip()
    return s if len(s) <= limit else s[:limit - 1] + "\u2026"


def _md(text: Any, limit: int = 300) -> str:
    return _MD_SPECIAL.sub(r"\\\1", _clean(text, limit))


def _code(text: Any, limit: int = 300) -> str:
    s = _clean(text, limit).replace("`", "\u02cb")
    return f"`{s}`" if s else ""


def _when(t: str | None) -> str:
    return (t or "").replace("T", " ").replace("Z", " UTC")


def markdown_lines(triage: dict[str, Any] | None) -> list[str]:
    """`## Incidents` (and unrelated activity, time notes) as Markdown lines; [] when there is no triage."""
    if not triage:
        return []
    out = ["## Incidents", ""]
    incidents = triage.get("incidents") or []
    if not incidents:
        out += ["No incident: no error, status or latency rate changed enough over the logs' span.", ""]
    for inc in incidents:
        out += [f"### {_md(inc['id'])} \u00b7 {_md(inc.get('title'), 400)}", ""]
        onset = _when(inc.get("onset_time")) or "unknown (no timestamps; ordered by position)"
        out.append(f"- **Onset:** {_md(onset)} \u00b7 **confidence:** {_md(inc.get('confidence'))} "
                   f"({_md(inc.get('confidence_reason'))})")
        impact = inc.get("impact") or {}
        label = "Failures (no user-facing symptom seen)" if impact.get("user_facing") is False else "Impact"
        out.append(f"- **{label}:** {_md(impact.get('summary'), 400)}")
        shifts = impact.get("explained_by") or []
        if shifts:
            out.append("- **The errors share:** " + ", ".join(
                f"{_code(str(s['field']) + '=' + str(s['value']), 80)} ({s['spike_share']:.0%} of the spike vs "
                f"{s['baseline_share']:.0%} before)" for s in shifts))
        if inc.get("hosts"):
            crossed = " \u2192 ".join(inc["hosts"])
            out.append(f"- **Crossed:** {_md(crossed)}")
        out.append("")
        if inc.get("chain"):
            out += ["**Chain** (by onset, earliest first):", "",
                    "| # | role | change | time | where | host / service | line |",
                    "|--:|------|--------|------|-------|----------------|------|"]
            for i, s in enumerate(inc["chain"], 1):
                place = " / ".join(x for x in (s.get("host"), s.get("service")) if x)
                out.append(f"| {i} | {_md(s['role'])} | {_md(s['change'])} | {_md(_when(s.get('time')))} | "
                           f"{_code(s['where'], 120)} | {_md(place)} | {_code(s.get('text') or s.get('template'), 160)} |")
            out.append("")
        if inc.get("candidates"):
            out += ["**Candidate causes** (ranked):", ""]
            for c in inc["candidates"]:
                where = f" at {_code(c['where'], 120)}" if c.get("where") else ""
                out.append(f"{c['rank']}. {_code(c.get('text'), 200)}{where} ({_md(c['kind'])}) \u2014 "
                           f"{_md('; '.join(c.get('reasons') or []), 400)}")
            out.append("")
        changed = inc.get("changed_before") or []
        if changed:
            out += [f"**{_changed_heading(changed)}:**", ""]
            for ce in changed[:6]:
                out.append(f"- {_md(ce['kind'])}, {_gap(ce.get('before_s', 0))}: {_code(ce.get('text'), 200)} at "
                           f"{_code(ce.get('where'), 120)}")
            out.append("")
    unrelated = triage.get("unrelated") or []
    if unrelated:
        out += ["### Also seen, judged unrelated", ""]
        for u in unrelated:
            place = " / ".join(x for x in (u.get("host"), u.get("service")) if x)
            out.append(f"- {_code(u.get('text'), 160)} at {_code(u['where'], 120)}"
                       f"{' (' + _md(place) + ')' if place else ''}, {u.get('count', 0)} lines \u2014 "
                       f"{_md(u.get('reason'), 300)}")
        out.append("")
    notes = triage.get("notes") or []
    if notes:
        out += ["### Time and inputs", ""]
        out += [f"- {_md(n, 400)}" for n in notes[:20]]
        out.append("")
    return out


def _h(text: Any, limit: int = 300) -> str:
    return html.escape(_clean(text, limit))


def html_lines(triage: dict[str, Any] | None) -> list[str]:
    """The same section as HTML (escaped), for `detectors.render.render_html`."""
    if not triage:
        return []
    out = ['<section id="incidents">', "<h2>Incidents</h2>"]
    incidents = triage.get("incidents") or []
    if not incidents:
        out.append("<p>No incident: no error, status or latency rate changed enough over the logs' span.</p>")
    for inc in incidents:
        out.append(f'<article id="{_h(inc["id"])}"><h3>{_h(inc["id"])} &middot; {_h(inc.get("title"), 400)}</h3>')
        impact = inc.get("impact") or {}
        onset = _when(inc.get("onset_time")) or "unknown (no timestamps)"
        out.append(f"<p><strong>Onset:</strong> {_h(onset)} &middot; <strong>confidence:</strong> "
                   f"{_h(inc.get('confidence'))} ({_h(inc.get('confidence_reason'))})<br>"
                   f"<strong>{'Failures (no user-facing symptom seen)' if impact.get('user_facing') is False else 'Impact'}"
                   f":</strong> {_h(impact.get('summary'), 400)}</p>")
        shifts = impact.get("explained_by") or []
        if shifts:
            out.append("<p><strong>The errors share:</strong> " + ", ".join(
                f"<code>{_h(str(s['field']) + '=' + str(s['value']), 80)}</code> ({s['spike_share']:.0%} vs "
                f"{s['baseline_share']:.0%} before)" for s in shifts) + "</p>")
        if inc.get("chain"):
            out += ["<table><thead><tr><th>#</th><th>role</th><th>change</th><th>time</th><th>where</th>"
                    "<th>host / service</th><th>line</th></tr></thead><tbody>"]
            for i, s in enumerate(inc["chain"], 1):
                place = " / ".join(x for x in (s.get("host"), s.get("service")) if x)
                out.append(f'<tr><td class="n">{i}</td><td>{_h(s["role"])}</td><td>{_h(s["change"])}</td>'
                           f"<td>{_h(_when(s.get('time')))}</td><td><code>{_h(s['where'], 120)}</code></td>"
                           f"<td>{_h(place)}</td><td class=\"t\"><code>{_h(s.get('text') or s.get('template'), 200)}"
                           f"</code></td></tr>")
            out += ["</tbody></table>"]
        if inc.get("candidates"):
            out += ["<h4>Candidate causes</h4>", "<ol>"]
            for c in inc["candidates"]:
                where = f" at <code>{_h(c['where'], 120)}</code>" if c.get("where") else ""
                out.append(f"<li><code>{_h(c.get('text'), 200)}</code>{where} ({_h(c['kind'])}) &mdash; "
                           f"{_h('; '.join(c.get('reasons') or []), 400)}</li>")
            out.append("</ol>")
        changed = inc.get("changed_before") or []
        if changed:
            out += [f"<h4>{_changed_heading(changed)}</h4>", "<ul>"]
            for ce in changed[:6]:
                out.append(f"<li>{_h(ce['kind'])}, {_gap(ce.get('before_s', 0))}: "
                           f"<code>{_h(ce.get('text'), 200)}</code> at <code>{_h(ce.get('where'), 120)}</code></li>")
            out.append("</ul>")
        out.append("</article>")
    unrelated = triage.get("unrelated") or []
    if unrelated:
        out += ["<h3>Also seen, judged unrelated</h3>", "<ul>"]
        for u in unrelated:
            out.append(f"<li><code>{_h(u.get('text'), 160)}</code> at <code>{_h(u['where'], 120)}</code>, "
                       f"{u.get('count', 0)} lines &mdash; {_h(u.get('reason'))}</li>")
        out.append("</ul>")
    notes = triage.get("notes") or []
    if notes:
        out += ["<h3>Time and inputs</h3>", "<ul>"] + [f"<li>{_h(n, 400)}</li>" for n in notes[:20]] + ["</ul>"]
    out.append("</section>")
    return out

"""Report formats for CI: GitHub Actions workflow annotations and JSON lines.

`render_github` writes one workflow command a finding — `::error file=F,line=N,title=T::message` — so a
`sleuth audit` step in a workflow marks the log lines on the run's summary. Severity high is `error`, medium
`warning`, low `notice`; the incidents of the engine (when the report has them) come first, annotated at their
cause. Log text is untrusted: it is escaped as GitHub's runner requires (`%`, CR and LF in messages; also `:`
and `,` in properties), so no log line can start a workflow command of its own, and control characters go.

`render_jsonl` is `detectors.render.render_jsonl` (the one JSON-lines writer): one JSON object a line, the
incidents, the anomalies, one verdict per listed window, then a closing summary line.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["github_escape_data", "github_escape_property", "render_github", "render_jsonl"]

_LEVEL = {"high": "error", "medium": "warning", "low": "notice"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x1b]")


def github_escape_data(text: str) -> str:
    """A workflow command's message, escaped (`%` `\\r` `\\n`), control characters dropped."""
    text = _CONTROL.sub("", text)
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_escape_property(text: str) -> str:
    """A workflow command's property value (file, title), escaped (also `:` and `,`)."""
    return github_escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _split_where(where: str | None) -> tuple[str | None, int | None]:
    if not where:
        return None, None
    source, sep, line = where.rpartition(":")
    if not sep or not line.isdigit():
        return where, None
    return source, int(line)


def _command(level: str, where: str | None, title: str, message: str) -> str:
    source, line = _split_where(where)
    props = []
    if source and "://" not in source and not source.startswith("journal:"):
        props.append(f"file={github_escape_property(source)}")
        if line is not None:
            props.append(f"line={line}")
    elif where:
        message = f"{where}: {message}"  # not a file of the repository: say where in the message
    props.append(f"title={github_escape_property(title)}")
    return f"::{level} {','.join(props)}::{github_escape_data(message)}"


def _incidents(report: Any) -> list[dict[str, Any]]:
    from detectors.render import incident_dicts

    return incident_dicts(report)


def _cause_where(incident: dict[str, Any]) -> str | None:
    for step in incident.get("chain") or []:
        if isinstance(step, dict) and step.get("role") == "cause" and step.get("file"):
            return f"{step['file']}:{step.get('line') or 0}"
    for cand in incident.get("candidates") or []:
        if isinstance(cand, dict) and cand.get("file"):
            return f"{cand['file']}:{cand.get('line') or 0}"
    return None


def render_github(report: Any) -> str:
    """The report as GitHub Actions annotations, one line a finding, then a `::notice` summary line."""
    out = []
    for inc in _incidents(report):
        level = {"high": "error", "medium": "warning"}.get(str(inc.get("confidence")), "notice")
        title = f"sleuth {inc.get('id', 'incident')}: {str(inc.get('title', ''))[:80]}"
        out.append(_command(level, _cause_where(inc), title,
                            f"{inc.get('title', '')} (onset {inc.get('onset_time') or inc.get('onset') or '-'}, "
                            f"confidence {inc.get('confidence', '-')})"))
    for a in report.anomalies:
        title = f"sleuth {a.id} {a.severity} anomaly (score {a.score:.3g} > {a.threshold:.3g})"
        message = f"{a.text}" + (f"\ntemplate T{a.template_id}: {a.template}" if a.template else "")
        out.append(_command(_LEVEL.get(a.severity, "notice"), a.where, title, message[:2000]))
    t = report.totals
    out.append(f"::notice title=sleuth audit::{github_escape_data(f'{t.events} events from {t.sources} source(s); {len(report.anomalies)} anomalies shown, {t.anomalous_windows} anomalous windows of {t.windows}')}")
    return "\n".join(out) + "\n"


def render_jsonl(report: Any) -> str:
    """The report as JSON lines: `detectors.render.render_jsonl` (one writer; kept here for callers of this module)."""
    from detectors.render import render_jsonl as render

    return render(report)

"""Ranked hypotheses, formed deterministically by the incident engine (detectors.incidents), each with its evidence.

The model explains hypotheses; it does not form them. One hypothesis per incident the engine found (its title in
the log's own words, its chain with file:line, its ranked candidate causes and what changed before), ranked as
the engine ranks incidents; the report's anomalies that fall inside an incident's span and sources are its
citable evidence. A report without incidents (the engine skipped, or nothing changed) gives one low-confidence
hypothesis about its strongest anomaly, so there is still something to explain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from detectors.report import Anomaly, Report

LEAD_S = 20 * 60  # anomalies this long before an incident's onset still belong to it


def _weight(a: Anomaly) -> float:
    base = abs(a.threshold) if a.threshold else 1.0
    return max(a.score / base, 0.0) if base else a.score


def _members(inc: dict[str, Any], anomalies: Sequence[Anomaly]) -> list[Anomaly]:
    """The report's anomalies inside the incident: on its chain's lines or keys' templates, or within its span on
    one of its sources."""
    onset, end = inc.get("onset_ts"), inc.get("end_ts")
    sources = set(inc.get("sources") or [])
    wheres = {s.get("where") for s in inc.get("chain") or []} | {c.get("where") for c in inc.get("candidates") or []}
    out = []
    for a in anomalies:
        if a.where in wheres:
            out.append(a)
        elif onset is not None and end is not None and a.ts is not None and a.source in sources \
                and onset - LEAD_S <= a.ts <= end:
            out.append(a)
    return sorted(out, key=_weight, reverse=True)


def _facts(inc: dict[str, Any]) -> list[str]:
    impact = inc.get("impact") or {}
    facts = [f"onset {inc.get('onset_time') or 'unknown (no timestamps)'}; impact: {impact.get('summary', '')}"]
    for s in inc.get("chain") or []:
        facts.append(f"{s['role']}: {s['change']} at {s['where']}"
                     + (f" ({s['time']})" if s.get("time") else "") + f": {str(s.get('text') or '')[:160]}")
    for c in (inc.get("candidates") or [])[:3]:
        facts.append(f"candidate {c['rank']} ({c['kind']}): {str(c.get('text') or '')[:120]}"
                     + (f" at {c['where']}" if c.get("where") else "") + f" \u2014 {'; '.join(c.get('reasons') or [])}")
    for ce in (inc.get("changed_before") or [])[:3]:
        facts.append(f"changed {ce.get('before_s', 0) / 60:.0f} min before: {ce['kind']} at {ce.get('where')}")
    return facts


def form_hypotheses(report: Report, *, limit: int = 3) -> list[dict[str, Any]]:
    """Up to `limit` ranked hypotheses: one per incident of `report.incidents`.

    Each is a dict: id ("H1".. by rank), kind ("incident", or "anomaly" without incidents), title, incident (its id),
    anomalies (ids of the report's anomalies inside it), evidence (ids to cite), confidence, confidence_reason,
    support (the engine's strength), facts (deterministic lines: onset, impact, chain steps with file:line,
    candidates, changes before), chain (the steps' file:line), unrelated (what the engine dismissed, with reasons).
    """
    anomalies = list(report.anomalies)
    triage = report.incidents or {}
    incidents = list(triage.get("incidents") or [])
    out: list[dict[str, Any]] = []
    dismissed = [f"{u['where']}: {u['reason']}" for u in (triage.get("unrelated") or [])[:5]]
    for rank, inc in enumerate(incidents[:limit], 1):
        members = _members(inc, anomalies)
        evidence: list[str] = []
        for a in members[:4]:
            evidence.append(a.id)
            evidence += [e.id for e in a.evidence[:1] if e.id]
        out.append({
            "id": f"H{rank}",
            "kind": "incident",
            "title": inc.get("title", ""),
            "incident": inc.get("id"),
            "anomalies": [a.id for a in members],
            "evidence": evidence[:10],
            "confidence": inc.get("confidence", "low"),
            "confidence_reason": inc.get("confidence_reason"),
            "support": inc.get("strength", 0.0),
            "facts": _facts(inc),
            "chain": [s["where"] for s in inc.get("chain") or []],
            "unrelated": dismissed,
        })
    # Then the runner-up causes of the first incident, as alternative hypotheses.
    if incidents and len(out) < limit:
        inc = incidents[0]
        cands = inc.get("candidates") or []
        top = cands[0] if cands else None
        for c in cands[1:]:
            if len(out) >= limit:
                break
            if top is not None and (c.get("host"), c.get("service"), c.get("kind")) == \
                    (top.get("host"), top.get("service"), top.get("kind")):
                continue
            members = [a for a in anomalies if c.get("where") and a.where == c["where"]] or _members(inc, anomalies)
            out.append({
                "id": f"H{len(out) + 1}",
                "kind": "alternative cause",
                "title": f"{inc.get('id')}: the cause may instead be \u201c{str(c.get('text') or '')[:100]}\u201d"
                         + (f" at {c['where']}" if c.get("where") else "") + f" ({c.get('kind')})",
                "incident": inc.get("id"),
                "anomalies": [a.id for a in members[:4]],
                "evidence": [a.id for a in members[:4]],
                "confidence": "low",
                "confidence_reason": f"ranked {c.get('rank')} of {len(cands)} candidates by the engine",
                "support": c.get("score", 0.0),
                "facts": [f"candidate {c.get('rank')} ({c.get('kind')}): " + "; ".join(c.get("reasons") or [])],
                "chain": [s["where"] for s in inc.get("chain") or []],
                "unrelated": dismissed,
            })
    if not out and anomalies:
        top = max(anomalies, key=_weight)
        out.append({
            "id": "H1",
            "kind": "anomaly",
            "title": f"No incident found; the strongest rare line is {top.id} at {top.where}"
                     + (f" on {top.host}" if top.host else ""),
            "incident": None,
            "anomalies": [top.id],
            "evidence": [top.id] + [e.id for e in top.evidence[:2] if e.id],
            "confidence": "low",
            "confidence_reason": "no error, status or latency rate changed: a rare line, not an incident",
            "support": round(_weight(top), 3),
            "facts": [f"{top.id}: {top.severity} at {top.where}{f' ({top.time})' if top.time else ''}, score "
                      f"{top.score:.3g} vs {top.threshold:.3g}"],
            "chain": [],
            "unrelated": dismissed,
        })
    return out

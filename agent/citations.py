"""The evidence store and the citation check: every claim the model makes must point at evidence that exists.

Ids the model may cite: anomaly (verdict) ids `A3`, evidence ids `A3.e2`, hypothesis ids `H1`, template ids `T17`,
event ids `E4` (lines a tool returned in a conversation) and any `file:line` the store holds. After generation,
`check_citations` resolves every `[...]` citation in the text; unresolvable ones are dropped from the text and
counted, never shown as if they were evidence.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from detectors.report import Report

# A citation in model text: [A1], [A1.e2], [H2], [T17], [E4], [app.log:120], several separated by commas.
_BRACKETS = re.compile(r"\[([^\[\]\n]{1,200})\]")
_ID_SHAPE = re.compile(r"^(?:[AHTE]\d+(?:\.e\d+)?|[^\s,;]+:\d+)$")


@dataclass(slots=True)
class EvidenceItem:
    """One citable fact."""

    id: str
    kind: str  # anomaly | evidence | template | hypothesis | event
    summary: str  # one line, deterministic (never model text)
    where: str | None = None
    score: float | None = None
    threshold: float | None = None
    severity: str | None = None
    template_id: int | None = None


@dataclass
class EvidenceStore:
    """Citable evidence by id, with `file:line` and `T<id>` aliases."""

    items: dict[str, EvidenceItem] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def add(self, item: EvidenceItem) -> EvidenceItem:
        """Add (or replace) an item and its aliases."""
        self.items[item.id] = item
        if item.where:
            self.aliases.setdefault(item.where, item.id)
        if item.template_id is not None:
            self.aliases.setdefault(f"T{item.template_id}", item.id)
        return item

    def resolve(self, token: str) -> str | None:
        """The id a citation token refers to, or None when nothing in the store matches it."""
        token = token.strip().strip("`'\"")
        if token in self.items:
            return token
        if token in self.aliases:
            return self.aliases[token]
        return None

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and self.resolve(token) is not None

    def __len__(self) -> int:
        return len(self.items)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the graph state (checkpointed as JSON-like values)."""
        return {"items": {k: asdict(v) for k, v in self.items.items()}, "aliases": dict(self.aliases)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> EvidenceStore:
        """Rebuild from `to_dict` output (an empty store for None)."""
        if not data:
            return cls()
        return cls({k: EvidenceItem(**v) for k, v in data.get("items", {}).items()}, dict(data.get("aliases", {})))

    @classmethod
    def from_report(cls, report: Report) -> EvidenceStore:
        """Every anomaly, its evidence and its template, from an audit report."""
        store = cls()
        for a in report.anomalies:
            store.add(
                EvidenceItem(
                    id=a.id,
                    kind="anomaly",
                    summary=f"{a.severity} anomaly at {a.where}"
                    + (f" ({a.time})" if a.time else "")
                    + f", score {a.score:.3g} vs threshold {a.threshold:.3g}, by {a.detector}",
                    where=a.where,
                    score=a.score,
                    threshold=a.threshold,
                    severity=a.severity,
                    template_id=a.template_id,
                )
            )
            if a.template_id is not None:
                tid = f"T{a.template_id}"
                if tid not in store.items:
                    store.add(EvidenceItem(tid, "template", f"template {tid}: {a.template or ''}", template_id=a.template_id))
            for e in a.evidence:
                if not e.id:
                    continue
                store.add(EvidenceItem(e.id, "evidence", f"{e.kind}: {e.summary}", where=e.where,
                                       template_id=e.template_id))
        return store


@dataclass(slots=True)
class CitationCheck:
    """What `check_citations` found."""

    text: str  # the text with unresolvable citations removed
    resolved: list[str] = field(default_factory=list)  # the store ids cited, in order, unique
    dropped: list[str] = field(default_factory=list)  # citation tokens that resolved to nothing
    total: int = 0  # citation tokens seen


def _tokens(inside: str) -> list[str]:
    return [t.strip() for t in re.split(r"[,;]\s*|\s+and\s+", inside) if t.strip()]


def check_citations(text: str, store: EvidenceStore, extra: list[str] | None = None) -> CitationCheck:
    """Resolve the `[...]` citations in `text` (and the `extra` ids the model listed separately).

    Brackets whose contents do not look like ids (`[sic]`, `[1/3]`) are left alone; brackets with id-shaped
    tokens keep only the tokens that resolve, and disappear when none does.
    """
    result = CitationCheck(text=text)
    seen: set[str] = set()

    def note(token: str) -> str | None:
        result.total += 1
        target = store.resolve(token)
        if target is None:
            result.dropped.append(token)
            return None
        if target not in seen:
            seen.add(target)
            result.resolved.append(target)
        return token

    def replace(match: re.Match[str]) -> str:
        tokens = _tokens(match.group(1))
        if not tokens or not all(_ID_SHAPE.match(t.strip("`'\"")) for t in tokens):
            return match.group(0)
        kept = [t for t in tokens if note(t) is not None]
        return f"[{', '.join(kept)}]" if kept else ""

    cleaned = _BRACKETS.sub(replace, text)
    for token in extra or []:
        note(str(token))
    # Removing a citation can leave "word ." or double spaces behind.
    cleaned = re.sub(r"[ \t]+([.,;:])", r"\1", cleaned)
    result.text = re.sub(r"[ \t]{2,}", " ", cleaned).strip()
    return result


_CERTAIN = re.compile(r"\b(definitely|certainly|clearly|undoubtedly|without (?:a )?doubt|proves?|the root cause is)\b", re.I)


def hedge(text: str, confidence: str, reason: str | None = None) -> str:
    """Soften certain-sounding wording when the evidence is thin or the detectors disagree.

    High confidence leaves the text as is. Otherwise absolute words become tentative ones and the text is
    prefixed with why it is uncertain.
    """
    if confidence == "high" or not text:
        return text
    softened = _CERTAIN.sub(lambda m: "a likely cause is" if m.group(1).lower() == "the root cause is" else "possibly", text)
    prefix = "Tentatively" if confidence == "medium" else "Low confidence"
    return f"{prefix}{f' ({reason})' if reason else ''}: {softened}"

"""The evidence store and the one citation check every text goes through (model text and deterministic text).

Ids that may be cited: anomaly (verdict) ids `A3`, evidence ids `A3.e2`, hypothesis ids `H1`, incident ids `I1`,
template ids `T17`, event ids `E4` (lines a tool returned in a conversation) and any `file:line` the store holds
(by its full path or, when unambiguous, its file name). `check_citations` finds every citation in a text, bracketed
(`[A1]`, `[app.log:120, A2]`) or bare (`A1`, `app.log:120`), resolves it against the store and checks that it
matches its sentence (the hosts and times the sentence names); unresolvable and mismatched citations
are dropped from the text and counted, never shown as if they were evidence.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from detectors.report import Report

# Citations in any text: bracketed ([A1], [A1.e2], [H2], [I1], [T17], [E4], [app.log:120], several separated by
# commas) and bare ids or file:line references in running text.
_BRACKETS = re.compile(r"\[([^\[\]\n]{1,200})\]")
_ID = r"(?:[AHTEI]\d+(?:\.[a-z]\d+)?)"
_ID_SHAPE = re.compile(rf"^(?:{_ID}|[^\s,;]+:\d+)$")
# A bare evidence id, not part of a longer word ("A1", "I2", "A3.e2"; not "T1000x" or "MD5").
_BARE_ID = re.compile(rf"(?<![\w./:-]){_ID}(?![\w-])")
# A bare file:line: the file part has a letter and an extension or a slash, so that times (03:10) and host:port
# pairs (db-01:5432) are not taken for citations.
# The candidate is the whole run of path characters before ":LINE" (one pass, linear); `_is_file_ref` then checks
# the file part. (One regex for both backtracked cubically on a long run without a dot: 2 s for 2,000 characters
# of a model's reply that quoted a token from a log.)
_BARE_WHERE = re.compile(r"(?<![\w/.-])([\w./-]+):(\d+)(?![\d:])")
_NAME_HEAD = re.compile(r"[\w-]*[A-Za-z][\w-]*")
_NAME_PART = re.compile(r"[\w-]+")
_NAME_EXT = re.compile(r"[A-Za-z0-9]+")


def _is_file_ref(path: str) -> bool:
    """Whether `path` (path characters only) names a file: an absolute path, or a name with a letter and an
    extension (`app.log`, `var/log/syslog.1`), so that times (03:10) and host:port pairs are not citations."""
    if path.startswith("/"):
        return len(path) > 1
    parts = path.rsplit("/", 1)[-1].split(".")
    return (len(parts) >= 2 and _NAME_HEAD.fullmatch(parts[0]) is not None
            and all(_NAME_PART.fullmatch(p) for p in parts[1:-1]) and _NAME_EXT.fullmatch(parts[-1]) is not None)
_TIME = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})(?::(\d{2}))?(?![\d])")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
TIME_SLACK_S = 10 * 60  # a sentence's time and a cited line's time this far apart still match


@dataclass(slots=True)
class EvidenceItem:
    """One citable fact."""

    id: str
    kind: str  # anomaly | evidence | template | hypothesis | incident | step | event
    summary: str  # one line, deterministic (never model text)
    where: str | None = None
    score: float | None = None
    threshold: float | None = None
    severity: str | None = None
    template_id: int | None = None
    host: str | None = None  # the host the line came from, when known
    time: str | None = None  # ISO 8601, when known
    text: str | None = None  # the line as logged (clipped), when the item is a line


_ITEM_FIELDS = {f.name for f in fields(EvidenceItem)}


def _basename_where(where: str) -> str:
    path, _, line = where.rpartition(":")
    return f"{path.rsplit('/', 1)[-1]}:{line}"


@dataclass
class EvidenceStore:
    """Citable evidence by id, with `file:line` (full path and file name) and `T<id>` aliases."""

    items: dict[str, EvidenceItem] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def add(self, item: EvidenceItem) -> EvidenceItem:
        """Add (or replace) an item and its aliases."""
        self.items[item.id] = item
        if item.where:
            self.aliases.setdefault(item.where, item.id)
            short = _basename_where(item.where)
            if short != item.where:
                owner = self.aliases.get(short)
                if owner is None:
                    self.aliases[short] = item.id
                elif owner != item.id and self.items.get(owner) and self.items[owner].where != item.where:
                    self.aliases[short] = ""  # two files share the name: the short form is ambiguous
        if item.template_id is not None:
            self.aliases.setdefault(f"T{item.template_id}", item.id)
        return item

    def add_line(self, where: str, text: str, *, host: str | None = None, time: str | None = None) -> EvidenceItem:
        """The event item for a log line (`E<n>`), added unless the line is already in the store."""
        found = self.resolve(where)
        if found is not None:
            item = self.items[found]
            if item.host is None and host:
                item.host = host
            if item.time is None and time:
                item.time = time
            if item.text is None and text:
                item.text = text
            return item
        n = 1 + sum(1 for k in self.items if k.startswith("E") and k[1:].isdigit())
        return self.add(EvidenceItem(f"E{n}", "event", text, where=where, host=host, time=time, text=text))

    def resolve(self, token: str) -> str | None:
        """The id a citation token refers to, or None when nothing in the store matches it."""
        token = token.strip().strip("`'\"")
        if token in self.items:
            return token
        target = self.aliases.get(token)
        if target:
            return target
        if ":" in token and "/" in token:  # a longer path to a file the store knows by a shorter one
            target = self.aliases.get(_basename_where(token))
            if target and self.items[target].where and token.endswith("/" + str(self.items[target].where).lstrip("/")):
                return target
        return None

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and self.resolve(token) is not None

    def __len__(self) -> int:
        return len(self.items)

    def hosts(self) -> set[str]:
        """Every host the store's items name."""
        return {i.host for i in self.items.values() if i.host}

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the graph state (checkpointed as JSON-like values)."""
        return {"items": {k: asdict(v) for k, v in self.items.items()}, "aliases": dict(self.aliases)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> EvidenceStore:
        """Rebuild from `to_dict` output (an empty store for None)."""
        if not data:
            return cls()
        items = {k: EvidenceItem(**{f: x for f, x in v.items() if f in _ITEM_FIELDS}) for k, v in data.get("items", {}).items()}
        return cls(items, dict(data.get("aliases", {})))

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
                    host=a.host,
                    time=a.time,
                    text=(a.text or "")[:300] or None,
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

    text: str  # the text with unresolvable and mismatched citations removed
    resolved: list[str] = field(default_factory=list)  # the store ids cited, in order, unique
    dropped: list[str] = field(default_factory=list)  # citation tokens that resolved to nothing
    mismatched: list[str] = field(default_factory=list)  # tokens that resolved but contradict their sentence
    total: int = 0  # citation tokens seen

    @property
    def ok(self) -> bool:
        """Whether every citation resolved and matched."""
        return not self.dropped and not self.mismatched

    def counts(self) -> dict[str, Any]:
        """resolved / total / dropped (mismatched ones included), as answers and reports show them."""
        return {"resolved": self.total - len(self.dropped) - len(self.mismatched), "total": self.total,
                "dropped": [*self.dropped, *self.mismatched]}


def _tokens(inside: str) -> list[str]:
    return [t.strip() for t in re.split(r"[,;]\s*|\s+and\s+", inside) if t.strip()]


def _seconds_of_day(iso: str) -> float | None:
    try:
        stamp = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp.hour * 3600 + stamp.minute * 60 + stamp.second


def _mismatch(item: EvidenceItem, sentence: str, hosts: set[str]) -> bool:
    """Whether `item` contradicts what `sentence` says: only other hosts named, or only times far from the item's.
    Items that carry no host / time cannot contradict on it. (Quotes are checked against the evidence by
    `agent.vet`, for model text.)"""
    lowered = sentence.lower()
    named = {h for h in hosts if re.search(rf"(?<![\w-]){re.escape(h.lower())}(?![\w-])", lowered)}
    if named and item.host and item.host not in named and item.kind in ("event", "anomaly", "step", "evidence"):
        return True
    times = [int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3) or 0) for m in _TIME.finditer(sentence)
             if int(m.group(1)) < 24 and int(m.group(2)) < 60]
    own = _seconds_of_day(item.time) if item.time else None
    if times and own is not None and item.kind in ("event", "anomaly", "step"):
        lo, hi = min(times) - TIME_SLACK_S, max(times) + TIME_SLACK_S
        if not any(lo <= own + shift <= hi for shift in (0, 86_400, -86_400)):
            return True
    return False


def check_citations(text: str, store: EvidenceStore, extra: list[str] | None = None) -> CitationCheck:
    """Resolve and match every citation in `text`, bracketed or bare (and the `extra` ids listed separately).

    Brackets whose contents do not look like ids (`[sic]`, `[1/3]`) are left alone; brackets with id-shaped tokens
    keep only the tokens that resolve and match, and disappear when none does. A bare id or `file:line` that does
    not resolve, or contradicts its sentence, is removed from the text the same way.
    """
    result = CitationCheck(text=text)
    seen: set[str] = set()
    hosts = store.hosts()

    def note(token: str, sentence: str) -> bool:
        result.total += 1
        target = store.resolve(token)
        if target is None:
            result.dropped.append(token)
            return False
        if sentence and _mismatch(store.items[target], sentence, hosts):
            result.mismatched.append(token)
            return False
        if target not in seen:
            seen.add(target)
            result.resolved.append(target)
        return True

    # Log text quoted as “…” is shown as logged: brackets, host:port pairs or paths inside it are not citations,
    # and its words are not the sentence's claims. It is set aside while the rest is checked.
    quoted: list[str] = []

    def stash(m: re.Match[str]) -> str:
        quoted.append(m.group(0))
        return f"\x00{len(quoted) - 1}\x00"

    masked = re.sub(r"“[^”\n]*”", stash, text.replace("\x00", " "))
    out: list[str] = []
    for sentence in _split_keep(masked):
        claim = _BRACKETS.sub(" ", sentence)

        def bracket(match: re.Match[str], claim: str = claim) -> str:
            tokens = _tokens(match.group(1))
            if not tokens or not all(_ID_SHAPE.match(t.strip("`'\"")) for t in tokens):
                return match.group(0)
            kept = [t for t in tokens if note(t, claim)]
            return f"[{', '.join(kept)}]" if kept else ""

        # Bare citations outside brackets (so a bracketed one is not counted twice).
        rebuilt: list[str] = []
        for piece in re.split(r"(\[[^\[\]\n]{1,200}\])", sentence):
            if piece.startswith("[") and piece.endswith("]"):
                rebuilt.append(_BRACKETS.sub(bracket, piece))
                continue
            piece = _BARE_WHERE.sub(
                lambda m, c=claim: m.group(0) if not _is_file_ref(m.group(1)) or note(m.group(0), c) else "", piece)
            piece = _BARE_ID.sub(lambda m, c=claim: m.group(0) if note(m.group(0), c) else "", piece)
            rebuilt.append(piece)
        out.append("".join(rebuilt))
    for token in extra or []:
        note(str(token), "")
    cleaned = "".join(out)
    # Removing a citation can leave "word ." or double spaces behind.
    cleaned = re.sub(r"[ \t]+([.,;:])", r"\1", cleaned)
    cleaned = re.sub(r"\(\s*\)", "", cleaned)
    cleaned = re.sub(r"(?<=\S)[ \t]{2,}(?=\S)", " ", cleaned).strip()
    result.text = re.sub(r"\x00(\d+)\x00", lambda m: quoted[int(m.group(1))], cleaned)
    return result


def _split_keep(text: str) -> list[str]:
    """The text cut into sentences, separators kept with the sentence before them (joining gives the text back)."""
    parts: list[str] = []
    last = 0
    for m in _SENTENCE.finditer(text):
        parts.append(text[last:m.end()])
        last = m.end()
    parts.append(text[last:])
    return [p for p in parts if p]


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


def cited_ids(text: str) -> list[str]:
    """The bracketed citation ids in `text`, in order, unique (`A1`, `A1.e2`, `H1`, `file:line`): the one citation
    grammar, shared by the check above and the TUI."""
    out: list[str] = []
    for match in _BRACKETS.finditer(text):
        for token in _tokens(match.group(1)):
            token = token.strip("`'\"")
            if _ID_SHAPE.match(token) and token not in out:
                out.append(token)
    return out

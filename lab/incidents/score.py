"""The rubric `sleuth bench triage` scores a triage with, against a folder's answer key.

A triage (the engine's, or a baseline's) is reduced to a `Prediction`: the top incident's title, onset, top
candidate (text and file:line), and every file:line it cites (chain, candidates, changes). Four marks, each 0..1:

- cause named: the title or the top candidate names the cause: the candidate's file:line is one of the cause's
  lines, or the title's / the candidate's text contains one of the cause's phrases;
- chain cited: the fraction of the key's chain steps with at least one cited file:line among that step's lines;
- red herring not blamed: neither the title nor the top candidate names the red herring (same test as the cause);
- onset: within ±5 minutes of the key's onset.

The folder's score is their mean; a method that reports no incident scores 0 on all four. Nothing here knows how
a prediction was made.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ONSET_TOLERANCE_S = 300.0
MARKS = ("cause", "chain", "herring_ok", "onset")


@dataclass
class Cited:
    """Text with an optional file:line (a title, a candidate, a step)."""

    text: str = ""
    file: str | None = None
    line: int | None = None


@dataclass
class Prediction:
    """What a method says about one folder, reduced to what the rubric reads."""

    title: str = ""
    onset: float | None = None  # epoch seconds
    top: Cited | None = None  # the top-ranked cause candidate
    cited: list[Cited] = field(default_factory=list)  # every file:line the top incident cites
    found: bool = True  # False: the method reported no incident
    seconds: float = 0.0
    error: str | None = None


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def epoch(value: Any) -> float | None:
    """Epoch seconds of an ISO string, a datetime or a number (None when absent)."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return None if value != value else float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    s = str(value).strip().replace("Z", "+00:00")
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        return None
    if d.tzinfo is None:
        from datetime import UTC

        d = d.replace(tzinfo=UTC)
    return d.timestamp()


class Key:
    """An answer key, with its file names resolved against the folder of logs the method was run on."""

    def __init__(self, answer: dict[str, Any], logs: str | Path) -> None:
        self.answer = answer
        self.logs = Path(logs)
        self._root = self.logs.resolve()
        self.files = sorted({str(f) for f in answer.get("lines", {})}, key=len, reverse=True)

    def rel(self, file: str | None) -> str | None:
        """The key's name of a cited file (absolute, relative to the cwd, or relative to the logs folder)."""
        if not file:
            return None
        p = Path(file)
        for cand in (p, self.logs / p):
            try:
                return cand.resolve().relative_to(self._root).as_posix()
            except (ValueError, OSError):
                continue
        s = p.as_posix()
        for f in self.files:
            if s == f or s.endswith("/" + f):
                return f
        return s

    def locations(self, part: dict[str, Any]) -> set[tuple[str, int]]:
        locs = part.get("locations") or [{"file": part.get("file"), "lines": part.get("lines", [])}]
        return {(str(loc["file"]), int(n)) for loc in locs for n in loc.get("lines", [])}

    def names(self, part: dict[str, Any], items: Iterable[Cited]) -> bool:
        """Whether any item names `part` (the cause or the red herring): by file:line or by phrase."""
        lines = self.locations(part)
        phrases = [_norm(p) for p in part.get("phrases", []) if p]
        for it in items:
            if it.file is not None and it.line is not None and (self.rel(it.file), int(it.line)) in lines:
                return True
            text = _norm(it.text or "")
            if text and any(p in text for p in phrases):
                return True
        return False


def score(answer: dict[str, Any], pred: Prediction, logs: str | Path) -> dict[str, float]:
    """The four marks (0..1) and their mean, for one prediction on one folder's logs."""
    key = Key(answer, logs)
    naming = [Cited(pred.title)] + ([pred.top] if pred.top is not None else [])
    if not pred.found:
        naming = []
    cause = key.names(answer["cause"], naming)
    blamed = key.names(answer["red_herring"], naming)
    cited = {(key.rel(c.file), int(c.line)) for c in pred.cited if c.file and c.line is not None}
    if pred.top is not None and pred.top.file and pred.top.line is not None:
        cited.add((key.rel(pred.top.file), int(pred.top.line)))
    steps = answer.get("chain", [])
    hit = 0
    for st in steps:
        lines = {(str(st["file"]), int(n)) for n in st.get("lines", [])}
        if lines & cited:
            hit += 1
    chain = hit / len(steps) if steps else 0.0
    onset_ok = False
    truth = epoch(answer.get("onset"))
    if pred.found and pred.onset is not None and truth is not None:
        onset_ok = abs(pred.onset - truth) <= ONSET_TOLERANCE_S
    # Reporting no incident earns nothing, not even "red herring not blamed".
    marks = {"cause": float(cause), "chain": chain, "herring_ok": float(pred.found and not blamed),
             "onset": float(onset_ok)}
    marks["score"] = sum(marks[m] for m in MARKS) / len(MARKS)
    return marks


# --- adapters: what each method reports, reduced to a Prediction ---------------------------------------------------


def from_triage(t: Any, seconds: float = 0.0) -> Prediction:
    """The engine's `Triage` (or its `to_dict()`): its first incident."""
    d = t if isinstance(t, dict) else t.to_dict()
    incs = d.get("incidents") or []
    if not incs:
        return Prediction(found=False, seconds=seconds)
    inc = incs[0]
    cands = inc.get("candidates") or []
    top = None
    if cands:
        c = cands[0]
        top = Cited(str(c.get("text") or ""), c.get("file"), c.get("line"))
    cited = [Cited(str(s.get("text") or ""), s.get("file"), s.get("line"))
             for part in ("chain", "candidates", "changed_before") for s in inc.get(part) or []]
    onset = epoch(inc.get("onset_ts")) if inc.get("onset_ts") is not None else epoch(inc.get("onset"))
    return Prediction(str(inc.get("title") or ""), onset, top, cited, True, seconds)


def from_anomalies(anomalies: list[dict[str, Any]], seconds: float = 0.0) -> Prediction:
    """An audit report's ranked anomalies: the top one is the cause, its time the onset; all are cited."""
    if not anomalies:
        return Prediction(found=False, seconds=seconds)
    a = anomalies[0]
    top = Cited(str(a.get("text") or a.get("template") or ""), a.get("source"), a.get("line"))
    cited = [Cited("", x.get("source"), x.get("line")) for x in anomalies]
    return Prediction("", epoch(a.get("ts")), top, cited, True, seconds)

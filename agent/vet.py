"""Checks on model text before anyone sees it, and the repetition guard of the embedded engine.

A model may only rephrase or condense the deterministic answer (`agent.answer`). `vet_model_text` keeps its text
only if it carries no prompt markup, repeats nothing, cites evidence for every claim (each citation resolving and
matching its sentence, see `agent.citations`) and names no host, file, time, number or quote that is absent from
the evidence; otherwise it says why, and the deterministic answer stands.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from agent.citations import CitationCheck, EvidenceStore, check_citations

# What must never reach a user or a saved session: our delimiters, chat-template tokens, role prefixes, echoed
# prompt headings.
MARKUP = re.compile(
    r"<<<|>>>|\bEND DATA\b|\bDATA [0-9a-f]{8}\b|<\|[^|<>\n]{0,40}\|>|</?s>|\[/?INST\]|</?tool_call>|<<\s*/?SYS\s*>>"
    r"|^\s*(?:question|answer|facts?|findings|tool results|system|user|assistant|human|ai)\s*:"
    # the rephrasing prompt's own framing, echoed ("The engineer asked: …", "The facts are: …")
    r"|\bthe engineer asked\b|^\s*the facts(?: are)?\s*:|\bmore lines the tools returned\b",
    re.I | re.M,
)
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")
_CITATION = re.compile(r"\[[^\[\]\n]{1,200}\]")
_HOSTISH = re.compile(r"(?<![\w./-])([a-z][a-z0-9]*(?:[-_][a-z0-9]+)*[-_]\d+[a-z0-9]*)(?![\w/-])", re.I)
_CLOCK = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})(?::\d{2})?(?![\d])")
_NUMBER = re.compile(r"(?<![\w.:-])(\d{2,}(?:\.\d+)?)(?![\w:])")
_FILE = re.compile(r"(?<![\w/.-])([\w.-]+\.(?:log|txt|out|err|jsonl?|csv|gz))(?![\w])", re.I)
_QUOTE = re.compile(r"[\"“]([^\"”\n]{6,200})[\"”]")
_WORDS = re.compile(r"[A-Za-z]{2,}")
# A sentence this long states something: it must cite, however plain its words ("The root cause of I1 is a failure to
# enable slave." named no host, time or quote, cited nothing, and was wrong).
CLAIM_WORDS = 6


def has_markup(text: str) -> bool:
    """Whether `text` carries prompt markup (delimiters, chat tokens, role prefixes, echoed headings)."""
    return MARKUP.search(text) is not None


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", _CITATION.sub(" ", text.lower())).strip()


def repeats(text: str, *, ngram: int = 6, times: int = 3) -> bool:
    """Whether `text` repeats itself: a sentence twice, or a run of `ngram` words `times` times."""
    sentences = [_norm(s) for s in _SENTENCES.split(text) if len(_norm(s)) > 6]
    if len(sentences) != len(set(sentences)):
        return True
    words = _norm(text).split()
    grams = Counter(tuple(words[i:i + ngram]) for i in range(max(0, len(words) - ngram + 1)))
    return any(n >= times for n in grams.values())


@dataclass(slots=True)
class Vetted:
    """The verdict on a model's text."""

    ok: bool
    text: str  # the text as checked (citations resolved), when ok
    reason: str = ""  # why it was rejected
    citations: CitationCheck | None = None


def vet_model_text(text: str, store: EvidenceStore, evidence_texts: Iterable[str], *, names: Iterable[str] = (),
                   require_citation: bool = True, max_chars: int | None = None) -> Vetted:
    """Keep a model's rephrasing only if it is clean, cited and grounded.

    Args:
        text: What the model wrote.
        store: The evidence its citations must resolve in.
        evidence_texts: The deterministic answer and every cited line: what the text may name.
        names: Further names that may appear (hosts, services, files of the logs).
        require_citation: Every sentence that names a host, time, file, number or quote must cite evidence.
        max_chars: Longer than this is rambling.
    """
    text = text.strip()
    if not text:
        return Vetted(False, "", "the model wrote nothing")
    if has_markup(text):
        return Vetted(False, "", "the model's text carries prompt markup")
    if repeats(text):
        return Vetted(False, "", "the model's text repeats itself")
    if max_chars is not None and len(text) > max_chars:
        return Vetted(False, "", f"the model's text is longer than the answer it was to condense ({len(text)} characters)")
    checked = check_citations(text, store)
    if not checked.ok:
        bad = [*checked.dropped, *checked.mismatched]
        return Vetted(False, "", f"the model cited evidence that does not resolve or match ({', '.join(bad[:4])})", checked)
    corpus = " ".join(evidence_texts).lower()
    allowed = corpus + " " + " ".join(n.lower() for n in names)
    clocks = {f"{int(h):02d}:{m}" for h, m in _CLOCK.findall(corpus)}
    for pattern, what in ((_HOSTISH, "host"), (_FILE, "file"), (_NUMBER, "number")):
        for m in pattern.finditer(_CITATION.sub(" ", text)):
            if m.group(1).lower() not in allowed:
                return Vetted(False, "", f"the model named a {what} that is not in the evidence ({m.group(1)!r})", checked)
    for h, m in _CLOCK.findall(_CITATION.sub(" ", text)):
        if f"{int(h):02d}:{m}" not in clocks:
            return Vetted(False, "", f"the model named a time that is not in the evidence ({h}:{m})", checked)
    flat = " ".join(corpus.replace("…", " ").split())
    for quote in _quotes(text):
        q = " ".join(quote.lower().replace("…", " ").split())
        if q and q not in flat and q[: max(8, len(q) - 3)] not in flat:
            return Vetted(False, "", "the model quoted text that is not in the evidence", checked)
    if require_citation:
        for sentence in _SENTENCES.split(text):
            bare = _CITATION.sub(" ", sentence)
            claims = (_HOSTISH.search(bare) or _CLOCK.search(bare) or _FILE.search(bare) or _NUMBER.search(bare)
                      or _QUOTE.search(bare) or len(_WORDS.findall(bare)) >= CLAIM_WORDS)
            if claims and not _CITATION.search(sentence):
                return Vetted(False, "", "a claim in the model's text cites no evidence", checked)
        if checked.total == 0:
            return Vetted(False, "", "the model's text cites no evidence", checked)
    return Vetted(True, checked.text, "", checked)


def _quotes(text: str) -> list[str]:
    """Quoted passages: “…” ones, else "…" ones (log text may hold straight quotes inside curly ones)."""
    curly = re.findall(r"“([^”\n]{6,300})”", text)
    return curly or re.findall(r'"([^"\n]{6,200})"', text)


class RepetitionGuard:
    """Stops a generation that loops: fed the text as it streams, `looping` turns true once the tail repeats.

    A small model at temperature 0 falls into cycles ("the disk filled. the disk filled. ..."); the engine stops
    there instead of running to its token or time bound.
    """

    def __init__(self, *, window: int = 24, times: int = 3, min_chars: int = 12) -> None:
        self.window = window
        self.times = times
        self.min_chars = min_chars
        self.text = ""

    def feed(self, chunk: str) -> bool:
        """Add a chunk; True when the text now loops."""
        self.text += chunk
        return self.looping

    @property
    def looping(self) -> bool:
        """Whether the text's tail repeats."""
        tail = self.text[-self.window * self.times * 4:]
        for size in range(self.min_chars, self.window * 4 + 1):
            unit = tail[-size:]
            if len(tail) >= size * self.times and tail.endswith(unit * self.times):
                return True
        sentences = [_norm(s) for s in _SENTENCES.split(self.text) if len(_norm(s)) > self.min_chars]
        counts = Counter(sentences)
        return bool(counts) and max(counts.values()) >= self.times

    def trimmed(self) -> str:
        """The text without the repeated tail (the first occurrence kept)."""
        text = self.text
        for size in range(self.min_chars, self.window * 4 + 1):
            unit = text[-size:]
            if len(text) >= size * 2 and text.endswith(unit * 2):
                while text.endswith(unit * 2):
                    text = text[:-size]
                return text
        return text

"""The diff detector: what a failed run says that a good run never did, line by line (logreduce's idea).

Every line of the good run (the `--baseline`) and of the audited run is reduced to its words: timestamps, UUIDs,
addresses, numbers, ids and random-looking tokens are dropped, the rest lower-cased; tokens that are variables by
their shape keep only their slot: host names ('api.github.com', 'qq.com:80') become 'host', e-mail addresses
'mail', and the value of a `key=value` pair 'value' unless it reads as a failure ('state=FAILED' stays). Identical
word lists are stored once. Words are compared with their English inflection folded ('Activating swap' is the good run's 'Activated
swap', '2 file systems, 3 warnings' its '1 file system, 1 warning': the same event in another tense or number, the
number itself being dropped already). The baseline's distinct lines become binary hashing vectors (l2-normalised) in a scikit-learn
nearest-neighbour index (cosine, brute force); each audited line scores the cosine distance to its nearest good
line (0: the good run has it, 1: no word in common). A line of a template (Drain's) that the good run has, where the
template keeps at least the share of the line's words a match needs and the words its closest good line lacks say
nothing of a failure, is compared by the template's constant words instead: the same event with another user, file
or class name is not new. Lines at or above a fixed, label-free distance are new;
consecutive new lines form one block, and a block is one finding, shown with the nearest good line as evidence
("closest in the good run: ...").

Works on any size of log (a 17-line failed run is fine: lines, not windows, are compared). A baseline that has
next to nothing in common with the audited logs (another system, another format) is refused with a message
instead of flagging every line.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from detectors.base import (
    Detector,
    DetectorError,
    Evidence,
    LogWindow,
    NotEnoughData,
    NotFitted,
    Sample,
    register,
    severity,
)
from detectors.events import Event
from detectors.eventtable import EventTable

if TYPE_CHECKING:
    from detectors.report import Anomaly
    from detectors.templates import TemplateStore
    from detectors.windows import Windows

# A line whose words have a cosine distance of at least this to every good line is new. 0.3 means that the line
# shares less than about 70 % of its words with its closest good line (e.g. 3 of 10 words changed). Fixed, not
# fitted: a good run is one sample, and its own line-to-line distances say nothing about the failed run's.
THRESHOLD = 0.3
# A word that occurs nowhere in the baseline counts this much more than a known one ('result: FAILURE' against
# 'result: SUCCESS' is a new line even though most of its words are known).
NEW_WORD_WEIGHT = 2.0
MAX_TOKENS = 256  # words kept per line (a folded stack trace or a huge JSON line is cut here)
N_FEATURES = 1 << 20
# The baseline is judged unrelated when more than half of the audited lines are new and at most this share of the
# audited words occur in it (or when 90 % of the lines are new and at most half of the words occur in it). Splits of
# one log (first half as the baseline of the second) of the 13 Loghub systems stay at <= 45 % new lines.
UNRELATED_WORD_SHARE = 0.3

_DROP = re.compile(
    "|".join((
        r"\b[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\b",  # UUIDs
        r"\b(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+(?=\d|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))",
        r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}\b",  # 'Jun 20'
        r"\b\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b",  # '20 Jun'
        r"\b(?:am|pm|utc|gmt|cest|cet|pst|pdt|est|edt)\b(?=\s|$)",
    )),
    re.IGNORECASE,
)
# Names that are variables by their shape: host names and domains ('api.github.com', 'host8.topspot.net', a
# 'name.domain' with a port) and e-mail addresses. Which host a line talks to is a value, like an address or a
# number; the words around it say what happened. Lower-case labels only, so that code paths such as
# 'com.android.server.wm.WindowStateAnimator' (a class, part of the message) are kept.
_HOST = re.compile(r"(?<![\w./@-])[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)+(?![\w@-]|\.\w|/)")
_MAIL = re.compile(r"[\w.+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+")
# The value of a `key=value` pair ('rhost=...', 'user=guest', 'mExpandedVisible=true'): its key names it a variable;
# the key stays. A value that reads as a failure ('state=FAILED', 'reason="connection refused"') stays too.
_VALUE = re.compile(r"(?<=[\w\])])=(?![=>])(\"[^\"\n]{0,200}\"|'[^'\n]{0,200}'|[^\s,;&)\]}'\"]+)")
_FAILURE = re.compile(r"fail|err|fatal|abort|den(?:y|ied)|refus|reject|time[ds]?[ _-]?out|crash|panic|kill|exception|"
                      r"invalid|unreachable|corrupt|missing|not[ _-]found|unavailable|critical|severe|broken|lost",
                      re.IGNORECASE)
_PLACEHOLDER = re.compile(r"<[^<>\s]{1,16}>")  # Drain's '<*>' and the masks' '<IP>', '<NUM>', ...
_SPLIT = re.compile(r"[^A-Za-z0-9_\-]+")
# Mixed-case tokens whose case changes too often to be a word or CamelCase name: random suffixes like 'rhaVaW'.
_RANDOM = re.compile(r"[a-z][A-Z][a-z]?[A-Z]|[A-Z]{2}[a-z][A-Z]")


_VOWEL = re.compile(r"[aeiouy]")


def word_form(word: str) -> str:
    """A word with its English inflection folded away, so that tense and number variants of one event compare equal.

    A light version of Porter's step 1 (no derivational suffixes): plural -s/-es/-ies, past -ed, progressive -ing,
    a doubled final consonant undone and a final -e dropped ('Started'/'Starting', 'Activated'/'Activating',
    'error'/'errors', 'stopped'/'stopping' each fold to one form). Words of up to 3 letters, words whose stem would
    keep no vowel ('string', 'red'), and -s after s/u/i ('status', 'process', 'analysis') are left alone.

    >>> [word_form(w) for w in ("activated", "activating", "activate", "errors", "stopped", "status", "string")]
    ['activat', 'activat', 'activat', 'error', 'stop', 'status', 'string']
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    stem = word
    # Number first ('warnings' -> 'warning'), then tense ('warning' -> 'warn'), as Porter's steps 1a and 1b.
    if stem.endswith("ies") and len(stem) > 4:
        stem = stem[:-3] + "y"
    elif stem.endswith(("sses", "xes", "zes", "ches", "shes")):
        stem = stem[:-2]
    elif stem.endswith("s") and not stem.endswith(("ss", "us", "is")):
        stem = stem[:-1]
    if stem.endswith(("ing", "ed")):
        cut = stem[:-3] if stem.endswith("ing") else stem[:-2]
        if len(cut) >= 3 and _VOWEL.search(cut):
            stem = cut[:-1] if len(cut) >= 4 and cut[-1] == cut[-2] and cut[-1] not in "aeiouslz" else cut
    if stem.endswith("e") and len(stem) >= 4:
        stem = stem[:-1]
    return stem


def fold_key(key: str) -> str:
    """A line key (see `line_key`) with every word's inflection folded (`word_form`): what the vectors compare."""
    return " ".join(word_form(w) for w in key.split())


def _host(match: re.Match[str]) -> str:
    """'host' for a host name: three labels or more ('api.github.com'), or two with a port ('qq.com:80'), the last
    one with a letter (an IP address or a version stays: its numbers are dropped anyway)."""
    name, end, text = match.group(0), match.end(), match.string
    if name.rpartition(".")[2].isdigit():
        return name
    if name.count(".") >= 2 or (text.startswith(":", end) and text[end + 1:end + 2].isdigit()):
        return " host "
    return name


def _value(match: re.Match[str]) -> str:
    """'=value' for a value (the slot stays, so that 'state=FAILED' still differs from 'state=OK'), unless it reads as
    a failure."""
    return match.group(0) if _FAILURE.search(match.group(1)) else "=value "


def line_key(text: str) -> str:
    """The words of a log line that say what happened: no numbers, ids, dates or random tokens; lower case.

    >>> line_key("2017-06-24 13:36:02,950 DEBUG: Bad exit status from /var/tmp/rpm-tmp.rhaVaW (%install)")
    'debug bad exit status from var tmp rpm-tmp install'
    """
    text = _DROP.sub(" ", text[:8192])
    if "@" in text:
        text = _MAIL.sub(" mail ", text)
    text = _VALUE.sub(_value, _HOST.sub(_host, text))
    words: list[str] = []
    for token in _SPLIT.split(text):
        token = token.strip("-_")
        if len(token) < 2 or any(c.isdigit() for c in token) or _RANDOM.search(token):
            continue
        words.append(token.lower())
        if len(words) >= MAX_TOKENS:
            break
    return " ".join(words)


@dataclass(slots=True)
class LineKeys:
    """The word key of every event of one event table, interned: `ids[i]` indexes `texts`."""

    ids: np.ndarray  # int64, one per event
    texts: list[str]  # distinct keys
    extent: np.ndarray  # int32, physical lines each event spans (folded continuation lines included)
    filled: np.ndarray  # int32, the non-blank ones among them


class LineKeyer:
    """Collects the keys of events as they are read (the audit's ingest calls `add` per event)."""

    def __init__(self, key: Callable[[str], str] = line_key) -> None:
        self.key = key
        self.index: dict[str, int] = {}
        self.texts: list[str] = []
        self.ids = array("q")
        self.extent = array("i")
        self.filled = array("i")

    def add(self, event: Event) -> None:
        """Record one event's key."""
        k = self.key(event.text)
        i = self.index.get(k)
        if i is None:
            i = self.index[k] = len(self.texts)
            self.texts.append(k)
        self.ids.append(i)
        if "\n" in event.raw:
            parts = event.raw.split("\n")
            self.extent.append(len(parts))
            self.filled.append(sum(1 for p in parts if p.strip()))
        else:
            self.extent.append(1)
            self.filled.append(1)

    def freeze(self) -> LineKeys:
        """The collected keys as arrays."""
        def ints(values: array, dtype: type) -> np.ndarray:
            return np.frombuffer(values, dtype=dtype) if len(values) else np.zeros(0, dtype)

        return LineKeys(ints(self.ids, np.int64), self.texts, ints(self.extent, np.int32), ints(self.filled, np.int32))


def _vectorizer() -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(n_features=N_FEATURES, token_pattern=r"\S+", lowercase=False, binary=True, norm="l2",
                             alternate_sign=False)


@register
class DiffDetector(Detector):
    """New lines of a failed run against a good run: nearest-neighbour cosine distance of their words.

    Args:
        threshold: Lines whose distance to every good line reaches this are new (0..1; 0.3 by default).
        check_related: Refuse a baseline that has next to nothing in common with the audited logs.
    """

    name: ClassVar[str] = "diff"
    modalities: ClassVar[frozenset[str]] = frozenset({"logs"})
    line_level: ClassVar[bool] = True  # the audit hands it one window per line and lets it group the lines

    def __init__(self, threshold: float = THRESHOLD, check_related: bool = True) -> None:
        if not 0.0 < float(threshold) <= 1.0:
            raise DetectorError(f"diff threshold must be in (0, 1], got {threshold}")
        self.distance = float(threshold)
        self.check_related = bool(check_related)
        self._lines: dict[int, tuple[EventTable, LineKeys]] = {}
        self._scored: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # table id -> (distance, nearest) per key
        self._audited: tuple[EventTable, LineKeys] | None = None  # the table `score` saw last (not the baseline)
        self.fitted = False
        self._template_text: Callable[[int], str] | None = None

    # -- lines ---------------------------------------------------------------------------------------------------

    def line_keyer(self) -> LineKeyer:
        """A collector of line keys for one read of logs (the audit calls `bind_lines` with what it collected)."""
        return LineKeyer()

    def bind_templates(self, template_text: Callable[[int], str]) -> None:
        """Keep the audit's template lookup: a line of a template the good run has is compared by its constant words."""
        self._template_text = template_text

    def bind_lines(self, table: EventTable, keys: LineKeys) -> None:
        """Attach the line keys of an event table; `fit` and `score` find them through their windows' table."""
        if len(keys.ids) != len(table):
            raise ValueError(f"{len(keys.ids)} line keys for {len(table)} events")
        self._lines[id(table)] = (table, keys)

    def _keys_of(self, samples: Sequence[Sample]) -> tuple[EventTable, LineKeys]:
        table = getattr(samples, "table", None)
        found = self._lines.get(id(table)) if table is not None else None
        if found is None:
            raise DetectorError("the diff detector compares the lines of an audit with a baseline; run it through "
                                "`sleuth audit FAILED.log --baseline GOOD.log` (or detectors.pipeline.audit)")
        return found

    # -- fitting -------------------------------------------------------------------------------------------------

    def fit(self, samples: Sequence[Sample]) -> Self:
        from sklearn.neighbors import NearestNeighbors

        table, keys = self._keys_of(samples)
        events = np.unique(np.asarray(samples.members))  # type: ignore[attr-defined]
        if len(events) == 0:
            raise NotEnoughData("the baseline has no lines to compare with")
        kids, first = np.unique(keys.ids[events], return_index=True)
        texts = [keys.texts[int(k)] for k in kids]
        keep = [j for j, t in enumerate(texts) if t]
        if not keep:
            raise NotEnoughData("the baseline's lines hold no words to compare with (only numbers, ids or symbols)")
        self.base_table = table
        self.base_texts = [texts[j] for j in keep]
        self.base_event = events[first[keep]]  # the first baseline event of each distinct key
        self.base_index = {t: j for j, t in enumerate(self.base_texts)}
        self.base_words = {w for t in self.base_texts for w in t.split()}
        self.base_lines = int(len(events))
        self.vectorizer = _vectorizer()
        base = self.vectorizer.transform([fold_key(t) for t in self.base_texts])
        self.known_columns = np.zeros(N_FEATURES, dtype=bool)
        self.known_columns[base.indices] = True
        self.nn = NearestNeighbors(n_neighbors=1, metric="cosine", algorithm="brute").fit(base)
        self.base_templates = frozenset(int(t) for t in np.unique(table.template[events]))
        self.threshold = self.distance
        self.fitted = True
        self._scored.clear()
        return self

    def fit_description(self, fitted_on: str) -> str:
        return f"{fitted_on}; {len(self.base_texts)} distinct lines (by their words) to compare with"

    def threshold_rule(self) -> str:
        """How the threshold was set, for the report."""
        return (f"a line is new when the cosine distance of its words (numbers, ids and dates dropped, inflections "
                f"folded) to its "
                f"nearest line in the baseline is >= {self.threshold:g} (fixed: less than ~{1 - self.threshold:.0%} "
                f"of its words shared; host names and key=value values count as their slot, and a line of a "
                f"template the baseline has is compared by the template's words unless what differs reads as a "
                f"failure); consecutive new lines form one finding")

    def describe_windows(self) -> str:
        """What the report's windowing line says."""
        return "each line compared with its nearest baseline line; consecutive new lines grouped into blocks"

    # -- scoring -------------------------------------------------------------------------------------------------

    def _key_distances(self, table: EventTable, keys: LineKeys) -> tuple[np.ndarray, np.ndarray]:
        """(distance, nearest baseline key) of every distinct key of a table, computed once per table."""
        cached = self._scored.get(id(table))
        if cached is not None and len(cached[0]) == len(keys.texts):
            return cached
        n = len(keys.texts)
        dist = np.zeros(n)
        nearest = np.full(n, -1, dtype=np.int64)
        todo: list[int] = []
        for i, text in enumerate(keys.texts):
            j = self.base_index.get(text)
            if j is not None:
                nearest[i] = j
            elif text:  # a line of no words (separators, bare numbers) carries nothing to compare
                todo.append(i)
        for lo in range(0, len(todo), 4096):
            part = todo[lo:lo + 4096]
            d, j = self.nn.kneighbors(self._vectors([keys.texts[i] for i in part]))
            dist[part] = np.clip(d[:, 0], 0.0, 1.0)
            nearest[part] = j[:, 0]
        if table is not getattr(self, "base_table", None):
            self._same_template(table, keys, dist, nearest)
        self._scored[id(table)] = (dist, nearest)
        return dist, nearest

    def _same_template(self, table: EventTable, keys: LineKeys, dist: np.ndarray, nearest: np.ndarray) -> None:
        """New lines of a template the good run has, whose new words say nothing of a failure, are compared by the
        template's constant words (Drain's): the same event with other values (a user, a file, a class name) is not
        new. A line whose words that its closest good line lacks read as a failure ('result: FAILURE' in the template
        of 'result: SUCCESS') keeps its distance."""
        if self._template_text is None:
            return
        new = np.nonzero(dist >= self.threshold)[0]
        if len(new) == 0:
            return
        first = np.full(len(keys.texts), -1, dtype=np.int64)
        kids, at = np.unique(keys.ids, return_index=True)
        first[kids] = at
        todo: list[tuple[int, str]] = []
        for k in new:
            e = int(first[k])
            if e < 0:
                continue
            tid = int(table.template[e])
            if tid not in self.base_templates:
                continue
            near = set(self.base_texts[int(nearest[k])].split()) if nearest[k] >= 0 else set()
            fresh = " ".join(w for w in keys.texts[k].split() if w not in near)
            if fresh and _FAILURE.search(fresh):
                continue
            tkey = line_key(_PLACEHOLDER.sub(" ", self._template_text(tid)))
            # A few variable slots, not a loose match: the template keeps at least the share of the line's words
            # that a line must share with a good one (1 - threshold), as the plain comparison asks.
            if tkey and len(tkey.split()) >= (1.0 - self.threshold) * len(keys.texts[k].split()):
                todo.append((int(k), tkey))
        if not todo:
            return
        d, j = self.nn.kneighbors(self._vectors([t for _, t in todo]))
        for (key, _), dk, jk in zip(todo, d[:, 0], j[:, 0], strict=True):
            if dk < dist[key]:
                dist[key], nearest[key] = max(float(dk), 0.0), int(jk)

    def _vectors(self, texts: list[str]) -> Any:
        """Binary word vectors of audited lines; a word the baseline never has weighs `NEW_WORD_WEIGHT`."""
        from sklearn.preprocessing import normalize

        X = self.vectorizer.transform([fold_key(t) for t in texts])  # l2-normalised binary (cosine ignores scale)
        X.data[~self.known_columns[X.indices]] *= NEW_WORD_WEIGHT
        return normalize(X)

    def line_distances(self, table: EventTable) -> np.ndarray:
        """Each event's distance to its nearest baseline line (after `score` saw the table, or now)."""
        if not self.fitted:
            raise NotFitted("call fit() with the baseline's lines first")
        found = self._lines.get(id(table))
        if found is None:
            raise DetectorError("no line keys were bound for this event table")
        dist, _ = self._key_distances(*found)
        return dist[found[1].ids]

    def score(self, samples: Sequence[Sample]) -> np.ndarray:
        if not self.fitted:
            raise NotFitted("call fit() with the baseline's lines first")
        table, keys = self._keys_of(samples)
        dist, _ = self._key_distances(table, keys)
        per_event = dist[keys.ids]
        offsets = np.asarray(samples.offsets)  # type: ignore[attr-defined]
        members = np.asarray(samples.members)  # type: ignore[attr-defined]
        out = np.zeros(len(offsets) - 1)
        nonempty = np.diff(offsets) > 0
        if len(members):
            out[nonempty] = np.maximum.reduceat(per_event[members], offsets[:-1][nonempty])
        self._audited = (table, keys)
        if self.check_related and table is not self.base_table:
            self._check_related(table, keys, per_event)
        return out

    def _check_related(self, table: EventTable, keys: LineKeys, per_event: np.ndarray) -> None:
        """Refuse a baseline that shares next to nothing with the audited logs (it would flag every line)."""
        worded = np.array([bool(t) for t in keys.texts])[keys.ids]
        if not worded.any():
            return
        new_share = float((per_event[worded] >= self.threshold).mean())
        words = {w for t in keys.texts for w in t.split()}
        shared = len(words & self.base_words) / max(len(words), 1)
        if (new_share > 0.5 and shared <= UNRELATED_WORD_SHARE) or (new_share >= 0.9 and shared <= 0.5):
            base = ", ".join(self.base_table.sources[:3]) or "the baseline"
            audited = ", ".join(table.sources[:3]) or "the audited logs"
            raise DetectorError(
                f"the baseline {base} has next to nothing in common with {audited}: {new_share:.0%} of the audited "
                f"lines are new and only {shared:.0%} of their words occur in the baseline. Give a good run of the "
                f"same job or system as --baseline (same log format), or audit without --baseline")

    def element_scores(self, sample: Sample) -> np.ndarray | None:
        if not isinstance(sample, LogWindow) or self._audited is None:
            return None
        dist, _ = self._key_distances(*self._audited)
        return dist[self._audited[1].ids[np.asarray(sample.events)]]

    def member_scores(self, samples: Sequence[Sample]) -> np.ndarray | None:
        table = getattr(samples, "table", None)
        found = self._lines.get(id(table)) if table is not None else None
        if found is None or not self.fitted:
            return None
        dist, _ = self._key_distances(*found)
        return dist[found[1].ids[np.asarray(samples.members)]]  # type: ignore[attr-defined]

    # -- evidence ------------------------------------------------------------------------------------------------

    def nearest(self, table: EventTable, event: int) -> tuple[float, int | None]:
        """(distance, baseline event index of the closest good line) of one audited event."""
        found = self._lines.get(id(table))
        if found is None:
            return float("nan"), None
        dist, nearest = self._key_distances(*found)
        k = int(found[1].ids[event])
        j = int(nearest[k])
        return float(dist[k]), (int(self.base_event[j]) if j >= 0 else None)

    def explain(self, sample: Sample, score: float) -> list[Evidence]:
        if not isinstance(sample, LogWindow) or len(sample.events) == 0:
            return []
        if self._audited is None:
            return []
        table = self._audited[0]
        elem = self.element_scores(sample)
        j = int(np.argmax(elem)) if elem is not None and len(elem) else 0
        return [self._nearest_evidence(table, int(sample.events[j]), None)]

    def _nearest_evidence(self, table: EventTable, event: int, good_text: str | None) -> Evidence:
        d, good = self.nearest(table, event)
        if good is None:
            return Evidence("nearest_baseline", f"no line of the good run shares a word with it (distance {d:.2f})",
                            weight=d, data={"distance": d})
        where = self.base_table.where(good)
        shown = good_text if good_text is not None else self._base_key(good)
        return Evidence("nearest_baseline", f"closest in the good run ({where}, distance {d:.2f}): {shown}",
                        where=where, weight=d, data={"distance": d, "baseline_where": where})

    def _base_key(self, event: int) -> str:
        found = self._lines.get(id(self.base_table))
        return found[1].texts[int(found[1].ids[event])] if found is not None else ""

    # -- findings ------------------------------------------------------------------------------------------------

    def blocks(self, table: EventTable) -> list[Block]:
        """Consecutive new lines of the audited table, grouped: one block per run of new lines in a source."""
        dist = self.line_distances(table)
        new = np.nonzero(dist >= self.threshold)[0]
        if len(new) == 0:
            return []
        src = table.source[new]
        breaks = np.nonzero((np.diff(new) != 1) | (np.diff(src) != 0))[0] + 1
        found = self._lines[id(table)][1]
        out: list[Block] = []
        for part in np.split(new, breaks):
            d = dist[part]
            focus = int(part[int(np.argmax(d))])
            first, last = int(part[0]), int(part[-1])
            out.append(Block(events=part, focus=focus, score=float(d.max()), first=first, last=last,
                             lines=int(found.filled[part].sum()),
                             last_line=int(table.line[last]) + int(found.extent[last]) - 1))
        return out

    def rank_anomalies(self, windows: Windows, scores: np.ndarray, store: TemplateStore, top: int, context: int,
                       progress: Callable[[str, float, float | None], None] | None = None) -> list[Anomaly]:
        """The report's findings: new-line blocks, highest distance first, each with the closest good lines."""
        from detectors.pipeline import _iso
        from detectors.readers import context_many
        from detectors.report import Anomaly, ContextLine

        table = windows.table
        blocks = sorted(self.blocks(table), key=lambda b: (-b.score, b.first))
        self.all_blocks = blocks
        shown = blocks[:top]
        if progress:
            progress("explain", 0, float(len(shown)))
        good_text = self._good_texts(table, shown)
        anomalies: list[Anomaly] = []
        for rank, b in enumerate(shown, 1):
            aid = f"A{rank}"
            event = b.focus
            src, line = table.sources[int(table.source[event])], int(table.line[event])
            last_line = b.last_line
            first_line = int(table.line[b.first])
            evidence: list[Evidence] = [Evidence(
                "new_lines", f"{_plural(b.lines, 'line')} ({src}:{first_line}-{last_line}) new against the baseline: "
                f"no line of the good run is within distance {self.threshold:g} of them",
                where=f"{src}:{first_line}", weight=b.score,
                data={"first_line": first_line, "last_line": last_line, "lines": b.lines})]
            # The closest good line of each new line, the most distant first (a few per block).
            order = b.events[np.argsort(-self.line_distances(table)[b.events], kind="stable")][:3]
            for e in order:
                ev = self._nearest_evidence(table, int(e), good_text.get(int(e)))
                if int(e) != event:
                    ev.summary = f"line {int(table.line[e])}: {ev.summary}"
                evidence.append(ev)
            for k, e in enumerate(evidence, 1):
                e.id = f"{aid}.e{k}"
            key = f"{src}:{first_line}" if first_line == last_line else f"{src}:{first_line}-{last_line}"
            ts = float(table.ts[event])
            anomalies.append(Anomaly(
                id=aid, rank=rank, detector=self.name, where=f"{src}:{line}", source=src, line=line,
                ts=None if np.isnan(ts) else ts, time=_iso(ts), template_id=int(table.template[event]),
                template=store.template(int(table.template[event])), text="", score=b.score,
                threshold=float(self.threshold), severity=severity(b.score, float(self.threshold)), window=key,
                evidence=evidence, level=table.level_name(event), host=table.host_name(event)))
            # Context: the whole block and `context` lines around it (a long block is cut at 40 lines).
            span = min(last_line - first_line, 40)
            found = context_many(src, [first_line], before=context, after=span + context).get(first_line, [])
            anomalies[-1].context = [ContextLine(n, text, n == line) for n, text in found]
            anomalies[-1].text = next((text for n, text in found if n == line), "")
            if not anomalies[-1].text:
                anomalies[-1].text = context_many(src, [line], before=0, after=0).get(line, [(line, "")])[0][1]
            if progress:
                progress("explain", 1, None)
        return anomalies

    def _good_texts(self, table: EventTable, blocks: Sequence[Block]) -> dict[int, str]:
        """The text of the closest good line of the shown blocks' lines, read back from the baseline files."""
        from detectors.readers import context_many

        wanted: dict[str, dict[int, list[int]]] = {}
        dist = self.line_distances(table)
        for b in blocks:
            for e in b.events[np.argsort(-dist[b.events], kind="stable")][:3]:
                _, good = self.nearest(table, int(e))
                if good is None:
                    continue
                src = self.base_table.sources[int(self.base_table.source[good])]
                wanted.setdefault(src, {}).setdefault(int(self.base_table.line[good]), []).append(int(e))
        out: dict[int, str] = {}
        for src, lines in wanted.items():
            try:
                found = context_many(src, list(lines), before=0, after=0)
            except OSError:
                continue
            for ln, events in lines.items():
                text = next((t for n, t in found.get(ln, []) if n == ln), None)
                if text is not None:
                    for e in events:
                        out[e] = text.strip()[:300]
        return out


@dataclass(slots=True)
class Block:
    """A run of consecutive new lines of the audited logs."""

    events: np.ndarray  # event indices, consecutive
    focus: int  # the event with the highest distance
    score: float  # its distance
    first: int
    last: int
    lines: int  # non-blank physical lines in it (folded continuation lines included)
    last_line: int  # the last physical line it spans in its source


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"

"""The training-free baseline: template rarity, severity, and an Isolation Forest over template counts (as loglizer).

Three signals, each put on a one-sided robust z scale against the fit windows (median, and the upper tail's
spread as the unit: (q90 - median) / 1.2816, the Gaussian-consistent scale of the side anomalies lie on):
- rarity: -log p(template) with add-one smoothing over the fit lines; a template never seen in the fit data gets
  the rarity of a count of zero. A window's rarity is that of its rarest line.
- error rarity: the same rarity, counted only for severe lines: level ERROR/FATAL, an HTTP 5xx status, an
  exception class, or (lines without a level) an error word such as "failed" or "denied" in the template.
- counts: an Isolation Forest over log(1 + count) vectors of the fit vocabulary, one "unseen templates" column and
  one column of severe lines.
A window's score is the sum of the three z scores. The label-free threshold is calibrated to keep logs without
incidents quiet: a window that holds a rare error (an ERROR/FATAL/5xx/exception line whose template occurs in at
most 2 % of the fit windows, or in at most 2 of them) is flagged at a summed z of 4; any other window must also score above 99.5 % of the fit
windows (its score is lowered by the gap between that percentile and the threshold). The 4 and the 99.5 % were
chosen on the 13 unlabeled Loghub logs (no more than 2 % of their windows flagged), not on labels.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Self

import numpy as np
from scipy import sparse
from sklearn.ensemble import IsolationForest

from detectors import spill
from detectors.base import Detector, Evidence, LogWindow, NotEnoughData, NotFitted, Sample, register
from detectors.windows import Windows

SMOOTHING = 1.0  # add-one smoothing of template probabilities
FIT_WINDOWS_MAX = 20_000  # the forest is fitted on at most this many windows (a random subset)
RARE_ERROR_SHARE = 0.02  # an error template in at most this share of the fit windows is a rare error
# Windows scored at once (the forest's scoring temporaries grow with it; the scores do not depend on it).
COMPONENT_CHUNK = 5_000
SEVERITY_CHUNK = 1 << 17  # events per step when the severities of a table are computed
PAIR_CHUNK = 4_096  # windows per step when the fit counts the windows each template is in
QUIET_QUANTILE = 0.995  # windows without a rare error must score above this quantile of the fit windows
# Error words of a template, for lines that carry no level (syslog, plain text).
_ERROR_WORDS = re.compile(r"\b(?:error|errors|fail|failed|failure|fatal|panic|exception|critical|abort|aborted|denied"
                          r"|refused|timeout|timed out|unable|cannot|can't|corrupt|corrupted|killed|segfault|unreachable"
                          r"|crash|crashed)\b", re.IGNORECASE)


class _Templates:
    """The template ids of a window set's members, gathered from the table a slice at a time when asked (all at
    once they are an array as long as the members: 2 per line with overlapping windows)."""

    def __init__(self, template: np.ndarray, members: np.ndarray) -> None:
        self.template = template
        self.members = members

    def __len__(self) -> int:
        return len(self.members)

    def __getitem__(self, key: slice | np.ndarray) -> np.ndarray:
        return self.template[self.members[key]]

    def max(self) -> int:
        return _max(self) if len(self) else 0  # a slice at a time: a long log's spilled pages go back as read


def _csr(samples: Sequence[Sample], with_events: bool = False) -> tuple[np.ndarray, Any, np.ndarray]:
    """(offsets, template ids of all members, event ids of all members) of log samples.

    Event ids are only gathered when `with_events` (else an empty array); a `Windows` is read without copying (its
    template ids come as `_Templates`, gathered by slice).
    """
    if isinstance(samples, Windows):
        return samples.offsets, _Templates(samples.table.template, samples.members), samples.members
    parts: list[np.ndarray] = []
    events: list[np.ndarray] = []
    offsets = [0]
    for s in samples:
        if not isinstance(s, LogWindow):
            raise TypeError(f"the classical detector scores log windows, got {type(s).__name__}")
        parts.append(np.asarray(s.templates, dtype=np.int64))
        if with_events:
            events.append(np.asarray(s.events, dtype=np.int64))
        offsets.append(offsets[-1] + len(s.templates))
    members = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    event_ids = np.concatenate(events) if events else np.zeros(0, np.int64)
    return np.asarray(offsets, dtype=np.int64), members, event_ids


def _gather(offsets: np.ndarray, members: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CSR (offsets, members) of the windows at `rows`."""
    lengths = offsets[rows + 1] - offsets[rows]
    out = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    idx = np.arange(int(out[-1]), dtype=np.int64)
    idx += np.repeat(offsets[rows] - out[:-1], lengths)
    if len(idx) < spill.SPILL_MIN:
        return out, members[idx]
    got = np.empty(len(idx), dtype=members.dtype)
    step = 1 << 16
    for lo in range(0, len(idx), step):  # a long log's members are in a spill file: its pages go back as read
        got[lo:lo + step] = members[idx[lo:lo + step]]
        spill.release()
    return out, got


def _max(a: np.ndarray | _Templates) -> int:
    """int(a.max()) of a non-empty array, a slice at a time (a long log's column is read through its spill file)."""
    step = 1 << 18
    top = int(a[:step].max())
    for lo in range(step, len(a), step):
        top = max(top, int(a[lo:lo + step].max()))
        spill.release()
    return top


def _line_template_counts(template: np.ndarray, event_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct template ids, lines of each) over the events listed in `event_ids` (each event once, however many
    windows hold it): np.unique(template[events], return_counts=True), counted a chunk of events at a time."""
    seen = spill.full(len(template), False, bool)
    step = 1 << 16
    for lo in range(0, len(event_ids), step):  # a long log's ids and mask are spilled: their pages go back as set
        seen[event_ids[lo:lo + step]] = True
        if len(event_ids) >= spill.SPILL_MIN:
            spill.release()
    if len(template) and int(template.min()) < 0:  # no template id below 0 from a TemplateStore; bincount needs none
        return np.unique(template[seen], return_counts=True)
    counts = np.zeros(0, dtype=np.int64)
    for lo in range(0, len(template), SEVERITY_CHUNK):
        c = np.bincount(template[lo:lo + SEVERITY_CHUNK][seen[lo:lo + SEVERITY_CHUNK]])
        spill.release()
        if len(c) > len(counts):
            c[:len(counts)] += counts
            counts = c
        else:
            counts[:len(c)] += c
    tids = np.flatnonzero(counts)
    return tids.astype(template.dtype), counts[tids]


def _robust(x: np.ndarray) -> tuple[float, float]:
    """(median, unit) of fit scores; the unit is the upper tail's spread, (q90 - median) / 1.2816, falling back
    to the MAD and then the standard deviation when most scores are alike."""
    med = float(np.median(x))
    unit = (float(np.quantile(x, 0.9)) - med) / 1.2816
    if unit < 1e-9:
        unit = float(np.median(np.abs(x - med))) * 1.4826
    if unit < 1e-9:
        unit = float(np.std(x)) or 1.0
    return med, unit


def _window_max(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    out = np.zeros(len(offsets) - 1)
    nonempty = np.diff(offsets) > 0
    if len(values):
        out[nonempty] = np.maximum.reduceat(values, offsets[:-1][nonempty])
    return out


@register
class ClassicalDetector(Detector):
    """Template rarity + Isolation Forest over window template counts.

    Args:
        seed: Random seed of the forest.
        n_estimators: Trees in the forest.
        z_threshold: Windows whose summed robust z-score reaches this are anomalous.
    """

    name: ClassVar[str] = "classical"
    modalities: ClassVar[frozenset[str]] = frozenset({"logs"})

    def __init__(self, seed: int = 0, n_estimators: int = 100, z_threshold: float = 4.0,
                 quiet_quantile: float = QUIET_QUANTILE) -> None:
        self.seed = seed
        self.n_estimators = n_estimators
        self.z_threshold = z_threshold
        self.quiet_quantile = quiet_quantile
        self.fitted = False
        self.template_text: Callable[[int], str | None] | None = None  # set by the audit (error words)
        self._error_word: dict[int, bool] = {}
        self._table_severity: tuple[int, np.ndarray, np.ndarray] | None = None

    def bind_templates(self, template_text: Callable[[int], str]) -> None:
        """Keep the audit's template lookup: error words in the templates of level-less lines count as severity."""
        if self.template_text is None:
            self.template_text = template_text

    # -- severity ------------------------------------------------------------------------------------------------

    def _severity(self, samples: Sequence[Sample]) -> tuple[np.ndarray, np.ndarray] | None:
        """(weight, hard) per event of the samples' table: weight (bool: the weights are 0 or 1, and arithmetic on them
        gives the 0.0 / 1.0 a float column gave) true for severe lines (ERROR/FATAL, 5xx, an exception, or an error
        word in a level-less line's template), hard for the first three only. Kept for the table: 2 bytes per event."""
        table = getattr(samples, "table", None)
        if table is None or not getattr(table, "frozen", False):
            # Loose windows (a tool scoring one window) index the table this detector saw last.
            return (self._table_severity[1], self._table_severity[2]) if self._table_severity is not None else None
        if self._table_severity is not None and self._table_severity[0] == id(table):
            return self._table_severity[1], self._table_severity[2]
        # In chunks of events, so that the temporaries stay small on long logs.
        n = len(table.level)
        status = getattr(table, "status", None)
        status = status if status is not None and len(status) == n else None
        exc = getattr(table, "exc", None)
        exc = exc if exc is not None and len(exc) == n else None
        hard = spill.empty(n, bool)  # a long log's in a temporary file (detectors.spill)
        unleveled_tids = []
        for lo in range(0, n, SEVERITY_CHUNK):
            hi = min(lo + SEVERITY_CHUNK, n)
            level = table.level[lo:hi]
            h = level >= 5
            if status is not None:
                h |= status[lo:hi] >= 500
            if exc is not None:
                h |= exc[lo:hi] > 0
            hard[lo:hi] = h
            if self.template_text is not None:
                unleveled_tids.append(np.unique(table.template[lo:hi][level == 0]))
            spill.release()
        weight = spill.copy(hard)
        if self.template_text is not None:
            tids = np.unique(np.concatenate(unleveled_tids)) if unleveled_tids else np.zeros(0, np.int32)
            for t in tids.tolist():
                if t not in self._error_word:
                    self._error_word[t] = bool(_ERROR_WORDS.search(self.template_text(int(t)) or ""))
            words = np.array([self._error_word[t] for t in tids.tolist()], dtype=bool)
            if words.any():
                for lo in range(0, n, SEVERITY_CHUNK):
                    hi = min(lo + SEVERITY_CHUNK, n)
                    worded = np.isin(table.template[lo:hi], tids[words]) & (table.level[lo:hi] == 0)
                    weight[lo:hi][worded] = True
                    spill.release()
        self._table_severity = (id(table), weight, hard)
        return weight, hard

    # -- fitting -----------------------------------------------------------------------------------------------

    def fit(self, samples: Sequence[Sample]) -> Self:
        offsets, members, event_ids = _csr(samples, with_events=True)
        if len(offsets) < 3 or len(members) < 2:
            raise NotEnoughData(f"the classical detector needs at least 2 windows to fit, got {len(offsets) - 1}")
        # Overlapping windows hold a line more than once: count each line once for template probabilities.
        if isinstance(samples, Windows):
            tids, counts = _line_template_counts(samples.table.template, event_ids)
        else:
            line_templates = members[np.unique(event_ids, return_index=True)[1]]
            tids, counts = np.unique(line_templates, return_counts=True)
        self.fit_lines = int(counts.sum())
        self.vocab = {int(t): i for i, t in enumerate(tids)}
        self.fit_counts = dict(zip(tids.tolist(), counts.tolist()))
        denom = self.fit_lines + SMOOTHING * (len(tids) + 1)
        self._rarity_known = -np.log((counts + SMOOTHING) / denom)
        self.unseen_rarity = float(-np.log(SMOOTHING / denom))
        self._lut = self._make_lut(int(tids.max()) if len(tids) else 0)
        self.fitted = True

        n = len(offsets) - 1
        rng = np.random.default_rng(self.seed)
        rows = np.arange(n) if n <= FIT_WINDOWS_MAX else np.sort(rng.choice(n, FIT_WINDOWS_MAX, replace=False))
        sev = self._severity(samples)
        member_events = event_ids if len(event_ids) == len(members) else None
        if isinstance(members, _Templates) and member_events is not None:
            # A window set's members are event ids: gather them once, then their templates and weights.
            fit_off, fit_events = _gather(offsets, member_events, rows)
            spill.release()  # the sampled windows lie all over a long log: its pages go back after each gather
            fit_mem = members.template[fit_events]
            spill.release()
            weight = sev[0][fit_events] if sev is not None else None
            spill.release()
            del fit_events
        else:
            fit_off, fit_mem = _gather(offsets, members, rows)
            weight = sev[0][_gather(offsets, member_events, rows)[1]] if sev is not None and member_events is not None \
                else None
        X = self._features(fit_off, fit_mem, weight)
        del fit_off, fit_mem, weight
        self.forest = IsolationForest(n_estimators=self.n_estimators, max_samples=min(256, len(rows)),
                                      random_state=self.seed).fit(X)
        # Mean count per window of each template: the reference that count evidence is phrased against.
        self.mean_counts = np.asarray(X.expm1().mean(axis=0)).ravel()

        if sev is not None and member_events is not None:
            # Share of the fit windows each template appears in (a rare error's template is in few of them).
            # Each distinct (window, template) pair once, as one int64 key (a 2-column unique copied and sorted
            # rows of pairs: the fit's peak memory on long logs).
            # Windows of different chunks make different pairs, so the chunks' counts add up; chunked, the
            # temporaries stay a few MB on long logs.
            width = int(members.max()) + 1 if len(members) else 1
            per_template = np.zeros(width, dtype=np.int64)
            for lo in range(0, n, PAIR_CHUNK):
                hi = min(lo + PAIR_CHUNK, n)
                rows_of = np.repeat(np.arange(lo, hi, dtype=np.int64) * width, np.diff(offsets[lo:hi + 1]))
                pairs = np.unique(rows_of + members[offsets[lo]:offsets[hi]])
                per_template += np.bincount(pairs % width, minlength=width)
                spill.release()
            self.window_share = {int(t): c / n for t, c in enumerate(per_template.tolist()) if c}
            # At least the 2 windows that one line falls in when windows overlap, so that small fits have rare errors.
            self.rare_share = max(RARE_ERROR_SHARE, 2.0 / n)
        else:
            self.window_share = {}
            self.rare_share = RARE_ERROR_SHARE
        self.fit_windows = n
        rar, iso, err, _ = self._components(offsets, members, member_events, sev)
        self._r_norm = _robust(rar)
        self._i_norm = _robust(iso)
        self.threshold = float(self.z_threshold)
        self.quiet_score = 0.0
        raw = self._combine(rar, iso, err)
        self.quiet_score = float(np.quantile(raw, self.quiet_quantile))
        return self

    def threshold_rule(self) -> str:
        """How the threshold was set, for the report."""
        return (f"one-sided robust z-scores (median and upper-tail spread of the fit windows) of template rarity, "
                f"of the rarity of error lines and of Isolation Forest isolation, summed; a window holding a rare "
                f"error (ERROR/FATAL, 5xx or exception line whose template is in <= {self.rare_share:.1%} of the "
                f"fit windows) is flagged at >= {self.threshold:g}; any other window only above "
                f"{self.quiet_quantile:.1%} of the fit windows (summed z {self.quiet_score:.2f}), so logs without "
                f"incidents stay quiet")

    # -- scoring -----------------------------------------------------------------------------------------------

    def _make_lut(self, top: int) -> np.ndarray:
        lut = np.full(top + 1, len(self.vocab), dtype=np.int64)
        if self.vocab:
            lut[np.fromiter(self.vocab.keys(), dtype=np.int64)] = np.fromiter(self.vocab.values(), dtype=np.int64)
        return lut

    def _col(self, members: np.ndarray) -> np.ndarray:
        """Column of each member template (the last column collects templates unseen in the fit data)."""
        if len(members) == 0:
            return np.zeros(0, np.int64)
        top = int(members.max())
        if top >= len(self._lut):
            self._lut = self._make_lut(top)
        return self._lut[members]

    def rarity(self, templates: np.ndarray) -> np.ndarray:
        """-log p of each template id under the fit data (unseen templates get the zero-count rarity)."""
        cols = self._col(np.asarray(templates, dtype=np.int64))
        table = np.append(self._rarity_known, self.unseen_rarity)
        return table[cols]

    def _features(self, offsets: np.ndarray, members: np.ndarray, severe: np.ndarray | None = None) -> sparse.csr_matrix:
        """log(1 + count) per template (unseen ones in one column), plus log(1 + severe lines) in the last column.

        Built COMPONENT_CHUNK windows at a time and stacked (the same matrix: rows do not mix), so that the
        coordinate temporaries of a large fit sample stay small."""
        n = len(offsets) - 1
        if n > COMPONENT_CHUNK:
            blocks = []
            for lo in range(0, n, COMPONENT_CHUNK):
                hi = min(lo + COMPONENT_CHUNK, n)
                a, b = int(offsets[lo]), int(offsets[hi])
                blocks.append(self._features(offsets[lo:hi + 1] - a, members[a:b],
                                             None if severe is None else severe[a:b]))
            return sparse.vstack(blocks, format="csr")
        rows = np.repeat(np.arange(n), np.diff(offsets))
        cols = self._col(members)
        data = np.ones(len(members))
        if severe is not None and severe.any():
            hit = severe > 0
            rows = np.concatenate([rows, rows[hit]])
            cols = np.concatenate([cols, np.full(int(hit.sum()), len(self.vocab) + 1)])
            data = np.concatenate([data, severe[hit]])
        X = sparse.csr_matrix((data, (rows, cols)), shape=(n, len(self.vocab) + 2))
        X.sum_duplicates()
        X.data = np.log1p(X.data)
        return X

    def _window_rarity(self, offsets: np.ndarray, members: np.ndarray) -> np.ndarray:
        return _window_max(self.rarity(members), offsets)

    def _combine(self, rar: np.ndarray, iso: np.ndarray, err: np.ndarray | None = None) -> np.ndarray:
        zr = (rar - self._r_norm[0]) / self._r_norm[1]
        zi = (iso - self._i_norm[0]) / self._i_norm[1]
        ze = np.maximum((err - self._r_norm[0]) / self._r_norm[1], 0.0) if err is not None else 0.0
        return zr + zi + ze

    def score(self, samples: Sequence[Sample]) -> np.ndarray:
        if not self.fitted:
            raise NotFitted("call fit() before score(): the classical detector learns template counts first")
        offsets, members, event_ids = _csr(samples, with_events=True)
        if len(offsets) <= 1:
            return np.zeros(0)
        sev = self._severity(samples)
        events = event_ids if len(event_ids) == len(members) else None
        if sev is not None and events is not None and len(events) and _max(events) >= len(sev[0]):
            sev = None  # windows of another table than the one the severities belong to
        rar, iso, err, gate = self._components(offsets, members, events, sev)
        raw = self._combine(rar, iso, err)
        # A window without a rare error must beat the quiet percentile of the fit windows to reach the threshold.
        lift = max(0.0, self.quiet_score - self.threshold + 1e-9)
        return np.where(gate, raw, raw - lift) if lift > 0 else raw

    def _components(self, offsets: np.ndarray, members: np.ndarray, events: np.ndarray | None = None,
                    sev: tuple[np.ndarray, np.ndarray] | None = None,
                    chunk: int = COMPONENT_CHUNK) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
        """(window rarity, forest isolation, error rarity or None, holds-a-rare-error) of every window, in chunks
        so memory stays flat on long logs."""
        n = len(offsets) - 1
        rar, iso = np.empty(n), np.empty(n)
        err = np.zeros(n) if sev is not None and events is not None else None
        gate = np.zeros(n, dtype=bool)
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            off = offsets[lo:hi + 1] - offsets[lo]
            mem = members[offsets[lo]:offsets[hi]]
            ev = events[offsets[lo]:offsets[hi]] if err is not None and events is not None else None
            weight = sev[0][ev] if sev is not None and ev is not None else None
            iso[lo:hi] = -self.forest.score_samples(self._features(off, mem, weight))
            r = self.rarity(mem)
            rar[lo:hi] = _window_max(r, off)
            if err is not None and sev is not None and ev is not None and weight is not None:
                # Error rarity: the rarity of severe lines only (0 for the others, which the z-score clips).
                err[lo:hi] = _window_max(np.where(weight > 0, r, 0.0), off)
                share = np.array([self.window_share.get(int(t), 0.0) for t in np.unique(mem).tolist()])
                rare_t = np.unique(mem)[share <= self.rare_share + 1e-12]
                rare_err = sev[1][ev] & np.isin(mem, rare_t)
                gate[lo:hi] = _window_max(rare_err.astype(np.float64), off) > 0
            spill.release()  # the pages of the spilled columns read for this chunk go back
        return rar, iso, err, gate

    def element_scores(self, sample: Sample) -> np.ndarray | None:
        if not isinstance(sample, LogWindow):
            return None
        return self.rarity(sample.templates)

    def member_scores(self, samples: Sequence[Sample]) -> np.ndarray | None:
        return self.rarity(_csr(samples)[1][:])

    # -- evidence ----------------------------------------------------------------------------------------------

    def explain(self, sample: Sample, score: float) -> list[Evidence]:
        if not isinstance(sample, LogWindow):
            return []
        templates = np.asarray(sample.templates, dtype=np.int64)
        evidence: list[Evidence] = []
        rar = self.rarity(templates)
        seen: set[int] = set()
        for j in np.argsort(-rar, kind="stable"):
            tid = int(templates[j])
            if tid in seen:
                continue
            seen.add(tid)
            n_fit = self.fit_counts.get(tid, 0)
            in_window = int((templates == tid).sum())
            data: dict[str, Any] = {"rarity": float(rar[j]), "fit_count": n_fit, "fit_lines": self.fit_lines,
                                    "in_window": in_window, "event": int(sample.events[j])}
            if n_fit == 0:
                evidence.append(Evidence("unseen_template", f"template never seen in the {self.fit_lines} fit lines "
                                         f"({in_window}x in this window)", template_id=tid, weight=float(rar[j]),
                                         data=data))
            elif n_fit / self.fit_lines < 0.001:
                evidence.append(Evidence("rare_template", f"rare template: {n_fit} of {self.fit_lines} fit lines "
                                         f"(p={n_fit / self.fit_lines:.1e}), {in_window}x in this window",
                                         template_id=tid, weight=float(rar[j]), data=data))
            if len(seen) >= 3:
                break
        # Count deviations: templates whose count in this window is far from their mean per fit window.
        tids, counts = np.unique(templates, return_counts=True)
        cols = self._col(tids)
        mean = np.append(self.mean_counts, 0.0)[cols]
        dev = counts - mean
        for k in np.argsort(-np.abs(dev))[:2]:
            if abs(dev[k]) < 3 or int(tids[k]) not in self.vocab:
                continue
            evidence.append(Evidence("count_deviation", f"template appears {int(counts[k])}x in this window, "
                                     f"{mean[k]:.1f}x per window in the fit data", template_id=int(tids[k]),
                                     weight=float(abs(dev[k])), data={"count": int(counts[k]), "mean": float(mean[k])}))
        return evidence

"""The training-free baseline: template rarity plus an Isolation Forest over template-count vectors (as loglizer).

Two signals, each put on a robust z scale against the fit windows:
- rarity: -log p(template) with add-one smoothing over the fit lines; a template never seen in the fit data gets
  the rarity of a count of zero. A window's rarity is that of its rarest line.
- counts: an Isolation Forest over log(1 + count) vectors of the fit vocabulary plus one "unseen templates" column.
A window's score is the sum of the two z scores (a window that is both rare and oddly composed beats one that is
only one of them; on our synthetic incidents the sum found more of the incident than the max at equal precision).
The label-free threshold is 3.5, Iglewicz and Hoaglin's cut for modified z-scores, applied to the summed evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
from scipy import sparse
from sklearn.ensemble import IsolationForest

from detectors.base import Detector, Evidence, LogWindow, NotEnoughData, NotFitted, Sample, register
from detectors.windows import Windows

SMOOTHING = 1.0  # add-one smoothing of template probabilities
FIT_WINDOWS_MAX = 20_000  # the forest is fitted on at most this many windows (a random subset)


def _csr(samples: Sequence[Sample], with_events: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offsets, template ids of all members, event ids of all members) of log samples.

    Event ids are only gathered when `with_events` (else an empty array); a `Windows` is read without copying.
    """
    if isinstance(samples, Windows):
        return samples.offsets, samples.table.template[samples.members], samples.members
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
    starts = np.repeat(offsets[rows] - out[:-1], lengths)
    return out, members[np.arange(int(out[-1]), dtype=np.int64) + starts]


def _robust(x: np.ndarray) -> tuple[float, float]:
    med = float(np.median(x))
    mad = float(np.median(np.abs(x - med))) * 1.4826
    if mad < 1e-9:
        mad = float(np.std(x)) or 1.0
    return med, mad


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

    def __init__(self, seed: int = 0, n_estimators: int = 100, z_threshold: float = 3.5) -> None:
        self.seed = seed
        self.n_estimators = n_estimators
        self.z_threshold = z_threshold
        self.fitted = False

    # -- fitting -----------------------------------------------------------------------------------------------

    def fit(self, samples: Sequence[Sample]) -> Self:
        offsets, members, event_ids = _csr(samples, with_events=True)
        if len(offsets) < 3 or len(members) < 2:
            raise NotEnoughData(f"the classical detector needs at least 2 windows to fit, got {len(offsets) - 1}")
        # Overlapping windows hold a line more than once: count each line once for template probabilities.
        if isinstance(samples, Windows):
            seen = np.zeros(len(samples.table), dtype=bool)
            seen[event_ids] = True
            line_templates = samples.table.template[seen]
        else:
            line_templates = members[np.unique(event_ids, return_index=True)[1]]
        tids, counts = np.unique(line_templates, return_counts=True)
        self.fit_lines = int(len(line_templates))
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
        X = self._features(*_gather(offsets, members, rows))
        self.forest = IsolationForest(n_estimators=self.n_estimators, max_samples=min(256, len(rows)),
                                      random_state=self.seed).fit(X)
        # Mean count per window of each template: the reference that count evidence is phrased against.
        self.mean_counts = np.asarray(X.expm1().mean(axis=0)).ravel()

        rar, iso = self._components(offsets, members)
        self._r_norm = _robust(rar)
        self._i_norm = _robust(iso)
        self.threshold = float(self.z_threshold)
        return self

    def threshold_rule(self) -> str:
        """How the threshold was set, for the report."""
        return (f"robust z-scores (median/MAD of the fit windows) of template rarity and of Isolation Forest "
                f"isolation, summed; flagged at >= {self.threshold:g} (Iglewicz-Hoaglin outlier cut)")

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

    def _features(self, offsets: np.ndarray, members: np.ndarray) -> sparse.csr_matrix:
        n = len(offsets) - 1
        rows = np.repeat(np.arange(n), np.diff(offsets))
        X = sparse.csr_matrix((np.ones(len(members)), (rows, self._col(members))), shape=(n, len(self.vocab) + 1))
        X.sum_duplicates()
        X.data = np.log1p(X.data)
        return X

    def _window_rarity(self, offsets: np.ndarray, members: np.ndarray) -> np.ndarray:
        r = self.rarity(members)
        out = np.zeros(len(offsets) - 1)
        nonempty = np.diff(offsets) > 0
        if len(r):
            out[nonempty] = np.maximum.reduceat(r, offsets[:-1][nonempty])
        return out

    def _combine(self, rar: np.ndarray, iso: np.ndarray) -> np.ndarray:
        zr = (rar - self._r_norm[0]) / self._r_norm[1]
        zi = (iso - self._i_norm[0]) / self._i_norm[1]
        return zr + zi

    def score(self, samples: Sequence[Sample]) -> np.ndarray:
        if not self.fitted:
            raise NotFitted("call fit() before score(): the classical detector learns template counts first")
        offsets, members, _ = _csr(samples)
        if len(offsets) <= 1:
            return np.zeros(0)
        return self._combine(*self._components(offsets, members))

    def _components(self, offsets: np.ndarray, members: np.ndarray, chunk: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
        """(window rarity, forest isolation) of every window, in chunks so memory stays flat on long logs."""
        n = len(offsets) - 1
        rar, iso = np.empty(n), np.empty(n)
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            off = offsets[lo:hi + 1] - offsets[lo]
            mem = members[offsets[lo]:offsets[hi]]
            iso[lo:hi] = -self.forest.score_samples(self._features(off, mem))
            rar[lo:hi] = self._window_rarity(off, mem)
        return rar, iso

    def element_scores(self, sample: Sample) -> np.ndarray | None:
        if not isinstance(sample, LogWindow):
            return None
        return self.rarity(sample.templates)

    def member_scores(self, samples: Sequence[Sample]) -> np.ndarray | None:
        return self.rarity(_csr(samples)[1])

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

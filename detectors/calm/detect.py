"""IQR band detection on forecast quantiles, and CALM as a static detector behind the common interface.

A point is anomalous when it falls outside [Q1 - k*IQR, Q3 + k*IQR] with Q1, Q3 the forecast's q25 and q75 and
k = 1.5. Its score is the distance outside the quartiles in IQR units, max(x - Q3, Q1 - x) / IQR, so the flag is
exactly `score > k` and the score is continuous (ROC-AUC uses it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self

import numpy as np

from detectors.base import Detector, Evidence, NotEnoughData, NotFitted, Sample, SeriesWindow, register
from detectors.calm.forecaster import QUANTILES, PatchForecaster, QuantileForecaster, load_checkpoint

K = 1.5  # Tukey's fence
INTENSITY_WINDOW = 192  # points over which the share of far-out points is measured
INTENSITY_FENCE = 3.0  # "far out": 3 IQR beyond the quartiles (twice the flagging fence)


def intensity(scores: np.ndarray, window: int = INTENSITY_WINDOW, fence: float = INTENSITY_FENCE) -> np.ndarray:
    """The streaming anomaly intensity of every point: the share of the last `window` points scoring above `fence`,
    plus a small tie-break by the point's own score. Causal (past and present only).

    A single outlier barely moves it; a stretch of misbehaviour (what NAB and SMD label as anomalous windows)
    raises it for as long as it lasts. Point flags still use the IQR fence; this is the ranking score.
    """
    s = np.asarray(scores, dtype=np.float64)
    far = np.where(np.isfinite(s), s > fence, False).astype(np.float64)
    c = np.cumsum(np.insert(far, 0, 0.0))
    idx = np.arange(len(s))
    lo = np.maximum(0, idx + 1 - window)
    share = (c[idx + 1] - c[lo]) / window
    return share + 1e-3 * np.clip(np.where(np.isfinite(s), s, 0.0), 0.0, 10.0) / 10.0


@dataclass(frozen=True, slots=True)
class Band:
    """The forecast band for one point."""

    median: float
    q1: float
    q3: float
    lower: float  # Q1 - k*IQR
    upper: float  # Q3 + k*IQR

    @property
    def iqr(self) -> float:
        """Q3 - Q1, floored so a flat forecast still has a finite score."""
        return max(self.q3 - self.q1, 1e-9 + 1e-6 * abs(self.median))


def bands(quantiles: np.ndarray, levels: Sequence[float] = QUANTILES, k: float = K) -> np.ndarray:
    """(n, n_q) quantile rows -> (n, 5) rows of median, q1, q3, lower, upper."""
    q = np.asarray(quantiles, dtype=np.float64).reshape(-1, len(levels))
    q = np.sort(q, axis=-1)  # monotone before use, whatever produced them
    lv = list(levels)
    q1, med, q3 = q[:, lv.index(0.25)], q[:, lv.index(0.5)], q[:, lv.index(0.75)]
    iqr = np.maximum(q3 - q1, 1e-9 + 1e-6 * np.abs(med))
    return np.stack([med, q1, q3, q1 - k * iqr, q3 + k * iqr], axis=1)


def band_scores(values: np.ndarray, band_rows: np.ndarray) -> np.ndarray:
    """Distance outside the quartiles in IQR units (negative inside); > k means outside the band."""
    med, q1, q3 = band_rows[:, 0], band_rows[:, 1], band_rows[:, 2]
    iqr = np.maximum(q3 - q1, 1e-9 + 1e-6 * np.abs(med))
    x = np.asarray(values, dtype=np.float64)
    return np.maximum(x - q3, q1 - x) / iqr


def to_band(row: np.ndarray) -> Band:
    """One band row as a `Band`."""
    return Band(*(float(v) for v in row))


def one_step_scores(forecaster: QuantileForecaster, values: np.ndarray, batch: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Scores and band rows of every point that has a full context before it (NaN for the first `context`)."""
    values = np.asarray(values, dtype=np.float64)
    ctx = forecaster.config.context
    n = len(values)
    scores = np.full(n, np.nan)
    rows = np.full((n, 5), np.nan)
    if n <= ctx:
        return scores, rows
    contexts = np.lib.stride_tricks.sliding_window_view(values, ctx)[:-1]
    for i in range(0, len(contexts), batch):
        q = forecaster.quantile_forecast(contexts[i : i + batch])[:, 0, :]
        rows[ctx + i : ctx + i + len(q)] = bands(q, forecaster.config.quantiles)
    scores[ctx:] = band_scores(values[ctx:], rows[ctx:])
    return scores, rows


@register
class CalmDetector(Detector):
    """CALM's forecaster as a static detector of series windows: the score is the worst point's IQR-band score.

    `fit` needs no data (the forecaster is pre-trained; the threshold is the IQR rule's k, label-free); it only
    checks that the samples are long enough. Use `CalmCore` for streaming with judging and adaptation.
    """

    name: ClassVar[str] = "calm"
    modalities: ClassVar[frozenset[str]] = frozenset({"series"})

    def __init__(self, checkpoint: str | Path | None = None, k: float = K) -> None:
        from detectors.calm.store import SHIPPED

        self.checkpoint = Path(checkpoint) if checkpoint else SHIPPED
        self.k = k
        self.threshold = k
        self.forecaster: PatchForecaster | None = None
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def fit(self, samples: Sequence[Sample]) -> Self:
        """Load the forecaster; the threshold is k (1.5) on the IQR score scale."""
        self.forecaster = load_checkpoint(self.checkpoint)
        ctx = self.forecaster.config.context
        if samples and all(isinstance(s, SeriesWindow) and len(s.values) <= ctx for s in samples):
            raise NotEnoughData(f"calm needs series windows longer than its context of {ctx} points")
        return self

    def _point_scores(self, sample: SeriesWindow) -> tuple[np.ndarray, np.ndarray]:
        if self.forecaster is None:
            raise NotFitted("calm: call fit() before score()")
        key = id(sample)
        if key not in self._cache:
            values = np.asarray(sample.values, dtype=np.float64)
            values = values.reshape(len(values), -1)
            per = [one_step_scores(self.forecaster, values[:, c]) for c in range(values.shape[1])]
            self._cache = {key: (np.stack([p[0] for p in per], 1), np.stack([p[1] for p in per], 1))}
        return self._cache[key]

    def score(self, samples: Sequence[Sample]) -> np.ndarray:
        """The highest point score of each window (all channels); -inf when a window is too short to score."""
        out = np.full(len(samples), -np.inf)
        for i, sample in enumerate(samples):
            if not isinstance(sample, SeriesWindow):
                continue
            scores, _ = self._point_scores(sample)
            if np.isfinite(scores).any():
                out[i] = float(np.nanmax(scores))
        return out

    def element_scores(self, sample: Sample) -> np.ndarray | None:
        """Per-channel worst point score."""
        if not isinstance(sample, SeriesWindow):
            return None
        scores, _ = self._point_scores(sample)
        return np.nanmax(np.where(np.isfinite(scores), scores, -np.inf), axis=0)

    def explain(self, sample: Sample, score: float) -> list[Evidence]:
        """The points outside the band, worst first (at most five)."""
        if not isinstance(sample, SeriesWindow):
            return []
        scores, rows = self._point_scores(sample)
        flat = np.where(np.isfinite(scores), scores, -np.inf)
        out = []
        for idx in np.argsort(-flat, axis=None)[:5]:
            i, c = np.unravel_index(idx, flat.shape)
            if flat[i, c] <= self.k:
                break
            value = float(np.asarray(sample.values).reshape(len(flat), -1)[i, c])
            med, _, _, lo, hi = rows[i, c]
            channel = sample.channels[c] if c < len(sample.channels) else f"channel {c}"
            out.append(
                Evidence(
                    kind="residual",
                    summary=f"{channel} point {sample.start + i}: {value:.4g} outside the forecast band "
                    f"[{lo:.4g}, {hi:.4g}] (median {med:.4g}, {flat[i, c]:.1f} IQR from the quartiles)",
                    weight=float(flat[i, c]),
                    data={"index": int(sample.start + i), "channel": channel, "value": value, "predicted": float(med),
                          "lower": float(lo), "upper": float(hi), "score": float(flat[i, c])},
                )
            )
        return out

"""Label-free thresholds from normal-vs-normal discrepancies.

The pool samples that are not references are scored against the references exactly as targets will be (for
"nearest", each against its own nearest normals with itself left out): their scores are a sample of what normal
looks like on this data set. The threshold is their split-conformal (1 − α) quantile, so on exchangeable normal
data at most about α of normals are flagged — with no labelled anomaly anywhere.
"""

from __future__ import annotations

import math

import numpy as np


def conformal_threshold(normal_scores: np.ndarray, alpha: float) -> float:
    """The ⌈(n + 1)(1 − α)⌉-th smallest normal score (split conformal); past the sample, max + its spread.

    Raises:
        ValueError: If there are no finite scores or α is outside (0, 1).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    s = np.sort(np.asarray(normal_scores, dtype=np.float64)[np.isfinite(normal_scores)])
    if len(s) == 0:
        raise ValueError("no finite calibration scores")
    rank = math.ceil((len(s) + 1) * (1 - alpha))
    if rank <= len(s):
        return float(s[rank - 1])
    spread = float(s[-1] - np.median(s))
    return float(s[-1] + spread * 0.5)


def flag_rate(scores: np.ndarray, threshold: float) -> float:
    """Fraction of scores at or above the threshold."""
    return float(np.mean(np.asarray(scores) >= threshold)) if len(scores) else 0.0

"""Synthetic anomalies made from normal samples: the calibration's self-check at fit time, and training's hard
negatives (the lab imports it from here)."""

from __future__ import annotations

import numpy as np


def inject(modality: str, x: np.ndarray, rng: np.random.Generator, foreign: np.ndarray | None = None) -> np.ndarray:
    """A synthetic anomaly made from one (scaled) normal sample: the hard negatives of training.

    logs (template vectors' ids): 1–3 positions replaced by `foreign` ids (templates from elsewhere) or a burst of
    one template; series (L, C): a spike, level shift, noise burst, flat line or trend on 1–3 channels;
    table (F,): 1–3 features pushed out of range, or half the features taken from another context (`foreign`).
    """
    x = x.copy()
    kind = rng.integers(3)
    if modality == "logs":
        valid = np.nonzero(x >= 0)[0]
        if len(valid) == 0:
            return x
        n = int(rng.integers(1, min(3, len(valid)) + 1))
        where = rng.choice(valid, n, replace=False)
        if kind < 2 and foreign is not None and len(foreign):
            x[where] = rng.choice(foreign, n)
        else:
            start = int(rng.integers(0, len(valid)))
            burst = valid[start:start + max(3, len(valid) // 2)]
            x[burst] = foreign[0] if foreign is not None and len(foreign) and kind == 2 else x[valid[0]]
            x[where] = rng.choice(foreign, n) if foreign is not None and len(foreign) else x[where]
        return x
    if modality == "series":
        length, c = x.shape
        chans = rng.choice(c, int(rng.integers(1, min(3, c) + 1)), replace=False)
        sd = np.maximum(x.std(0), 0.3)
        a = int(rng.integers(length // 4, length - 4))
        b = int(rng.integers(a + 2, length + 1))
        sign = rng.choice([-1.0, 1.0])
        kind5 = rng.integers(5)
        for ch in chans:
            mag = float(rng.uniform(3, 8)) * sd[ch]
            if kind5 == 0:
                x[a:a + int(rng.integers(1, 4)), ch] += sign * mag
            elif kind5 == 1:
                x[a:b, ch] += sign * mag * 0.6
            elif kind5 == 2:
                x[a:b, ch] += rng.normal(0, mag * 0.5, b - a)
            elif kind5 == 3:
                x[a:b, ch] = x[a, ch] + sign * mag * 0.5
            else:
                x[a:b, ch] += sign * np.linspace(0, mag, b - a)
        return x
    f = len(x)
    if kind == 0 and foreign is not None and len(foreign) == f:
        cols = rng.choice(f, max(1, f // 2), replace=False)
        x[cols] = foreign[cols]
        return x
    cols = rng.choice(f, int(rng.integers(1, min(3, f) + 1)), replace=False)
    x[cols] += rng.choice([-1.0, 1.0], len(cols)) * rng.uniform(2.0, 5.0, len(cols))
    return x

"""Raw samples -> the encoders' tensors: pool-fitted scaling, padding and masks, shared by training and the detector."""

from __future__ import annotations

import numpy as np
import torch

from detectors.icad.encoders import RobustScaler


def fit_scaler(modality: str, pool: np.ndarray) -> RobustScaler | None:
    """Per-channel (series) or per-feature (table) scaler fitted on the normal pool; None for logs."""
    if modality == "logs":
        return None
    return RobustScaler().fit(pool)


def scale(modality: str, x: np.ndarray, scaler: RobustScaler | None, n_features: int = 32) -> np.ndarray:
    """Scaled samples: series keep (N, L, C); tables are padded/truncated to (N, n_features) with NaN padding."""
    if modality == "logs" or scaler is None:
        return x
    z = scaler.transform(x)
    if modality == "table":
        out = np.full((len(z), n_features), np.nan, np.float32)
        f = min(n_features, z.shape[1])
        out[:, :f] = z[:, :f]
        return out
    return z


def collate(modality: str, samples: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples of one modality (possibly different widths / channel counts) -> (x, mask) tensors.

    logs: (B, w) long ids padded with -1, mask (B, w); series: (B, L, C) padded channels, mask (B, C);
    table: (B, F') with zeros where padded, mask (B, F').
    """
    if modality == "logs":
        w = max(len(s) for s in samples)
        x = np.full((len(samples), w), -1, np.int64)
        for i, s in enumerate(samples):
            x[i, : len(s)] = s
        t = torch.from_numpy(x)
        return t, t >= 0
    if modality == "series":
        length = samples[0].shape[0]
        c = max(s.shape[1] for s in samples)
        x = np.zeros((len(samples), length, c), np.float32)
        mask = np.zeros((len(samples), c), bool)
        for i, s in enumerate(samples):
            x[i, :, : s.shape[1]] = s
            mask[i, : s.shape[1]] = True
        return torch.from_numpy(x), torch.from_numpy(mask)
    arr = np.stack(samples).astype(np.float32)
    mask = ~np.isnan(arr)
    return torch.from_numpy(np.nan_to_num(arr, nan=0.0)), torch.from_numpy(mask)

"""Modality-aware encoders: logs, metric series and table rows into `m` embeddings of the backbone's width.

Every encoder returns `(B, m, d_model)` tokens for the backbone and a pooled `(B, width)` vector that reference
selection uses (cheap: no backbone call). Outputs are layer-normed and scaled to the backbone's embedding scale so
the three modalities land where the backbone expects its inputs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class RobustScaler:
    """Per-column centre and scale from a normal pool (median and IQR, std as fallback), then asinh-compressed.

    The reference pool defines normal, so it also defines the units: a value 10 IQRs away from the pool stays
    large but finite after `asinh`, and constant columns keep unit scale instead of dividing by zero.
    """

    def __init__(self, center: np.ndarray | None = None, scale: np.ndarray | None = None) -> None:
        self.center = center
        self.scale = scale

    def fit(self, x: np.ndarray) -> RobustScaler:
        """Fit on `(..., columns)` values; all leading axes are pooled."""
        flat = np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1])
        med = np.nanmedian(flat, axis=0)
        q75, q25 = np.nanpercentile(flat, [75, 25], axis=0)
        scale = (q75 - q25) / 1.349
        std = np.nanstd(flat, axis=0)
        scale = np.where(scale > 1e-6, scale, std)
        scale = np.where(scale > 1e-6, scale, 1.0)
        self.center, self.scale = med.astype(np.float32), scale.astype(np.float32)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scaled, compressed values (float32), NaN replaced by the centre."""
        assert self.center is not None and self.scale is not None, "fit the scaler first"
        z = (np.asarray(x, dtype=np.float32) - self.center) / self.scale
        return np.arcsinh(np.nan_to_num(z, nan=0.0, posinf=50.0, neginf=-50.0)).astype(np.float32)

    def state(self) -> dict[str, list[float]]:
        """JSON-able state."""
        assert self.center is not None and self.scale is not None
        return {"center": self.center.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_state(cls, state: dict[str, list[float]]) -> RobustScaler:
        """The scaler saved by `state`."""
        return cls(np.asarray(state["center"], np.float32), np.asarray(state["scale"], np.float32))


class _Out(nn.Module):
    """Width -> d_model, layer-normed and scaled to the backbone's input-embedding scale."""

    def __init__(self, width: int, d_model: int, emb_scale: float) -> None:
        super().__init__()
        self.proj = nn.Linear(width, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.gain = nn.Parameter(torch.tensor(float(emb_scale)))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(h)) * self.gain


class LogEncoder(nn.Module):
    """A window of template vectors (the backbone's own token embeddings of each template's text, mean-pooled)
    refined by a small Transformer encoder, then pooled into `m` tokens by learned queries."""

    def __init__(self, d_model: int, width: int, m: int, max_len: int, emb_scale: float) -> None:
        super().__init__()
        self.norm_in = nn.LayerNorm(d_model)  # template vectors are small and alike: standardise each one
        self.inp = nn.Linear(d_model, width)
        self.pos = nn.Parameter(torch.randn(max_len, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, 4, 2 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.queries = nn.Parameter(torch.randn(m, width) * 0.02)
        self.pool = nn.MultiheadAttention(width, 4, batch_first=True)
        self.out = _Out(width, d_model, emb_scale)

    def forward(self, vecs: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`vecs` (B, w, d_model) template vectors, `mask` (B, w) True where a template is present."""
        b, w, _ = vecs.shape
        h = self.inp(self.norm_in(vecs)) * mask.unsqueeze(-1) + self.pos[:w]
        pad = ~mask
        pad[:, 0] = False  # an empty window still attends to its first (zero) slot, never to nothing
        h = self.body(h, src_key_padding_mask=pad)
        q = self.queries.unsqueeze(0).expand(b, -1, -1)
        tok, _ = self.pool(q, h, h, key_padding_mask=pad, need_weights=False)
        pooled = (h * (~pad).unsqueeze(-1)).sum(1) / (~pad).sum(1, keepdim=True).clamp(min=1)
        return self.out(tok), pooled


class SeriesEncoder(nn.Module):
    """Instance-normalised patches of every channel through a shared 1-D CNN, pooled over channels (mean and max).

    Each patch also carries its mean and spread in pool units (and the window's), because instance normalisation
    alone would erase a level shift that covers the whole window. One token per patch: m = length / patch.
    """

    def __init__(self, d_model: int, width: int, length: int, patch: int, emb_scale: float) -> None:
        super().__init__()
        self.patch, self.n_patches = patch, length // patch
        self.cnn = nn.Sequential(
            nn.Conv1d(1, 32, 3, padding=1), nn.GELU(), nn.Conv1d(32, 32, 3, padding=1), nn.GELU(),
        )
        self.mix = nn.Sequential(nn.Linear(64 + 4, width), nn.GELU(), nn.Linear(width, width))
        self.chan = nn.Linear(2 * width, width)
        self.pos = nn.Parameter(torch.randn(self.n_patches, width) * 0.02)
        self.out = _Out(width, d_model, emb_scale)

    def channel_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, C) pool-scaled values -> (B, C, P, width) patch features."""
        b, length, c = x.shape
        p, n = self.patch, self.n_patches
        x = x[:, -n * p:, :].transpose(1, 2)  # (B, C, L)
        mu = x.mean(-1, keepdim=True)
        sd = x.std(-1, keepdim=True, unbiased=False)
        xn = (x - mu) / (sd + 1e-3)
        patches = xn.reshape(b * c * n, 1, p)
        raw = x.reshape(b, c, n, p)
        stats = torch.stack([
            raw.mean(-1), torch.log(raw.std(-1, unbiased=False) + 1e-3),
            mu.expand(-1, -1, n), torch.log(sd + 1e-3).expand(-1, -1, n),
        ], -1)  # (B, C, P, 4)
        f = self.cnn(patches)
        f = torch.cat([f.mean(-1), f.amax(-1)], -1).reshape(b, c, n, 64)
        return self.mix(torch.cat([f, stats], -1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`x` (B, L, C) pool-scaled values, `mask` (B, C) True for real channels (False = padding)."""
        f = self.channel_features(x)  # (B, C, P, W)
        m = mask[:, :, None, None].to(f.dtype)
        mean = (f * m).sum(1) / m.sum(1).clamp(min=1)
        mx = f.masked_fill(m == 0, -1e4).amax(1)
        h = self.chan(torch.cat([mean, mx], -1)) + self.pos  # (B, P, W)
        return self.out(h), h.mean(1)


class TableEncoder(nn.Module):
    """A row padded/truncated to F' scaled features (plus the padding mask) through a two-layer MLP into m tokens."""

    def __init__(self, d_model: int, width: int, m: int, n_features: int, emb_scale: float) -> None:
        super().__init__()
        self.m, self.width = m, width
        self.mlp = nn.Sequential(nn.Linear(2 * n_features, 4 * width), nn.GELU(), nn.Linear(4 * width, m * width))
        self.out = _Out(width, d_model, emb_scale)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`x` (B, F') scaled features (0 where padded), `mask` (B, F') True for real features."""
        h = self.mlp(torch.cat([x * mask, mask.to(x.dtype)], -1)).reshape(len(x), self.m, self.width)
        return self.out(h), h.mean(1)

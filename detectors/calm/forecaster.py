"""The embedded CALM forecaster: a small patch-based transformer that predicts monotone quantiles over a horizon.

A context window of `context` points is normalised by its own mean and spread (so one model serves series of any
scale), cut into patches (the tokens), encoded by a two-layer transformer, and read out as `horizon` x `quantiles`.
Quantiles are monotone by construction: the median plus cumulative softplus steps up and down. `quantile_forecast`
is the only entry point the rest of CALM uses; any forecaster with that signature (TimesFM through `timesfm`, see
`load_forecaster`) can stand in.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

QUANTILES: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)  # q10 … q90; Q1 = q25 and Q3 = q75 give the IQR band


@dataclass(frozen=True)
class ForecasterConfig:
    """Shape of the patch quantile model."""

    context: int = 64  # points of history the model sees
    patch: int = 8  # points per token
    horizon: int = 8  # points forecast at once
    d_model: int = 64  # token width
    heads: int = 4
    layers: int = 2
    dropout: float = 0.0
    quantiles: tuple[float, ...] = QUANTILES

    def __post_init__(self) -> None:
        if self.context % self.patch:
            raise ValueError(f"context ({self.context}) must be a multiple of patch ({self.patch})")
        qs = list(self.quantiles)
        if qs != sorted(qs) or 0.5 not in qs or not all(0 < q < 1 for q in qs):
            raise ValueError(f"quantiles must be increasing in (0, 1) and include 0.5, got {qs}")


class QuantileForecaster(Protocol):
    """What CALM needs from a forecaster."""

    config: ForecasterConfig

    def quantile_forecast(self, contexts: np.ndarray) -> np.ndarray:
        """(batch, context) values, oldest first -> (batch, horizon, len(quantiles)), monotone along the last axis."""
        ...


def normalise(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-window location and scale (mean, std with a floor relative to the level), and the normalised window."""
    loc = x.mean(dim=-1, keepdim=True)
    std = x.std(dim=-1, keepdim=True, unbiased=False)
    # A flat context has no spread: floor it so a flat line is not infinitely sure of itself.
    floor = 1e-3 * (loc.abs() + 1.0)
    scale = torch.maximum(std, floor)
    return (x - loc) / scale, loc, scale


class PatchQuantileModel(nn.Module):
    """Patches -> transformer encoder -> (horizon, quantiles) in normalised units, monotone quantiles."""

    def __init__(self, config: ForecasterConfig) -> None:
        super().__init__()
        self.config = config
        n_patches = config.context // config.patch
        self.embed = nn.Linear(config.patch, config.d_model)
        self.position = nn.Parameter(torch.zeros(1, n_patches, config.d_model))
        layer = nn.TransformerEncoderLayer(
            config.d_model, config.heads, dim_feedforward=2 * config.d_model, dropout=config.dropout,
            batch_first=True, norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.d_model)
        n_q = len(config.quantiles)
        self.head = nn.Linear(config.d_model * n_patches, config.horizon * n_q)
        self._mid = config.quantiles.index(0.5)
        nn.init.normal_(self.position, std=0.02)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised contexts (batch, context) -> normalised quantiles (batch, horizon, n_q)."""
        b = z.shape[0]
        c = self.config
        tokens = self.embed(z.view(b, c.context // c.patch, c.patch)) + self.position
        h = self.norm(self.encoder(tokens)).reshape(b, -1)
        raw = self.head(h).view(b, c.horizon, len(c.quantiles))
        # Median anchored on the last point (a persistence forecast), then monotone steps outward.
        median = z[:, -1:].unsqueeze(-1) + raw[..., self._mid : self._mid + 1]
        up = torch.cumsum(nn.functional.softplus(raw[..., self._mid + 1 :]) + 1e-4, dim=-1)
        down = torch.cumsum(nn.functional.softplus(raw[..., : self._mid].flip(-1)) + 1e-4, dim=-1).flip(-1)
        return torch.cat([median - down, median, median + up], dim=-1)


def pinball_loss(pred: torch.Tensor, target: torch.Tensor, quantiles: tuple[float, ...]) -> torch.Tensor:
    """Mean quantile (pinball) loss; `pred` (b, h, q), `target` (b, h)."""
    q = torch.tensor(quantiles, dtype=pred.dtype).view(1, 1, -1)
    diff = target.unsqueeze(-1) - pred
    return torch.maximum(q * diff, (q - 1) * diff).mean()


@dataclass
class ModelInfo:
    """What a checkpoint says about itself (written beside it as JSON)."""

    version: int = 0
    parent: int | None = None  # the version it was fine-tuned from
    created: float = 0.0  # unix time
    kind: str = "patch-quantile"
    sha256: str = ""  # of the weights file: a half-written file does not match
    train: dict[str, Any] = field(default_factory=dict)  # data, split, steps, seconds, command
    validation: dict[str, Any] = field(default_factory=dict)  # coverage, width, loss


class PatchForecaster:
    """A `PatchQuantileModel` with its config, ready to forecast raw (unnormalised) values."""

    def __init__(self, config: ForecasterConfig | None = None, model: PatchQuantileModel | None = None) -> None:
        self.config = config or ForecasterConfig()
        self.model = model or PatchQuantileModel(self.config)
        self.model.eval()
        self.info = ModelInfo()

    @torch.no_grad()
    def quantile_forecast(self, contexts: np.ndarray) -> np.ndarray:
        """(batch, context) raw values -> (batch, horizon, n_q) raw quantiles, monotone."""
        x = torch.as_tensor(np.asarray(contexts, dtype=np.float32)).reshape(-1, self.config.context)
        z, loc, scale = normalise(x)
        q = self.model(z) * scale.unsqueeze(-1) + loc.unsqueeze(-1)
        # Sorting is a no-op for this model; it keeps the promise for any head (and after numeric round-off).
        return torch.sort(q, dim=-1).values.numpy().astype(np.float64)

    def clone(self) -> PatchForecaster:
        """An independent copy (fine-tuning works on one)."""
        other = PatchForecaster(self.config)
        other.model.load_state_dict({k: v.clone() for k, v in self.model.state_dict().items()})
        other.info = ModelInfo(**json.loads(json.dumps(asdict(self.info))))
        return other

    def to_bytes(self) -> bytes:
        """The weights and config as one torch file."""
        buffer = io.BytesIO()
        torch.save({"config": asdict(self.config), "state": self.model.state_dict()}, buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> PatchForecaster:
        """Load from `to_bytes` output.

        Raises:
            ValueError: If the bytes are not a checkpoint (truncated, half-written, another file).
        """
        try:
            blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            cfg = dict(blob["config"])
            cfg["quantiles"] = tuple(cfg["quantiles"])
            config = ForecasterConfig(**cfg)
            model = PatchQuantileModel(config)
            model.load_state_dict(blob["state"])
        except Exception as error:  # torch raises many kinds on a bad file; all mean "not a checkpoint"
            raise ValueError(f"not a CALM checkpoint ({type(error).__name__}: {str(error)[:120]})") from None
        return cls(config, model)

    def parameters(self) -> int:
        """Number of weights."""
        return sum(p.numel() for p in self.model.parameters())


def sha256(data: bytes) -> str:
    """Hex digest."""
    return hashlib.sha256(data).hexdigest()


def load_checkpoint(path: str | Path) -> PatchForecaster:
    """A forecaster from a `.pt` file, checked against the sha256 in its `.json` when there is one.

    Raises:
        ValueError: If the file is not a complete checkpoint.
    """
    path = Path(path)
    data = path.read_bytes()
    meta_path = path.with_suffix(".json")
    info = ModelInfo()
    if meta_path.exists():
        info = ModelInfo(**json.loads(meta_path.read_text()))
        if info.sha256 and info.sha256 != sha256(data):
            raise ValueError(f"{path.name}: sha256 does not match {meta_path.name} (half-written or replaced)")
    forecaster = PatchForecaster.from_bytes(data)
    forecaster.info = info
    return forecaster


class TimesFMForecaster:
    """TimesFM through the `timesfm` package, from a checkpoint path the user gives (never a hub download)."""

    def __init__(self, checkpoint: str | Path, config: ForecasterConfig | None = None) -> None:
        try:
            import timesfm  # type: ignore[import-not-found]
        except ImportError:
            raise ValueError("TimesFM needs the `timesfm` package: pip install timesfm") from None
        path = Path(checkpoint)
        if not path.exists():
            raise ValueError(f"TimesFM checkpoint {str(path)!r} does not exist; give a local path")
        self.config = config or ForecasterConfig(context=512, patch=32, horizon=32)
        # timesfm 1.x API; the quantile head returns mean + deciles q10 … q90.
        self._tfm = timesfm.TimesFm(
            hparams=timesfm.TimesFmHparams(backend="cpu", context_len=self.config.context, horizon_len=self.config.horizon),
            checkpoint=timesfm.TimesFmCheckpoint(path=str(path)),
        )
        self.info = ModelInfo(kind="timesfm", train={"checkpoint": str(path)})

    def quantile_forecast(self, contexts: np.ndarray) -> np.ndarray:
        """Deciles picked to `config.quantiles`, made monotone."""
        _, full = self._tfm.forecast(list(np.asarray(contexts, dtype=np.float32)), freq=[0] * len(contexts))
        deciles = np.asarray(full)[:, : self.config.horizon, 1:10]  # q10 … q90
        idx = [int(round(q * 10)) - 1 for q in self.config.quantiles]
        return np.sort(deciles[..., idx], axis=-1)


def count_windows(length: int, config: ForecasterConfig, stride: int) -> int:
    """How many (context, horizon) windows a series of `length` points gives."""
    span = config.context + config.horizon
    return 0 if length < span else 1 + (length - span) // stride


def windows(values: np.ndarray, config: ForecasterConfig, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """All (context, target) pairs of one series, time-ordered."""
    n = count_windows(len(values), config, stride)
    if n == 0:
        return np.zeros((0, config.context), np.float32), np.zeros((0, config.horizon), np.float32)
    span = config.context + config.horizon
    view = np.lib.stride_tricks.sliding_window_view(np.asarray(values, np.float32), span)[::stride][:n]
    return np.ascontiguousarray(view[:, : config.context]), np.ascontiguousarray(view[:, config.context :])


def interval_stats(forecaster: PatchForecaster, contexts: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """Coverage of [q10, q90], width of it relative to the context's spread, and the pinball loss, on held-out pairs."""
    if len(contexts) == 0:
        return {"coverage": math.nan, "width": math.nan, "loss": math.nan, "n": 0}
    q = forecaster.quantile_forecast(contexts)
    lo, hi = q[..., 0], q[..., -1]
    coverage = float(np.mean((targets >= lo) & (targets <= hi)))
    spread = np.maximum(contexts.std(axis=1, keepdims=True), 1e-3 * (np.abs(contexts.mean(axis=1, keepdims=True)) + 1))
    width = float(np.median((hi - lo) / spread))
    with torch.no_grad():
        z, loc, scale = normalise(torch.as_tensor(contexts, dtype=torch.float32))
        t = (torch.as_tensor(targets, dtype=torch.float32) - loc) / scale
        loss = float(pinball_loss(forecaster.model(z), t.clamp(-50, 50), forecaster.config.quantiles))
    return {"coverage": coverage, "width": width, "loss": loss, "n": int(len(contexts))}

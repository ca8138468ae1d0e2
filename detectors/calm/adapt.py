"""Continual fine-tuning: KEEP segments accumulate; at N of them one epoch of fine-tuning makes a new version.

The data of a batch is the recent history of each series that had a KEEP (its replay buffer at judgment time,
which holds the shift and what came before it). Windows are split 80/20 in time order; the model trains one epoch
on the first 80 % with Gaussian noise added to the contexts, then both the old and the new model are measured on
the last 20 %. The new one is written as the next version (atomically) unless it collapses: coverage of
[q10, q90] falling well below the old model's, the interval narrowing past a bound, or the loss getting worse.
A rejected model is written to `rejected/` for inspection and the old one keeps serving.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from detectors.calm.fit import fit_epochs
from detectors.calm.forecaster import PatchForecaster, interval_stats, windows
from detectors.calm.store import ModelStore


@dataclass(frozen=True)
class AdaptConfig:
    """Knobs of the adaptation loop."""

    keep_batch: int = 3  # KEEP segments per fine-tune
    epochs: int = 1  # the paper: one epoch is best, more overfits
    lr: float = 3e-4
    batch: int = 64
    noise: float = 0.05  # std of Gaussian noise on normalised contexts (augmentation against overfitting)
    train_share: float = 0.8  # time-ordered train / validation split
    min_windows: int = 40  # fewer windows than this: not enough to fine-tune on, the batch waits
    min_coverage: float = 0.5  # absolute floor on [q10, q90] coverage (nominal 0.8)
    coverage_drop: float = 0.10  # reject when coverage falls more than this below the old model's
    width_ratio: float = 0.5  # reject when the interval is narrower than this share of the old one (collapse)
    loss_ratio: float = 1.05  # reject when the validation loss is worse than this multiple of the old one
    seed: int = 0


@dataclass(slots=True)
class KeepSegment:
    """A KEEP judgment and the series history it came with."""

    series: str
    timestamp: float
    anomaly_id: str
    history: np.ndarray  # the series' recent values (replay buffer), oldest first


@dataclass(slots=True)
class AdaptResult:
    """What one fine-tune did."""

    accepted: bool
    version: int
    parent: int
    reason: str
    seconds: float  # batch complete -> new model written and loadable
    old: dict[str, float] = field(default_factory=dict)
    new: dict[str, float] = field(default_factory=dict)
    path: Path | None = None
    segments: int = 0


def fine_tune_data(segments: list[KeepSegment], base: PatchForecaster, share: float) -> tuple[np.ndarray, ...]:
    """(train x, train y, val x, val y): per series, the latest history's windows split in time order."""
    latest: dict[str, KeepSegment] = {}
    for seg in segments:
        latest[seg.series] = seg  # later snapshots contain the earlier ones
    cfg = base.config
    parts: list[list[np.ndarray]] = [[], [], [], []]
    for seg in latest.values():
        x, y = windows(seg.history, cfg, stride=1)
        cut = int(len(x) * share)
        for bucket, arr in zip(parts, (x[:cut], y[:cut], x[cut:], y[cut:]), strict=True):
            bucket.append(arr)
    empty = [np.zeros((0, cfg.context), np.float32), np.zeros((0, cfg.horizon), np.float32)] * 2
    return tuple(np.concatenate(p) if p else e for p, e in zip(parts, empty, strict=True))


class Adapter:
    """Collects KEEP segments and fine-tunes when a batch is full (synchronously; the caller decides the thread)."""

    def __init__(self, store: ModelStore, config: AdaptConfig | None = None) -> None:
        self.store = store
        self.config = config or AdaptConfig()
        self.pending: list[KeepSegment] = []
        self.results: list[AdaptResult] = []

    def add(self, segment: KeepSegment, base: PatchForecaster | None) -> AdaptResult | None:
        """Queue a KEEP; when `keep_batch` are queued, fine-tune `base` (the serving model) and return the result."""
        self.pending.append(segment)
        if len(self.pending) < self.config.keep_batch or base is None:
            return None
        x, _, _, _ = fine_tune_data(self.pending, base, self.config.train_share)
        if len(x) < self.config.min_windows:
            return None  # not enough history yet: wait for more KEEPs
        batch, self.pending = self.pending, []
        result = self.fine_tune(base, batch)
        self.results.append(result)
        return result

    def fine_tune(self, base: PatchForecaster, segments: list[KeepSegment]) -> AdaptResult:
        """One epoch on the batch, validate, write the next version (or a rejected one)."""
        cfg = self.config
        started = time.perf_counter()
        x, y, vx, vy = fine_tune_data(segments, base, cfg.train_share)
        old = interval_stats(base, vx, vy)
        model = base.clone()
        threads = torch.get_num_threads()
        fit = fit_epochs(model, x, y, epochs=cfg.epochs, batch=cfg.batch, lr=cfg.lr, noise=cfg.noise,
                         seed=cfg.seed + len(self.results))
        torch.set_num_threads(threads)
        new = interval_stats(model, vx, vy)
        problems = []
        if new["coverage"] < max(cfg.min_coverage, 0.0) and new["coverage"] < old["coverage"]:
            problems.append(f"coverage {new['coverage']:.2f} below the floor {cfg.min_coverage:.2f}")
        if new["coverage"] < old["coverage"] - cfg.coverage_drop:
            problems.append(f"coverage fell {old['coverage']:.2f} -> {new['coverage']:.2f}")
        if new["width"] < cfg.width_ratio * old["width"]:
            problems.append(f"interval width collapsed {old['width']:.2f} -> {new['width']:.2f}")
        if new["loss"] > cfg.loss_ratio * old["loss"]:
            problems.append(f"validation loss worse {old['loss']:.3f} -> {new['loss']:.3f}")
        parent = base.info.version
        model.info.parent = parent
        model.info.created = time.time()
        model.info.train = {
            "kind": "fine-tune",
            "segments": [f"{s.series}@{s.timestamp:.0f}" for s in segments],
            "windows": int(len(x)),
            "validation_windows": int(len(vx)),
            "epochs": cfg.epochs,
            "lr": cfg.lr,
            "noise": cfg.noise,
            "steps": fit["steps"],
            "seconds": round(fit["seconds"], 3),
        }
        model.info.validation = {"old": _round(old), "new": _round(new), "problems": problems}
        path = self.store.write(model, rejected=bool(problems))
        reason = ("; ".join(problems) if problems else
                  f"coverage {old['coverage']:.2f} -> {new['coverage']:.2f}, width {old['width']:.2f} -> "
                  f"{new['width']:.2f}, loss {old['loss']:.3f} -> {new['loss']:.3f}")
        return AdaptResult(not problems, model.info.version, parent, reason, time.perf_counter() - started,
                           old, new, path, len(segments))


def _round(stats: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in stats.items()}

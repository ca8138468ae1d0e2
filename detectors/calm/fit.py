"""Training steps of the CALM forecaster: the epoch loop the streaming fine-tune runs (and the lab's full training)."""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from detectors.calm.forecaster import PatchForecaster, normalise, pinball_loss


def fit_epochs(
    forecaster: PatchForecaster,
    contexts: np.ndarray,
    targets: np.ndarray,
    *,
    epochs: int = 1,
    batch: int = 256,
    lr: float = 1e-3,
    noise: float = 0.0,
    seed: int = 0,
    shuffle: bool = True,
    log_every: int = 0,
) -> dict[str, float]:
    """Train in place with the pinball loss; `noise` adds Gaussian noise (in normalised units) to the contexts.

    Returns:
        steps, seconds and the mean loss of the last epoch.
    """
    gen = torch.Generator().manual_seed(seed)
    model = forecaster.model
    model.train()
    optim = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    x_all = torch.as_tensor(contexts, dtype=torch.float32)
    y_all = torch.as_tensor(targets, dtype=torch.float32)
    n = len(x_all)
    total_steps = epochs * max(1, math.ceil(n / batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=lr, total_steps=total_steps, pct_start=0.1) if epochs > 1 else None
    started = time.perf_counter()
    steps, last = 0, math.nan
    for epoch in range(epochs):
        order = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
        losses = []
        for i in range(0, n, batch):
            idx = order[i : i + batch]
            z, loc, scale = normalise(x_all[idx])
            t = (y_all[idx] - loc) / scale
            if noise > 0:
                z = z + noise * torch.randn(z.shape, generator=gen)
            loss = pinball_loss(model(z), t.clamp(-50, 50), forecaster.config.quantiles)
            optim.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            if sched is not None:
                sched.step()
            losses.append(float(loss.detach()))
            steps += 1
            if log_every and steps % log_every == 0:
                print(f"epoch {epoch + 1} step {steps}/{total_steps} loss {np.mean(losses[-log_every:]):.4f} "
                      f"{time.perf_counter() - started:.0f}s", flush=True)
        last = float(np.mean(losses)) if losses else math.nan
    model.eval()
    return {"steps": steps, "seconds": time.perf_counter() - started, "loss": last}

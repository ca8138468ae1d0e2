"""Train the embedded CALM forecaster on ../shared/data (NAB first 40 % of each series, SMD train rows).

No label is read: the model learns to forecast, and anomalies are whatever it cannot forecast. The split is the
one `detectors.calm.data` documents, so `sleuth bench calm` scores only points the model never trained on.

Rebuild the shipped checkpoint (about 5 minutes on one shared core):
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python -m detectors.calm.train --epochs 6 \
        --out detectors/calm/checkpoints/calm-v0000.pt
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from detectors.calm.data import DEFAULT_DATA, TRAIN_SHARE, nab_series, smd_train_channels
from detectors.calm.forecaster import (
    ForecasterConfig,
    ModelInfo,
    PatchForecaster,
    interval_stats,
    normalise,
    pinball_loss,
    sha256,
    windows,
)

SHIPPED = Path(__file__).resolve().parent / "checkpoints" / "calm-v0000.pt"
REBUILD = (
    "OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python -m detectors.calm.train --epochs 6 "
    "--out detectors/calm/checkpoints/calm-v0000.pt"
)


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


def training_windows(
    config: ForecasterConfig, data: Path = DEFAULT_DATA, *, nab_stride: int = 1, smd_stride: int = 16, val_share: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, object]]:
    """(train contexts, targets, validation contexts, targets, description); validation = last part of each piece."""
    pieces: list[tuple[np.ndarray, int]] = [(s.values[: s.split], nab_stride) for s in nab_series(data)]
    pieces += [(v, smd_stride) for v in smd_train_channels(data)]
    xs, ys, vx, vy = [], [], [], []
    for values, stride in pieces:
        cut = int(len(values) * (1 - val_share))
        x, y = windows(values[:cut], config, stride)
        xs.append(x)
        ys.append(y)
        x, y = windows(values[cut:], config, stride)
        vx.append(x)
        vy.append(y)
    desc = {
        "nab": f"first {TRAIN_SHARE:.0%} of each of the 27 series, window stride {nab_stride}",
        "smd": f"train.csv.gz, every non-constant channel of 3 machines, window stride {smd_stride}",
        "validation": f"last {val_share:.0%} of each piece (time-ordered)",
        "labels_used": False,
    }
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(vx), np.concatenate(vy), desc


def write_checkpoint(forecaster: PatchForecaster, path: Path) -> None:
    """Write `path` (.pt) and its `.json` metadata, each atomically."""
    from detectors.calm.store import atomic_write

    data = forecaster.to_bytes()
    forecaster.info.sha256 = sha256(data)
    atomic_write(path, data)
    atomic_write(path.with_suffix(".json"), json.dumps(asdict(forecaster.info), indent=2).encode())


def main(argv: list[str] | None = None) -> int:
    """`python -m detectors.calm.train` (also `sleuth train calm`)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder (read only)")
    parser.add_argument("--out", type=Path, default=SHIPPED, help="checkpoint file to write (.pt; .json beside it)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--noise", type=float, default=0.02, help="Gaussian noise on normalised contexts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"Error: data folder {str(args.data)!r} not found; pass --data PATH", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    config = ForecasterConfig()
    started = time.perf_counter()
    x, y, vx, vy, desc = training_windows(config, args.data)
    print(f"{len(x)} training windows, {len(vx)} validation windows ({time.perf_counter() - started:.0f}s to load)")
    forecaster = PatchForecaster(config)
    print(f"{forecaster.parameters()} parameters")
    fit = fit_epochs(forecaster, x, y, epochs=args.epochs, batch=args.batch, lr=args.lr, noise=args.noise,
                     seed=args.seed, log_every=200)
    val = interval_stats(forecaster, vx, vy)
    forecaster.info = ModelInfo(
        version=0,
        created=time.time(),
        train={
            **desc,
            "windows": int(len(x)),
            "epochs": args.epochs,
            "batch": args.batch,
            "lr": args.lr,
            "noise": args.noise,
            "seed": args.seed,
            "steps": fit["steps"],
            "seconds": round(fit["seconds"], 1),
            "threads": args.threads,
            "parameters": forecaster.parameters(),
            "config": asdict(config),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "command": REBUILD,
        },
        validation={k: round(v, 4) if isinstance(v, float) else v for k, v in val.items()},
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_checkpoint(forecaster, args.out)
    print(f"wrote {args.out} in {time.perf_counter() - started:.0f}s; validation {forecaster.info.validation}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

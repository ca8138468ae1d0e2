"""Train the embedded CALM forecaster on ../shared/data (NAB first 40 % of each series, SMD train rows).

No label is read: the model learns to forecast, and anomalies are whatever it cannot forecast. The split is the
one `lab.calm.data` documents, so `sleuth bench calm` scores only points the model never trained on.

Rebuild the shipped checkpoint (about 5 minutes on one shared core):
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/sleuth train calm --epochs 6 \
        --out detectors/calm/checkpoints/calm-v0000.pt
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from detectors.calm.fit import fit_epochs
from detectors.calm.forecaster import (
    ForecasterConfig,
    ModelInfo,
    PatchForecaster,
    interval_stats,
    windows,
)
from detectors.calm.store import SHIPPED, write_checkpoint
from lab.calm.data import DEFAULT_DATA, TRAIN_SHARE, nab_series, smd_train_channels

REBUILD = (
    "OMP_NUM_THREADS=1 nice -n 10 .venv/bin/sleuth train calm --epochs 6 "
    "--out detectors/calm/checkpoints/calm-v0000.pt"
)


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


def train_command(*, data: Path = DEFAULT_DATA, out: Path = SHIPPED, epochs: int = 6, batch: int = 256, lr: float = 2e-3,
                  noise: float = 0.02, seed: int = 0, threads: int = 1) -> int:
    """`sleuth train calm`: train the forecaster and write the checkpoint (`out`, .json beside it). Returns the exit
    code (2 with a message on stderr when the data folder is missing)."""
    if not data.is_dir():
        print(f"Error: data folder {str(data)!r} not found; pass --data PATH", file=sys.stderr)
        return 2
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed)
    config = ForecasterConfig()
    started = time.perf_counter()
    x, y, vx, vy, desc = training_windows(config, data)
    print(f"{len(x)} training windows, {len(vx)} validation windows ({time.perf_counter() - started:.0f}s to load)")
    forecaster = PatchForecaster(config)
    print(f"{forecaster.parameters()} parameters")
    fit = fit_epochs(forecaster, x, y, epochs=epochs, batch=batch, lr=lr, noise=noise,
                     seed=seed, log_every=200)
    val = interval_stats(forecaster, vx, vy)
    forecaster.info = ModelInfo(
        version=0,
        created=time.time(),
        train={
            **desc,
            "windows": int(len(x)),
            "epochs": epochs,
            "batch": batch,
            "lr": lr,
            "noise": noise,
            "seed": seed,
            "steps": fit["steps"],
            "seconds": round(fit["seconds"], 1),
            "threads": threads,
            "parameters": forecaster.parameters(),
            "config": asdict(config),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "command": REBUILD,
        },
        validation={k: round(v, 4) if isinstance(v, float) else v for k, v in val.items()},
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_checkpoint(forecaster, out)
    print(f"wrote {out} in {time.perf_counter() - started:.0f}s; validation {forecaster.info.validation}")
    return 0


"""Contextual contrastive training of ICAD-LLM on the pools of ../shared/data (`sleuth train icad`).

Each step draws, for each modality, B triplets from data sets D of that modality: R = K normals of D, x+ another
normal of D, x− a simple negative (a normal of another data set of the same modality, with probability 0.8) or
a hard negative (an anomaly of D). Hard negatives are, as in the paper, real anomalies of D — from the fit side of
its split only (`Split.anomalies`: BGL's first half, OpenStack's and ADBench's training halves), never a test
sample — for a share `real_hard` of hard triplets, drawn among the data sets that have them; the others are
synthetic anomalies made from a normal of D (`detectors.icad.inject`), which every data set can give.
Loss: max(δ(R, x+) − δ(R, x−) + α, 0). LoRA on the backbone's q/v projections; encoders and special tokens are
trained fully. Resumable (`--resume` picks up `train_state.pt` in the output folder), seeded, with a progress bar.

Rebuild the shipped checkpoint (its icad.json "rebuild" field has the exact command; 32 min on 2 threads):
    OMP_NUM_THREADS=2 nice -n 10 sleuth train icad --steps 1500 --threads 2 --real-hard 0.5 \
        --out detectors/icad/checkpoints/universal
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from detectors.icad.detector import SHIPPED
from detectors.icad.inject import inject
from detectors.icad.inputs import collate, fit_scaler, scale
from detectors.icad.model import MODALITIES, CheckpointError, ICADConfig, ICADModel
from lab.icad.data import Split, training_splits
from lab.paths import shared_data

DEFAULT_DATA = shared_data(must_exist=False)


@dataclass
class TrainOptions:
    """Knobs of a training run (the model's shape lives in ICADConfig)."""

    out: Path = SHIPPED
    data: Path = DEFAULT_DATA
    steps: int = 300  # optimizer steps; each covers every modality once (gradient accumulation)
    batch: int = 8  # triplets per modality per step
    lr: float = 1e-3
    hard_ratio: float = 0.2  # hard : simple negatives = 2 : 8, as in the paper
    real_hard: float = 0.5  # share of hard negatives that are real fit-side anomalies (where a data set has them)
    seed: int = 0
    threads: int = 1
    save_every: int = 50
    resume: bool = False
    quick: bool = False  # fewer pool windows, for smoke runs
    schedule_steps: int | None = None  # length of the LR schedule (default: steps); lets a run stop early, exactly
    init: Path | None = None  # start from this checkpoint's weights (continued training) instead of a fresh model


@dataclass
class _Pool:
    name: str
    modality: str
    samples: np.ndarray  # scaled (series, table) or global template ids (logs)
    lo: int = 0  # logs: this data set's range of global template ids
    hi: int = 0
    anomalies: np.ndarray | None = None  # fit-side labelled anomalies, prepared like `samples`


def prepare(splits: list[Split], model: ICADModel) -> tuple[dict[str, list[_Pool]], torch.Tensor]:
    """Scaled pools per modality, and the global template-vector table the log pools index."""
    pools: dict[str, list[_Pool]] = {m: [] for m in MODALITIES}
    texts: list[str] = []
    for s in splits:
        lo = hi = 0
        prep: Callable[[np.ndarray], np.ndarray]
        if s.modality == "logs":
            lo = len(texts)
            texts.extend(s.templates)
            hi = len(texts)
            prep = partial(_global_ids, lo=lo)  # local template ids -> rows of the global template table
        else:
            prep = partial(scale, s.modality, scaler=fit_scaler(s.modality, s.pool),
                           n_features=model.cfg.table_features)
        anomalies = prep(s.anomalies) if s.anomalies is not None and len(s.anomalies) else None
        pools[s.modality].append(_Pool(s.name, s.modality, prep(s.pool), lo, hi, anomalies))
    if texts:
        model.tpl_mean.copy_(model.raw_template_vectors(texts).mean(0))
        model._template_cache.clear()
    return {m: p for m, p in pools.items() if p}, model.template_vectors(texts)


def _global_ids(ids: np.ndarray, lo: int) -> np.ndarray:
    return np.where(ids >= 0, ids + lo, -1).astype(np.int64)


def _draw(pools: list[_Pool], b: int, k: int, hard_ratio: float, n_templates: int, rng: np.random.Generator,
          real_hard: float = 0.0) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[bool]]:
    """B triplets of one modality: K references, a positive and a negative each (see the module's docstring)."""
    weights = np.array([math.sqrt(len(p.samples)) for p in pools])
    weights /= weights.sum()
    labelled = [j for j, p in enumerate(pools) if p.anomalies is not None and len(p.anomalies)]
    lab_w = np.array([math.sqrt(len(pools[j].samples)) for j in labelled])
    refs: list[Any] = []
    pos: list[Any] = []
    neg: list[Any] = []
    hard: list[Any] = []
    for _ in range(b):
        i = int(rng.choice(len(pools), p=weights))
        p = pools[i]
        idx = rng.choice(len(p.samples), k + 2, replace=len(p.samples) < k + 2)
        is_hard = len(pools) == 1 or rng.random() < hard_ratio
        # (real_hard = 0 draws exactly the random numbers of the synthetic-only recipe)
        real = is_hard and real_hard > 0 and bool(labelled) and rng.random() < real_hard
        if real:  # a data set with labelled fit-side anomalies, its references and positive drawn anew
            i = int(rng.choice(labelled, p=lab_w / lab_w.sum()))
            p = pools[i]
            idx = rng.choice(len(p.samples), k + 2, replace=len(p.samples) < k + 2)
        refs.extend(p.samples[j] for j in idx[:k])
        pos.append(p.samples[idx[k]])
        if real:
            assert p.anomalies is not None
            neg.append(p.anomalies[int(rng.integers(len(p.anomalies)))])
        elif is_hard:
            foreign = None
            if p.modality == "logs":
                foreign = rng.integers(0, n_templates, 8)
                foreign = foreign[(foreign < p.lo) | (foreign >= p.hi)]
            elif p.modality == "table":
                foreign = p.samples[int(rng.integers(len(p.samples)))]
            neg.append(inject(p.modality, p.samples[idx[k + 1]], rng, foreign))
        else:
            other = pools[int(rng.choice([j for j in range(len(pools)) if j != i]))]
            neg.append(other.samples[int(rng.integers(len(other.samples)))])
        hard.append(is_hard)
    return refs, pos, neg, hard


def _anomaly_counts(splits: list[Split]) -> dict[str, int]:
    return {s.name: len(s.anomalies) for s in splits if s.anomalies is not None and len(s.anomalies)}


def _set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(opts: TrainOptions, cfg: ICADConfig | None = None, splits: list[Split] | None = None,
          model: ICADModel | None = None, progress: bool = True) -> ICADModel:
    """Train (or resume) and save the checkpoint into `opts.out`; returns the trained model.

    `splits` and `model` default to every training set of `opts.data` and a fresh model of `cfg`.
    """
    torch.set_num_threads(opts.threads)
    _set_seed(opts.seed)
    cfg = cfg or ICADConfig(seed=opts.seed)
    t_load = time.time()
    before: dict[str, Any] = {}
    if model is None and opts.init is not None:
        model = ICADModel.load(opts.init)  # its own config: the shape must match the weights
        before = dict(model.meta)
    if model is None:
        model = ICADModel(cfg)
    cfg = model.cfg
    if splits is None:
        splits = training_splits(opts.data, quick=opts.quick)
    pools, table = prepare(splits, model)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=opts.lr, weight_decay=0.01)
    total = opts.schedule_steps or opts.steps
    warm = max(1, min(30, total // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min(1.0, (s + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, total) / total))))
    rng = np.random.default_rng(opts.seed)
    step, wall = 0, 0.0
    history: list[dict[str, float]] = []
    state_path = Path(opts.out) / "train_state.pt"
    if opts.resume and state_path.exists():
        st = torch.load(state_path, weights_only=False)
        model.load_state_dict(st["model"], strict=False)
        optim.load_state_dict(st["optim"])
        sched.load_state_dict(st["sched"])
        rng.bit_generator.state = st["rng"]
        torch.set_rng_state(st["torch_rng"])
        step, wall, history = st["step"], st["wall"], st["history"]
        print(f"resumed from {state_path} at step {step}", file=sys.stderr)
    load_s = time.time() - t_load

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=opts.steps, initial=step, desc="icad", mininterval=5, file=sys.stderr, dynamic_ncols=False)
    model.train()
    t0 = time.time()
    while step < opts.steps:
        optim.zero_grad(set_to_none=True)
        stats: dict[str, float] = {}
        for mod, mpools in pools.items():
            refs, pos, neg, hard = _draw(mpools, opts.batch, cfg.k, opts.hard_ratio, len(table), rng,
                                         opts.real_hard)
            x, mask = collate(mod, refs + pos + neg)
            tok, _ = model.encode(mod, x, mask, table if mod == "logs" else None)
            b, k = opts.batch, cfg.k
            r = tok[: b * k].reshape(b, k, cfg.m, -1)
            loss, info = model.triplet_loss(r, tok[b * k: b * k + b], tok[b * k + b:])
            (loss / len(pools)).backward()
            stats[f"{mod}_loss"] = float(loss.detach())
            stats[f"{mod}_acc"] = info["acc"]
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        sched.step()
        step += 1
        stats["loss"] = float(np.mean([v for k2, v in stats.items() if k2.endswith("_loss")]))
        history.append({"step": step, **{k2: round(v, 4) for k2, v in stats.items()}})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{stats['loss']:.3f}", **{m[:3]: f"{stats[f'{m}_acc']:.2f}" for m in pools})
        if step % opts.save_every == 0 or step == opts.steps:
            elapsed = wall + time.time() - t0
            Path(opts.out).mkdir(parents=True, exist_ok=True)
            torch.save({"model": model.trainable_state(), "optim": optim.state_dict(), "sched": sched.state_dict(),
                        "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "step": step,
                        "wall": elapsed, "history": history}, state_path)
            recent = history[-opts.save_every:]
            print(json.dumps({"step": step, "wall_s": round(elapsed), **{
                k2: round(float(np.mean([h[k2] for h in recent if k2 in h])), 4) for k2 in history[-1] if k2 != "step"}}),
                file=sys.stderr, flush=True)
    if bar is not None:
        bar.close()
    wall += time.time() - t0
    model.eval()
    meta = {
        "data": sorted(s.name for s in splits),
        "data_root": ("../shared/data (fit side only: normals; hard negatives real fit-side anomalies where labelled, "
                      "synthetic otherwise)" if opts.real_hard > 0 else
                      "../shared/data (pools only: fit-side normals; hard negatives synthetic)"),
        "real_hard": opts.real_hard,
        "labelled_hard_negatives": dict(sorted(_anomaly_counts(splits).items())) if opts.real_hard > 0 else {},
        "steps": step, "batch_per_modality": opts.batch, "seed": opts.seed, "lr": opts.lr,
        "hard_ratio": opts.hard_ratio, "wall_time_s": round(wall, 1), "load_time_s": round(load_s, 1),
        "threads": opts.threads, "machine": f"{platform.machine()} {os.cpu_count()} cores (shared)",
        "torch": torch.__version__,
        "final_loss_last50": {k2: round(float(np.mean([h[k2] for h in history[-50:] if k2 in h])), 4)
                              for k2 in history[-1] if k2 != "step"} if history else {},
        "schedule_steps": total,
        "rebuild": (f"OMP_NUM_THREADS={opts.threads} nice -n 10 sleuth train icad --steps {step} "
                    f"--schedule-steps {total} --batch {opts.batch} --seed {opts.seed} --layers {cfg.n_layers} "
                    f"--lr {opts.lr} --real-hard {opts.real_hard}"
                    + (" --quick" if opts.quick else "")
                    + (f" --init {opts.init}" if opts.init is not None else "") + f" --out {opts.out}"),
    }
    if opts.init is not None:
        # Continued training: the rebuild is the earlier run's command (into --init's folder), then this one.
        meta["init"] = {"from": str(opts.init),
                        **{k: before.get(k) for k in ("steps", "wall_time_s", "rebuild", "init")}}
        meta["steps_total"] = step + int(before.get("steps_total") or before.get("steps") or 0)
        meta["wall_time_s_total"] = round(wall + float(before.get("wall_time_s_total")
                                                       or before.get("wall_time_s") or 0.0), 1)
    model.save(opts.out, meta)
    model.meta = meta
    return model


def train_command(*, out: Path = SHIPPED, data: Path = DEFAULT_DATA, steps: int = TrainOptions.steps,
                  batch: int = TrainOptions.batch, lr: float = TrainOptions.lr, seed: int = 0,
                  real_hard: float = TrainOptions.real_hard, layers: int = ICADConfig.n_layers,
                  backbone: str = "smollm2", threads: int | None = None, schedule_steps: int | None = None,
                  resume: bool = False, quick: bool = False, init: Path | None = None) -> int:
    """`sleuth train icad`: train and save the checkpoint. Returns the exit code (2 with a message on stderr for
    bad input: a missing data folder, an --init folder without a checkpoint)."""
    threads = threads or int(os.environ.get("OMP_NUM_THREADS", "1"))
    if not data.is_dir():
        print(f"Error: data folder {str(data)!r} not found; pass --data PATH", file=sys.stderr)
        return 2
    opts = TrainOptions(out=out, data=data, steps=steps, batch=batch, lr=lr, seed=seed,
                        threads=threads, resume=resume, quick=quick, real_hard=real_hard,
                        schedule_steps=schedule_steps, init=init)
    cfg = replace(ICADConfig(), backbone=backbone, n_layers=layers, seed=seed)
    try:
        model = train(opts, cfg)
    except CheckpointError as exc:  # --init or the backbone cannot be loaded (found before any data is read)
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    print(f"saved {opts.out} ({model.meta['steps']} steps, {model.meta['wall_time_s']} s)")
    return 0


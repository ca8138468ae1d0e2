"""The "icad" detector: in-context anomaly scoring of log windows, metric windows and table rows.

`fit` takes normal (or mostly normal) samples as the reference pool: it encodes them, selects reference sets
(`refs="coreset"` by default, see references.py), runs each set's prompt + references prefix once (its KV cache is
reused for every target), and calibrates a label-free threshold on held-out pool samples (calibrate.py).
`score` returns δ against the closest reference set; `explain` gives InCTRL-style residual evidence: the target's
templates / channels / features that are farthest from their nearest normal counterparts.

Besides the Detector interface (samples), `fit_arrays` / `score_arrays` take the raw arrays of `data.Split`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch

from detectors.base import (
    Detector,
    DetectorError,
    Evidence,
    LogWindow,
    NotEnoughData,
    NotFitted,
    Sample,
    SeriesWindow,
    TableRow,
    register,
)
from detectors.icad.calibrate import conformal_threshold
from detectors.icad.inputs import collate, fit_scaler, scale
from detectors.icad.model import ICADModel
from detectors.icad.references import STRATEGIES, Strategy, nearest, select_sets

SHIPPED = Path(__file__).resolve().parent / "checkpoints" / "universal"
_MODELS: dict[str, ICADModel] = {}  # one loaded model per checkpoint folder per process


def load_model(checkpoint: str | Path | None = None) -> ICADModel:
    """The ICAD model of `checkpoint` (default: the shipped universal one), loaded once per process."""
    folder = str(Path(checkpoint or SHIPPED).resolve())
    if folder not in _MODELS:
        _MODELS[folder] = ICADModel.load(folder)
    return _MODELS[folder]


def _modality(sample: Sample) -> str:
    if isinstance(sample, LogWindow):
        return "logs"
    if isinstance(sample, SeriesWindow):
        return "series"
    if isinstance(sample, TableRow):
        return "table"
    raise DetectorError(f"icad cannot score a {type(sample).__name__}")


@register
class ICADDetector(Detector):
    """ICAD-LLM behind the detector interface.

    Args:
        checkpoint: Checkpoint folder (default: detectors/icad/checkpoints/universal).
        model: An already loaded model (tests, benchmarks); overrides `checkpoint`.
        k: References per set.
        refs: "coreset" (diverse sets per cluster of the pool), "random" (the paper), or "nearest" (each target's
            own nearest normals; no prefix sharing).
        groups: Reference sets for "coreset" / "random"; a target's score is its δ to the closest set.
        alpha: Target false-alarm rate on normal data for the label-free threshold.
        cache: Reuse each reference set's prefix KV cache across targets (same scores, faster).
        template_text: Template id -> text, for log windows (e.g. `TemplateStore.template`); without it, template
            ids are compared as opaque names.
        max_pool: Pool samples kept (a random subset beyond this).
        max_calibration: Held-out pool samples scored to calibrate the threshold.
        seed: Seed of every random choice.
    """

    name = "icad"
    modalities = frozenset({"logs", "series", "table"})

    def __init__(self, checkpoint: str | Path | None = None, *, model: ICADModel | None = None, k: int = 5,
                 refs: Strategy = "coreset", groups: int = 4, alpha: float = 0.01, cache: bool = True,
                 template_text: Callable[[int], str] | None = None, max_pool: int = 2000,
                 max_calibration: int = 400, batch: int = 128, seed: int = 0) -> None:
        if refs not in STRATEGIES:
            raise DetectorError(f"unknown reference strategy {refs!r}; choose one of: {', '.join(STRATEGIES)}")
        self.checkpoint, self._model = checkpoint, model
        self.k, self.refs, self.groups, self.alpha, self.cache = k, refs, groups, alpha, cache
        self.template_text = template_text
        self.max_pool, self.max_calibration, self.batch, self.seed = max_pool, max_calibration, batch, seed
        self.modality: str | None = None
        self.threshold = float("inf")
        self.calibration_scores = np.zeros(0)
        self._texts: list[str] = []
        self._vocab: dict[str, int] = {}
        self._tvec = torch.zeros(0)

    @property
    def model(self) -> ICADModel:
        """The loaded model (loaded on first use)."""
        if self._model is None:
            self._model = load_model(self.checkpoint)
        return self._model

    # ---- samples <-> arrays -------------------------------------------------------------------------------------

    def _rows(self, texts: Sequence[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self._vocab]
        if new:
            for t in new:
                self._vocab[t] = len(self._texts)
                self._texts.append(t)
            self._tvec = torch.cat([self._tvec.reshape(-1, self.model.d_model), self.model.template_vectors(new)])
        return np.array([self._vocab[t] for t in texts], np.int64)

    def _log_ids(self, ids: np.ndarray, templates: Sequence[str] | None) -> np.ndarray:
        """(N, w) template ids (-1 padding) -> rows of this detector's template table, truncated to the window size."""
        ids = np.atleast_2d(np.asarray(ids))
        w = self.model.cfg.log_window
        if ids.shape[1] > w:
            ids = np.concatenate([ids[:, : w // 2], ids[:, -w // 2:]], 1)
        valid = ids >= 0
        flat = ids[valid]
        if templates is not None:
            texts = [templates[int(t)] for t in flat]
        elif self.template_text is not None:
            texts = [self.template_text(int(t)) for t in flat]
        else:
            texts = [f"template {int(t)}" for t in flat]
        out = np.full(ids.shape, -1, np.int64)
        out[valid] = self._rows(texts) if texts else np.zeros(0, np.int64)
        return out

    def _arrays(self, samples: Sequence[Sample]) -> tuple[str, np.ndarray]:
        if not samples:
            raise NotEnoughData("icad needs at least one sample")
        mod = _modality(samples[0])
        if any(_modality(s) != mod for s in samples):
            raise DetectorError("icad scores one modality at a time; these samples mix several")
        if mod == "logs":
            w = max(len(s.templates) for s in samples)  # type: ignore[union-attr]
            x = np.full((len(samples), max(w, 1)), -1, np.int64)
            for i, s in enumerate(samples):
                x[i, : len(s.templates)] = s.templates  # type: ignore[union-attr]
            return mod, x
        if mod == "series":
            length = self.model.cfg.series_len
            out = []
            for s in samples:
                v = np.asarray(s.values, np.float32)  # type: ignore[union-attr]
                v = v[:, None] if v.ndim == 1 else v
                v = v[-length:]
                if len(v) < length:
                    v = np.concatenate([np.repeat(v[:1], length - len(v), 0), v])
                out.append(v)
            return mod, np.stack(out)
        return mod, np.stack([np.asarray(s.values, np.float32) for s in samples])  # type: ignore[union-attr]

    def _prepare(self, x: np.ndarray, templates: Sequence[str] | None) -> np.ndarray:
        assert self.modality is not None
        if self.modality == "logs":
            return self._log_ids(x, templates)
        return scale(self.modality, x, self._scaler, self.model.cfg.table_features)

    @torch.no_grad()
    def _encode(self, prepared: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        assert self.modality is not None
        toks, pooled = [], []
        for i in range(0, len(prepared), 512):
            x, mask = collate(self.modality, list(prepared[i:i + 512]))
            t, p = self.model.encode(self.modality, x, mask, self._tvec if self.modality == "logs" else None)
            toks.append(t)
            pooled.append(p.numpy())
        return torch.cat(toks), np.concatenate(pooled)

    # ---- fit / score on arrays ----------------------------------------------------------------------------------

    def fit_arrays(self, modality: str, pool: np.ndarray, templates: Sequence[str] | None = None) -> Self:
        """Fit on raw normal samples of one modality (the arrays of `data.Split`).

        Raises:
            NotEnoughData: If the pool has fewer than k + 1 samples.
        """
        if len(pool) < self.k + 1:
            raise NotEnoughData(f"icad needs at least {self.k + 1} normal samples to fit, got {len(pool)}")
        rng = np.random.default_rng(self.seed)
        if len(pool) > self.max_pool:
            pool = pool[np.sort(rng.choice(len(pool), self.max_pool, replace=False))]
        self.modality = modality
        self._scaler = fit_scaler(modality, pool) if modality != "logs" else None
        self._pool = self._prepare(pool, templates)
        self._counts_cache = None
        self._pool_tok, self._pool_emb = self._encode(self._pool)
        n = len(self._pool)
        if self.refs == "nearest":
            self._sets: list[np.ndarray] = []
            self._states: list[Any] = []
            held = rng.choice(n, min(n, self.max_calibration), replace=False)
            cal = self._score_nearest(self._pool_tok[held], self._pool_emb[held], exclude=held)
        else:
            self._sets = select_sets(self._pool_emb, self.k, self.groups, self.refs, self.seed)
            self._states = [self.model.prefix_state(self._pool_tok[s]) for s in self._sets] if self.cache else []
            used = np.unique(np.concatenate(self._sets))
            rest = np.setdiff1d(np.arange(n), used)
            if len(rest) == 0:
                rest = used  # a tiny pool: calibrate on the references themselves (optimistic; said in the report)
            held = rest if len(rest) <= self.max_calibration else rng.choice(rest, self.max_calibration, replace=False)
            cal = self._score_sets(self._pool_tok[held])
        self.calibration_scores = cal
        self.threshold = conformal_threshold(cal, self.alpha)
        return self

    def _score_sets(self, tok: torch.Tensor) -> np.ndarray:
        per_set = []
        for g, s in enumerate(self._sets):
            if self.cache:
                d = self.model.score_cached(self._states[g], tok, batch=self.batch)
            else:
                refs = self._pool_tok[s].unsqueeze(0).expand(len(tok), -1, -1, -1)
                d = self.model.score_full(refs, tok, batch=max(8, self.batch // 4))
            per_set.append(d.numpy().astype(np.float64))
        self._last_per_set = np.stack(per_set, 1)
        return self._last_per_set.min(1)

    def _score_nearest(self, tok: torch.Tensor, emb: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
        idx = nearest(emb, self._pool_emb, self.k, exclude)
        refs = self._pool_tok[torch.from_numpy(idx)]
        return self.model.score_full(refs, tok, batch=max(8, self.batch // 4)).numpy().astype(np.float64)

    def score_arrays(self, x: np.ndarray, templates: Sequence[str] | None = None) -> np.ndarray:
        """δ of raw samples of the fitted modality (higher = more anomalous).

        Raises:
            NotFitted: If `fit` / `fit_arrays` has not run.
        """
        if self.modality is None:
            raise NotFitted("icad: call fit() on normal samples before score()")
        if len(x) == 0:
            return np.zeros(0)
        tok, emb = self._encode(self._prepare(x, templates))
        if self.refs == "nearest":
            return self._score_nearest(tok, emb)
        return self._score_sets(tok)

    def threshold_rule(self) -> str:
        """How the threshold was set, for the report."""
        how = "each target's nearest normals" if self.refs == "nearest" else f"{len(self._sets)} {self.refs} set(s)"
        return (f"icad: δ ≥ {self.threshold:.3f}, the conformal {1 - self.alpha:.1%} quantile of "
                f"{len(self.calibration_scores)} held-out normal samples scored against {how} of K={self.k} "
                f"(label-free)")

    # ---- Detector interface -------------------------------------------------------------------------------------

    def fit(self, samples: Sequence[Sample]) -> Self:
        """Fit on normal (or mostly normal) samples of one modality; sets a label-free threshold."""
        mod, x = self._arrays(samples)
        return self.fit_arrays(mod, x)

    def score(self, samples: Sequence[Sample]) -> np.ndarray:
        """δ per sample against the closest reference set."""
        if self.modality is None:
            raise NotFitted("icad: call fit() on normal samples before score()")
        if not samples:
            return np.zeros(0)
        mod, x = self._arrays(samples)
        if mod != self.modality:
            raise DetectorError(f"icad was fitted on {self.modality} samples and cannot score {mod} samples")
        return self.score_arrays(x)

    def residuals(self, x: np.ndarray, templates: Sequence[str] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """InCTRL-style residuals of one raw sample: per element (template position / channel / feature), how far it
        is from its nearest normal counterpart in the pool; with what that counterpart was."""
        if self.modality is None:
            raise NotFitted("icad: call fit() before explain()")
        p = self._prepare(x[None], templates)[0]
        if self.modality == "logs":
            rows = p[p >= 0]
            pool_rows = np.unique(self._pool[self._pool >= 0])
            v = torch.nn.functional.normalize(self._tvec, dim=-1)
            if len(pool_rows) == 0:
                return np.ones(len(rows)), {"rows": rows, "nearest": rows, "pool_count": np.zeros(len(rows), int)}
            sim = (v[torch.from_numpy(rows)] @ v[torch.from_numpy(pool_rows)].T).numpy()
            semantic = (1 - sim.max(1)).clip(min=0)
            # How unusual each template's count in this window is, against its per-window counts in the pool.
            mean, std, total = self._pool_counts()
            here = np.bincount(rows, minlength=len(mean))[rows]
            count_z = np.abs(here - mean[rows]) / (std[rows] + 0.5)
            res = semantic + 0.05 * np.minimum(count_z, 20.0)
            return res, {"rows": rows, "nearest": pool_rows[sim.argmax(1)], "pool_count": total[rows],
                         "semantic": semantic, "count": here, "pool_mean": mean[rows]}
        if self.modality == "series":
            diff = np.sqrt(((self._pool - p[None]) ** 2).mean(1))  # (N, C): per channel, per pool window
            nn = diff.argmin(0)
            return diff.min(0), {"nearest": nn}
        mask = ~np.isnan(p)
        pool = np.nan_to_num(self._pool)
        d = np.sqrt(((pool[:, mask] - p[mask]) ** 2).sum(1))
        nn = int(d.argmin())
        res = np.zeros(len(p))
        res[mask] = np.abs(p[mask] - pool[nn, mask])
        return res, {"nearest": nn}

    def _pool_counts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per template row: mean and std of its count per pool window, and its total count in the pool."""
        n = len(self._texts)
        cached = getattr(self, "_counts_cache", None)
        if cached is not None and len(cached[0]) == n:
            return cached
        counts = np.zeros((len(self._pool), n), np.float32)
        for i, w in enumerate(self._pool):
            np.add.at(counts[i], w[w >= 0], 1.0)
        self._counts_cache = (counts.mean(0), counts.std(0), counts.sum(0).astype(int))
        return self._counts_cache

    def element_scores(self, sample: Sample) -> np.ndarray | None:
        """Residual of each template position of a window, each channel of a series window, each feature of a row."""
        _, x = self._arrays([sample])
        return self.residuals(x[0])[0]

    def explain(self, sample: Sample, score: float) -> list[Evidence]:
        """The reference comparison, then the elements that differ most from their nearest normal counterparts."""
        _, x = self._arrays([sample])
        return self.explain_array(x[0], score, names=_names(sample), events=getattr(sample, "events", None))

    def explain_array(self, x: np.ndarray, score: float, templates: Sequence[str] | None = None,
                      names: Sequence[str] = (), events: np.ndarray | None = None, top: int = 3) -> list[Evidence]:
        """Evidence for one raw sample (see `explain`); `names` label channels / features."""
        res, info = self.residuals(x, templates)
        how = f"its {self.k} nearest normals" if self.refs == "nearest" else \
            f"{len(self._sets)} {self.refs} reference set(s) of {self.k}"
        ev = [Evidence(kind="reference", weight=0.0,
                       summary=f"δ = {score:.3f} vs threshold {self.threshold:.3f}, compared with {how} "
                               f"from {len(self._pool)} normal samples",
                       data={"score": float(score), "threshold": float(self.threshold), "refs": self.refs, "k": self.k})]
        total = float(res.sum()) or 1.0
        order = np.argsort(-res, kind="stable")
        seen: set[int] = set()
        for i in order:
            if len(ev) > top or res[i] <= 0:
                break
            if self.modality == "logs":
                row = int(info["rows"][i])
                if row in seen:
                    continue
                seen.add(row)
                text, near = self._texts[row], self._texts[int(info["nearest"][i])]
                n_pool = int(info["pool_count"][i])
                what = "unseen in the normal pool" if n_pool == 0 else f"seen {n_pool}× in the normal pool"
                what += f"; {int(info['count'][i])}× here vs {float(info['pool_mean'][i]):.1f} per normal window"
                valid = np.nonzero(np.asarray(x) >= 0)[0]
                event = int(events[valid[i]]) if events is not None and i < len(valid) and valid[i] < len(events) else None
                ev.append(Evidence(kind="residual", weight=float(res[i] / total),
                                   summary=f"template {text!r} ({what}); nearest normal template {near!r}, "
                                           f"residual {res[i]:.2f}",
                                   template_id=int(x[valid[i]]) if i < len(valid) else None,
                                   data={"template": text, "nearest": near, "residual": float(res[i]),
                                         "position": int(valid[i]) if i < len(valid) else None, "event": event}))
            else:
                label = names[i] if i < len(names) else (f"channel {i}" if self.modality == "series" else f"feature {i}")
                unit = "RMS distance in pool units" if self.modality == "series" else "distance in pool units"
                ev.append(Evidence(kind="residual", weight=float(res[i] / total),
                                   summary=f"{label} is {res[i]:.2f} from its nearest normal counterpart ({unit})",
                                   data={"index": int(i), "name": label, "residual": float(res[i]),
                                         "nearest_pool_sample": int(np.atleast_1d(info["nearest"])[
                                             i if self.modality == "series" else 0])}))
        return ev


def _names(sample: Sample) -> tuple[str, ...]:
    if isinstance(sample, SeriesWindow):
        return sample.channels
    if isinstance(sample, TableRow):
        return sample.features
    return ()


def default_threads() -> None:
    """One torch thread unless OMP_NUM_THREADS says otherwise: this runs on shared 2-core machines."""
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

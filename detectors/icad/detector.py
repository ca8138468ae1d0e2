"""The "icad" detector: in-context anomaly scoring of log windows, metric windows and table rows.

`fit` takes normal (or mostly normal) samples as the reference pool: it encodes them, selects reference sets
(`refs="coreset"` by default, see references.py), runs each set's prompt + references prefix once (its KV cache is
reused for every target), and calibrates a label-free threshold on held-out pool samples (calibrate.py).
`score` combines two discrepancies, as InCTRL adds its in-context residual map to its holistic score: δ against
the closest reference set (the paper's score) and the residual of the target's elements (templates / channels /
features) against their nearest normal counterparts in the whole pool. Each is put on the scale of the held-out
normals (robust z: median and MAD). The default (`score="auto"`) weighs the two by a label-free self-check at fit
time: synthetic anomalies made from the held-out normals (`detectors.icad.inject`) are scored, and each part gets the weight
its AUROC on them earns above chance — so a data set on which δ tells nothing gets (almost) the residual alone,
with no real label used. `"combined"` is the plain sum; `"delta"` and `"residual"` keep one. `explain` shows both,
and the elements farthest from their nearest normal counterparts.

Besides the Detector interface (samples), `fit_arrays` / `score_arrays` take the raw arrays of `data.Split`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Self

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
from detectors.icad.inject import inject
from detectors.icad.inputs import collate, fit_scaler, scale
from detectors.icad.model import ICADModel
from detectors.icad.references import STRATEGIES, Strategy, nearest, select_sets

ScoreMode = Literal["auto", "combined", "delta", "residual"]
SCORE_MODES: tuple[str, ...] = ("auto", "combined", "delta", "residual")
Holdout = Literal["auto", "latest", "random"]
HOLDOUTS: tuple[str, ...] = ("auto", "latest", "random")
SHIPPED = Path(__file__).resolve().parent / "checkpoints" / "universal"
# A log element's id is its template id + _CTX × the code of its "service LEVEL" prefix (0 = none, as in bare
# arrays of template ids); template ids stay below it.
_CTX = 1 << 24
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
        max_pool: Pool samples kept (a random subset beyond this). The nearest-normal residual is a nearest-neighbour
            distance and gains from every normal sample; the cap bounds fit time and memory.
        max_calibration: Held-out pool samples scored to calibrate the threshold.
        seed: Seed of every random choice.
        score: "auto" (robust z of δ and of the residual, InCTRL-style, weighted by how well each tells synthetic
            anomalies from held-out normals at fit time), "combined" (their plain sum), "delta" (the paper's δ
            only) or "residual" (nearest-normal residuals only).
        self_check: Run the synthetic self-check whatever `score` is (its weights land in `auto_weights` and
            `self_check`, for benchmarks that compare modes; the score uses them only when `score="auto"`).
        holdout: Which pool samples calibrate the threshold. "latest": the newest part of the pool (samples come
            in time order), scored against the older part only — logs and metrics drift, and new normal behaviour
            then shows in the calibration as it will in the targets; "random": a random subset, each scored with
            itself left out (exchangeable data, e.g. table rows); "auto": latest for logs and series, random for
            tables.
    """

    name = "icad"
    modalities = frozenset({"logs", "series", "table"})

    def __init__(self, checkpoint: str | Path | None = None, *, model: ICADModel | None = None, k: int = 5,
                 refs: Strategy = "coreset", groups: int = 4, alpha: float = 0.01, cache: bool = True,
                 template_text: Callable[[int], str] | None = None, max_pool: int = 4000,
                 max_calibration: int = 400, batch: int = 128, seed: int = 0, score: ScoreMode = "auto",
                 holdout: Holdout = "auto", self_check: bool = False) -> None:
        if refs not in STRATEGIES:
            raise DetectorError(f"unknown reference strategy {refs!r}; choose one of: {', '.join(STRATEGIES)}")
        if score not in SCORE_MODES:
            raise DetectorError(f"unknown score {score!r}; choose one of: {', '.join(SCORE_MODES)}")
        if holdout not in HOLDOUTS:
            raise DetectorError(f"unknown holdout {holdout!r}; choose one of: {', '.join(HOLDOUTS)}")
        self.score_mode: ScoreMode = score
        self.holdout: Holdout = holdout
        self.holdout_used = "random"
        self.checkpoint, self._model = checkpoint, model
        self.k, self.refs, self.groups, self.alpha, self.cache = k, refs, groups, alpha, cache
        self.template_text = template_text
        self.max_pool, self.max_calibration, self.batch, self.seed = max_pool, max_calibration, batch, seed
        self.modality: str | None = None
        self.threshold = float("inf")
        self.calibration_scores = np.zeros(0)
        self._norm: dict[str, tuple[float, float]] = {}
        self.weights = {"delta": 1.0, "residual": 1.0}
        self.auto_weights = {"delta": 1.0, "residual": 1.0}
        self.self_check: dict[str, float] = {}
        self.run_self_check = self_check
        self._channel_scale = np.ones(0)
        self._texts: list[str] = []
        self._vocab: dict[str, int] = {}
        self._prefixes: list[str] = [""]  # "service LEVEL" prefixes of log elements (see _prefix_codes)
        self._prefix_index: dict[str, int] = {"": 0}
        self._table: Any = None  # the last audit event table scored (see _event_table)
        self._codes: np.ndarray | None = None  # its events' prefix codes (see _prefix_codes)
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
        base, prefix = flat % _CTX, flat // _CTX
        if templates is not None:
            texts = [templates[int(t)] for t in base]
        elif self.template_text is not None:
            texts = [self.template_text(int(t)) for t in base]
        else:
            texts = [f"template {int(t)}" for t in base]
        texts = [f"{self._prefixes[int(c)]} {t}" if c else t for c, t in zip(prefix, texts, strict=True)]
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
            table = self._event_table(samples)
            codes = self._prefix_codes(table) if table is not None else None
            for i, s in enumerate(samples):
                ids = np.asarray(s.templates, np.int64)  # type: ignore[union-attr]
                if codes is not None and len(ids):
                    ids = ids + _CTX * codes[np.asarray(s.events)]  # type: ignore[union-attr]
                x[i, : len(ids)] = ids
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

    def _event_table(self, samples: Sequence[Sample]) -> Any:
        """The audit's event table behind these log windows (a `Windows` set carries it; a single window explained
        after scoring belongs to the last table scored), or None for bare arrays of template ids."""
        table = getattr(samples, "table", None)
        if table is not None:
            if table is not self._table:
                self._table, self._codes = table, None
            return table
        table = self._table
        if table is None or len(samples) != 1:
            return None
        events = np.asarray(getattr(samples[0], "events", np.zeros(0)))
        return table if len(events) and int(events.max()) < len(table) else None

    def _prefix_codes(self, table: Any) -> np.ndarray:
        """Per event of `table`, the code of its "service LEVEL" prefix (0 = none), computed once per table.
        Training saw each line's component and level beside its template (BGL: "KERNEL FATAL …", Loghub:
        "ERROR …"), while the audit's templates hold the message alone: the prefix gives the model back what it
        learnt from."""
        from detectors.eventtable import LEVELS

        if table is self._table and self._codes is not None and len(self._codes) == len(table.level):
            return self._codes  # (a table that grew, as when following files, is read again)
        pairs = table.service.astype(np.int64) * 16 + table.level.astype(np.int64)
        uniq, inv = np.unique(pairs, return_inverse=True)
        codes = np.empty(len(uniq), np.int64)
        for j, pair in enumerate(uniq.tolist()):
            text = " ".join(t for t in (table.services[pair // 16], LEVELS[pair % 16]) if t)
            if text not in self._prefix_index:
                self._prefix_index[text] = len(self._prefixes)
                self._prefixes.append(text)
            codes[j] = self._prefix_index[text]
        self._table, self._codes = table, codes[inv]  # the last table only (fit, then score, read one each)
        return self._codes

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
        latest = self.holdout == "latest" or (self.holdout == "auto" and modality != "table")
        n_held = min(self.max_calibration, n // 3)
        # Time-ordered calibration needs an older part that can still hold the references.
        self.holdout_used = "latest" if latest and n_held >= 10 and n - n_held > self.k else "random"
        older = n - n_held if self.holdout_used == "latest" else n  # references / residual pool of calibration
        self._sets: list[np.ndarray] = []
        self._states: list[Any] = []
        if self.refs != "nearest":
            self._sets = select_sets(self._pool_emb[:older], self.k, self.groups, self.refs, self.seed)
            self._states = [self.model.prefix_state(self._pool_tok[s]) for s in self._sets] if self.cache else []
        if self.holdout_used == "latest":
            held = np.arange(older, n)
        elif self.refs == "nearest":
            held = rng.choice(n, min(n, self.max_calibration), replace=False)
        else:
            used = np.unique(np.concatenate(self._sets))
            rest = np.setdiff1d(np.arange(n), used)
            if len(rest) == 0:
                rest = used  # a tiny pool: calibrate on the references themselves (optimistic; said in the report)
            held = rest if len(rest) <= self.max_calibration else rng.choice(rest, self.max_calibration, replace=False)
        self._held, self._older = np.asarray(held), older
        cal = self._calibration_delta(self._pool_tok[self._held], self._pool_emb[self._held])
        cal_res = self._calibration_residuals(self._pool[self._held], calibrate=True)
        self._norm = {"delta": _robust(cal), "residual": _robust(cal_res)}
        self.calibration_parts = {"delta": cal, "residual": cal_res}
        self.weights, self.self_check = {"delta": 1.0, "residual": 1.0}, {}
        if self.score_mode == "auto" or self.run_self_check:
            self._weigh_parts(cal, cal_res)
            if self.score_mode == "auto":
                self.weights = dict(self.auto_weights)
        self.calibration_scores = self._combine(cal, cal_res)
        self.threshold = conformal_threshold(self.calibration_scores, self.alpha)
        return self

    def _combine(self, delta: np.ndarray, residual: np.ndarray) -> np.ndarray:
        if self.score_mode == "delta":
            return delta
        if self.score_mode == "residual":
            return residual
        return self.z_sum(delta, residual, self.weights)

    def z_sum(self, delta: np.ndarray, residual: np.ndarray,
              weights: dict[str, float] | None = None) -> np.ndarray:
        """Weighted sum of the two parts in units of the held-out normals (robust z); equal weights by default."""
        w = weights or {"delta": 1.0, "residual": 1.0}
        (md, sd), (mr, sr) = self._norm["delta"], self._norm["residual"]
        return w["delta"] * (delta - md) / sd + w["residual"] * (residual - mr) / sr

    def _weigh_parts(self, cal: np.ndarray, cal_res: np.ndarray) -> None:
        """The label-free self-check of `score="auto"`: one synthetic anomaly per held-out normal (`detectors.icad.inject`),
        made from the distinct held-out normals in turn and scored like any target; each part's weight is its
        AUROC on the distinct held-out normals vs these, above chance (max(AUROC − 0.5, 0)), scaled so the two
        weights sum to 2 (equal weights = "combined")."""
        from sklearn.metrics import roc_auc_score


        rng = np.random.default_rng(self.seed + 1)
        # Distinct held-out normals only: a log whose newest part repeats one window (BGL's runs of one message)
        # would otherwise make the check one window scored many times over. Synthetic anomalies are still made
        # from them as many times as there were held-out normals.
        _, first = np.unique(self._pool[self._held].reshape(len(self._held), -1), axis=0, return_index=True)
        first = np.sort(first)
        cal, cal_res = cal[first], cal_res[first]
        bases = self._held[first]
        if len(bases) < len(self._held):
            bases = np.r_[bases, rng.choice(bases, len(self._held) - len(bases))]
        fake = []
        for i in bases:
            foreign: np.ndarray | None = None
            if self.modality == "logs":
                foreign = rng.integers(0, len(self._texts), 8)  # pool templates, out of their place
            elif self.modality == "table":
                foreign = self._pool[int(rng.integers(len(self._pool)))]  # another row's context
            fake.append(inject(self.modality, self._pool[i], rng, foreign))
        x = np.stack(fake)
        delta = self._calibration_delta(*self._encode(x))
        residual = self._calibration_residuals(x)
        y = np.r_[np.zeros(len(cal)), np.ones(len(x))]
        auc = {"delta": float(roc_auc_score(y, np.r_[cal, delta])),
               "residual": float(roc_auc_score(y, np.r_[cal_res, residual]))}
        gain = {k: max(v - 0.5, 0.0) for k, v in auc.items()}
        total = sum(gain.values())
        self.auto_weights = {k: 2 * g / total for k, g in gain.items()} if total > 0 else {"delta": 1.0, "residual": 1.0}
        self.self_check = {**auc, "n": float(len(x)), "normals": float(len(cal))}

    def _calibration_delta(self, tok: torch.Tensor, emb: np.ndarray) -> np.ndarray:
        """δ of held-out pool samples (or of synthetic anomalies made from them): against the reference sets, or
        for "nearest" against each one's nearest normals among the older part ("latest") or the whole pool with
        the source sample left out ("random")."""
        if self.refs != "nearest":
            return self._score_sets(tok)
        exclude = self._held if self.holdout_used == "random" else None
        return self._score_nearest(tok, emb, exclude=exclude, limit=self._older)

    # ---- nearest-normal residuals (InCTRL) ----------------------------------------------------------------------

    def _calibration_residuals(self, prepared: np.ndarray, calibrate: bool = False) -> np.ndarray:
        """Residuals of held-out pool samples (or of synthetic anomalies made from them) against the rest of the
        pool: the older part (holdout "latest"), or the whole pool with each source sample left out ("random")."""
        if self.holdout_used == "random":
            return self._residual_scores(prepared, exclude=self._held, calibrate=calibrate)
        pool, cached = self._pool, self._counts_cache
        self._pool, self._counts_cache = pool[: self._older], None
        try:
            return self._residual_scores(prepared, calibrate=calibrate)
        finally:
            self._pool, self._counts_cache = pool, cached

    def _residual_scores(self, prepared: np.ndarray, exclude: np.ndarray | None = None,
                         calibrate: bool = False) -> np.ndarray:
        """One residual per sample: its largest element residual against the nearest normal elements of the pool.

        logs: per template, semantic novelty (1 − cosine to the nearest pool template) + 0.05 × how unusual its
        count in the window is; tables: distance to the nearest pool row; series: per channel, RMS distance to the
        nearest pool window, in units of that channel's typical normal residual, max over channels.
        `exclude[i]` is a pool index left out for sample i (held-out pool samples calibrating the threshold).
        """
        if len(prepared) == 0:
            return np.zeros(0)
        if self.modality == "logs":
            if exclude is not None:
                return np.array([self._log_residuals(w, leave_out=True).max(initial=0.0) for w in prepared])
            return self._log_residuals_batch(prepared)
        pool = np.nan_to_num(self._pool).astype(np.float32)
        x = np.nan_to_num(prepared).astype(np.float32)
        if self.modality == "table":
            d = _sq_dist(x, pool)
            if exclude is not None:
                d[np.arange(len(x)), exclude] = np.inf
            return np.sqrt(d.min(1).clip(min=0)).astype(np.float64)
        # series: (M, L, C) vs (N, L, C), per channel
        length, c = x.shape[1], x.shape[2]
        out = np.empty((len(x), c), np.float64)
        for ch in range(c):
            d = _sq_dist(x[:, :, ch], pool[:, :, ch])
            if exclude is not None:
                d[np.arange(len(x)), exclude] = np.inf
            out[:, ch] = np.sqrt(d.min(1).clip(min=0) / length)
        if calibrate:
            self._channel_scale = np.maximum(np.median(out, 0), 1e-3)
        return (out / self._channel_scale).max(1)

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

    def _score_nearest(self, tok: torch.Tensor, emb: np.ndarray, exclude: np.ndarray | None = None,
                       limit: int | None = None) -> np.ndarray:
        """δ of each target against its own K nearest pool samples (among the first `limit`, when given)."""
        idx = nearest(emb, self._pool_emb[:limit], self.k, exclude)
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
        return self.score_parts(x, templates)["score"]

    def score_parts(self, x: np.ndarray, templates: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """δ, residual and the combined score (the one `score_mode` uses is "score") of raw samples."""
        if self.modality is None:
            raise NotFitted("icad: call fit() on normal samples before score()")
        prepared = self._prepare(x, templates)
        delta = np.zeros(len(prepared))
        if self.score_mode != "residual":
            tok, emb = self._encode(prepared)
            delta = self._score_nearest(tok, emb) if self.refs == "nearest" else self._score_sets(tok)
        residual = self._residual_scores(prepared)
        return {"delta": delta, "residual": residual, "score": self._combine(delta, residual)}

    def bind_templates(self, template_text: Callable[[int], str]) -> None:
        """Use the audit's template lookup unless one was given."""
        if self.template_text is None:
            self.template_text = template_text

    def threshold_rule(self) -> str:
        """How the threshold was set, for the report."""
        how = "each target's nearest normals" if self.refs == "nearest" else f"{len(self._sets)} {self.refs} set(s)"
        w = self.weights
        what = {"delta": "δ", "residual": "nearest-normal residual",
                "combined": "z(δ) + z(nearest-normal residual)",
                "auto": f"{w['delta']:.2f}·z(δ) + {w['residual']:.2f}·z(nearest-normal residual)"}[self.score_mode]
        held = (f"the newest {len(self.calibration_scores)} normal samples, scored against {how} of K={self.k} "
                f"from the older ones" if self.holdout_used == "latest" else
                f"{len(self.calibration_scores)} held-out normal samples scored against {how} of K={self.k}")
        rule = f"icad: {what} ≥ {self.threshold:.3f}, the conformal {1 - self.alpha:.1%} quantile of {held} (label-free)"
        if self.self_check and self.score_mode == "auto":
            c = self.self_check
            rule += (f"; weights from a self-check on {int(c['n'])} synthetic anomalies made from the "
                     f"{int(c.get('normals', c['n']))} distinct ones among those normals "
                     f"(AUROC δ {c['delta']:.2f}, residual {c['residual']:.2f})")
        return rule

    def part_thresholds(self) -> dict[str, float]:
        """The label-free threshold each score part would have on its own (δ, residual) and the combined one."""
        out = {k: conformal_threshold(v, self.alpha) for k, v in self.calibration_parts.items()}
        out["score"] = self.threshold
        return out

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
            return self._log_residuals(p, info=True)  # type: ignore[return-value]
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

    @staticmethod
    def _element_residual(semantic: np.ndarray, here: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        """Semantic novelty + 0.05 × how unusual the template's count here is against its per-window pool counts."""
        return semantic + 0.05 * np.minimum(np.abs(here - mean) / (std + 0.5), 20.0)

    def _log_residuals_batch(self, windows: np.ndarray) -> np.ndarray:
        """Largest element residual of each window (no exclusion): `_log_residuals` for many windows at once."""
        mean, std, total = self._pool_counts()
        pool_rows = np.nonzero(total > 0)[0]
        if len(pool_rows) == 0:
            return np.ones(len(windows))
        v = torch.nn.functional.normalize(self._tvec, dim=-1)
        semantic = (1 - (v @ v[torch.from_numpy(pool_rows)].T).max(1).values.numpy()).clip(min=0)
        out = np.zeros(len(windows))
        for i in range(0, len(windows), 4096):
            w = windows[i:i + 4096]
            valid = w >= 0
            safe = np.where(valid, w, 0)
            here = ((w[:, :, None] == w[:, None, :]) & valid[:, None, :]).sum(2)
            res = self._element_residual(semantic[safe], here, mean[safe], std[safe])
            out[i:i + 4096] = np.where(valid, res, 0.0).max(1, initial=0.0)
        return out

    def _log_residuals(self, window: np.ndarray, leave_out: bool = False, info: bool = False) -> Any:
        """Element residuals of one window of template rows (see `residuals`); `leave_out`: the window is a pool
        member, and its own templates do not count as seen."""
        rows = window[window >= 0]
        mean, std, total = self._pool_counts()
        here_all = np.bincount(rows, minlength=len(mean))
        elsewhere = total - (here_all[: len(total)] if leave_out else 0)
        pool_rows = np.nonzero(elsewhere > 0)[0]
        if len(pool_rows) == 0 or len(rows) == 0:
            res = np.ones(len(rows))
            return (res, {"rows": rows, "nearest": rows, "pool_count": np.zeros(len(rows), int),
                          "semantic": res, "count": here_all[rows], "pool_mean": np.zeros(len(rows))}) if info else res
        v = torch.nn.functional.normalize(self._tvec, dim=-1)
        sim = (v[torch.from_numpy(rows)] @ v[torch.from_numpy(pool_rows)].T).numpy()
        semantic = (1 - sim.max(1)).clip(min=0)
        res = self._element_residual(semantic, here_all[rows], mean[rows], std[rows])
        if not info:
            return res
        return res, {"rows": rows, "nearest": pool_rows[sim.argmax(1)], "pool_count": elsewhere[rows],
                     "semantic": semantic, "count": here_all[rows], "pool_mean": mean[rows]}

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
        parts = self.score_parts(np.asarray(x)[None], templates)
        delta, residual = float(parts["delta"][0]), float(parts["residual"][0])
        how = f"its {self.k} nearest normals" if self.refs == "nearest" else \
            f"{len(self._sets)} {self.refs} reference set(s) of {self.k}"
        ev = [Evidence(kind="reference", weight=0.0,
                       summary=f"score {score:.2f} vs threshold {self.threshold:.2f} (δ = {delta:.3f} against {how}; "
                               f"largest residual {residual:.2f} against the nearest of {len(self._pool)} normal "
                               f"samples; {self.score_mode} score"
                               + (f", weights δ {self.weights['delta']:.2f} / residual {self.weights['residual']:.2f}"
                                  if self.score_mode == "auto" else "") + ")",
                       data={"score": float(score), "threshold": float(self.threshold), "refs": self.refs, "k": self.k,
                             "delta": delta, "residual": residual, "mode": self.score_mode,
                             "weights": dict(self.weights)})]
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
                                   template_id=int(x[valid[i]]) % _CTX if i < len(valid) else None,
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


def _robust(x: np.ndarray) -> tuple[float, float]:
    """Median and scale of held-out normal scores: the unit of the combined score.

    The scale is 1.4826 × MAD. When at least half the held-out normals score exactly alike (a log whose windows
    mostly repeat known templates), the MAD is 0 and says nothing about the spread; the upper tail's,
    (q99 − median) / 2.326 (σ for normal scores), is used then, so that part's z does not swamp the other's.
    """
    x = np.asarray(x, np.float64)
    med = float(np.median(x))
    mad = 1.4826 * float(np.median(np.abs(x - med)))
    if mad <= 1e-9 * max(abs(med), 1.0):
        mad = (float(np.quantile(x, 0.99)) - med) / 2.326
    return med, max(mad, 0.1 * float(np.std(x)), 1e-6)


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(M, N) squared Euclidean distances between the rows of a and b (flattened), in float64."""
    from sklearn.metrics.pairwise import euclidean_distances

    return euclidean_distances(a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64),
                               squared=True)


def _names(sample: Sample) -> tuple[str, ...]:
    if isinstance(sample, SeriesWindow):
        return sample.channels
    if isinstance(sample, TableRow):
        return sample.features
    return ()


def default_threads() -> None:
    """One torch thread unless OMP_NUM_THREADS says otherwise: this runs on shared 2-core machines."""
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

"""`sleuth bench icad`: ICAD-LLM's quality and speed on ../shared/data, baselines in the same run on the same splits.

Every row uses the splits of data.py, the same ones training drew from: no test sample or test label ever reached
training (its hard negatives are fit-side anomalies or synthetic ones; ADBench thyroid and logreduce are not seen
at all). Thresholds are label-free for both ICAD and the baselines: the conformal
(1 − α) quantile of held-out normal pool scores. Best-F1 and AUROC peek at labels and are reference columns only.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.icad.calibrate import conformal_threshold
from detectors.icad.detector import ICADDetector, load_model
from lab.icad import data as D
from lab.icad.train import DEFAULT_DATA


@dataclass
class Row:
    """One benchmark row: ICAD's figures and the baseline's, same split."""

    section: str
    dataset: str
    metric: str
    icad: float | None
    baseline: float | None = None
    baseline_name: str = ""
    goal: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _auroc(y: np.ndarray, s: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else None


def _best_f1(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import precision_recall_curve

    p, r, _ = precision_recall_curve(y, s)
    f = 2 * p * r / np.maximum(p + r, 1e-12)
    return float(f.max())


def _f1_at(y: np.ndarray, s: np.ndarray, thr: float) -> tuple[float, float, float]:
    pred = s >= thr
    tp = float((pred & (y == 1)).sum())
    p = tp / max(pred.sum(), 1)
    r = tp / max((y == 1).sum(), 1)
    return (2 * p * r / (p + r) if p + r else 0.0), p, r


def _pa_best_f1(y: np.ndarray, s: np.ndarray, n_thr: int = 200) -> float:
    """Point-adjusted best F1 (a segment counts as found when any of its points is flagged)."""
    seg = np.cumsum(np.diff(np.concatenate([[0], y])) == 1) * y
    best = 0.0
    for thr in np.unique(np.quantile(s, np.linspace(0.5, 1.0, n_thr))):
        pred = s >= thr
        hit = np.zeros(seg.max() + 1, bool)
        np.logical_or.at(hit, seg[pred & (y == 1)], True)
        adj = pred | ((y == 1) & hit[seg])
        best = max(best, _f1_at(y, adj.astype(float), 0.5)[0])
    return best


def _iforest(pool: np.ndarray, test: np.ndarray, alpha: float, seed: int = 0) -> tuple[np.ndarray, float]:
    """Isolation Forest fitted on 80 % of the pool; threshold = conformal quantile of the other 20 %."""
    from sklearn.ensemble import IsolationForest

    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(pool))
    cut = max(1, int(len(pool) * 0.8))
    model = IsolationForest(n_estimators=200, random_state=seed).fit(pool[idx[:cut]])
    held = -model.score_samples(pool[idx[cut:]]) if cut < len(pool) else -model.score_samples(pool)
    return -model.score_samples(test), conformal_threshold(held, alpha)


def _counts(windows: np.ndarray, vocab: int) -> np.ndarray:
    out = np.zeros((len(windows), vocab), np.float32)
    for i, w in enumerate(windows):
        w = w[w >= 0]
        np.add.at(out[i], w, 1.0)
    return out


def _series_feats(w: np.ndarray) -> np.ndarray:
    return np.concatenate([w.mean(1), w.std(1), w.min(1), w.max(1), w[:, -1]], 1)


def _points(split: D.Split, win_scores: np.ndarray, n: int) -> np.ndarray:
    """Window scores -> point scores: each window scores its newest SERIES_STRIDE points."""
    out = np.zeros(n)
    for e, s in zip(split.extra["ends"], win_scores, strict=True):
        out[max(0, e - D.SERIES_STRIDE):e] = s
    return out


class Bench:
    """Runs the rows; one loaded model, one detector configuration per row."""

    def __init__(self, data: Path, checkpoint: Path | None, quick: bool, alpha: float, log: Any,
                 score: str = "auto") -> None:
        self.data, self.quick, self.alpha, self.log, self.score = data, quick, alpha, log, score
        self.model = load_model(checkpoint)
        self.rows: list[Row] = []

    def det(self, **kw: Any) -> ICADDetector:
        kw.setdefault("score", self.score)
        return ICADDetector(model=self.model, alpha=self.alpha, max_calibration=200 if self.quick else 300,
                            self_check=True, **kw)

    def parts(self, det: ICADDetector, x: np.ndarray, y: np.ndarray, name: str, section: str,
              templates: list[str] | None = None, to_points: Any = None) -> np.ndarray:
        """Score with the bench's score mode; add one row comparing its two parts alone (δ, residual), their plain
        sum and their sum weighted by the synthetic self-check ("auto"), with the weights it gave."""
        p = det.score_parts(x, templates)
        thr = det.part_thresholds()
        yy = y if to_points is None else to_points[0]
        conv = (lambda v: v) if to_points is None else to_points[1]
        d, r = conv(p["delta"]), conv(p["residual"])
        plain = conv(det.z_sum(p["delta"], p["residual"]))
        w, c = det.auto_weights, det.self_check
        auto = conv(det.z_sum(p["delta"], p["residual"], w))
        if _auroc(yy, d) is not None:
            self.add(Row(section, name, "AUROC: δ alone (residual alone, plain sum, auto in note)", _auroc(yy, d),
                         note=f"residual alone {_auroc(yy, r):.3f}, plain sum {_auroc(yy, plain):.3f}, "
                              f"auto-weighted {_auroc(yy, auto):.3f}; "
                              f"F1@thr δ {_f1_at(yy, d, thr['delta'])[0]:.2f} / "
                              f"residual {_f1_at(yy, r, thr['residual'])[0]:.2f}; self-check AUROC "
                              f"δ {c.get('delta', float('nan')):.2f} / residual {c.get('residual', float('nan')):.2f} "
                              f"→ weights {w['delta']:.2f} / {w['residual']:.2f}"))
        return p["score"]

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(_fmt_row(row), file=self.log, flush=True)

    # ---- logs -------------------------------------------------------------------------------------------------

    def logs_labelled(self) -> None:
        for split, goal_auc, goal_f1 in ((D.bgl(self.data), "≥ 0.95", "≥ 0.6"),
                                         (D.openstack(self.data), "", "≥ 0.97")):
            t = time.time()
            det = self.det().fit_arrays("logs", split.pool, split.templates)
            y = split.test_y
            s = self.parts(det, split.test, y, split.name, "logs", split.templates)
            f1, p, r = _f1_at(y, s, det.threshold)
            vocab = len(split.templates)
            ifs, ift = _iforest(_counts(split.pool, vocab), _counts(split.test, vocab), self.alpha)
            if_f1 = _f1_at(y, ifs, ift)
            note = f"{len(split.pool)} pool / {len(s)} test samples, {time.time() - t:.0f} s"
            self.add(Row("logs", split.name, "AUROC", _auroc(y, s), _auroc(y, ifs), "IForest", goal_auc, note))
            self.add(Row("logs", split.name, "best-F1 (oracle thr.)", _best_f1(y, s), _best_f1(y, ifs), "IForest"))
            self.add(Row("logs", split.name, "F1 @ label-free thr.", f1, if_f1[0], "IForest", goal_f1,
                         f"ICAD P {p:.2f} R {r:.2f}; IForest P {if_f1[1]:.2f} R {if_f1[2]:.2f}"))
            if split.name == "openstack":
                rule = split.extra["warn_rule"].astype(float)
                self.add(Row("logs", split.name, "F1 @ label-free thr.", f1, _f1_at(y, rule, 0.5)[0],
                             "WARN/ERROR rule", "≥ 0.97"))

    def loghub_flags(self) -> None:
        systems = D.LOGHUB_SYSTEMS[:4] if self.quick else D.LOGHUB_SYSTEMS
        splits = [D.loghub(self.data, s) for s in systems] + ([] if self.quick else [D.hdfs2k(self.data)])
        for split in splits:
            det = self.det().fit_arrays("logs", split.pool, split.templates)
            s = det.score_arrays(split.test, split.templates)
            vocab = len(split.templates)
            ifs, ift = _iforest(_counts(split.pool, vocab), _counts(split.test, vocab), self.alpha)
            # Test windows do not overlap, so the fraction of flagged windows is the fraction of flagged lines.
            self.add(Row("loghub", split.name, "lines flagged (lower is better)", float((s >= det.threshold).mean()),
                         float((ifs >= ift).mean()), "IForest", "low", f"{len(s)} windows of {split.extra['window']}"))

    def logreduce(self) -> None:
        aucs, base = [], []
        for split in D.logreduce(self.data):
            if len(split.pool) < 7:
                continue
            det = self.det().fit_arrays("logs", split.pool, split.templates)
            s = det.score_arrays(split.test, split.templates)
            ly, w = split.extra["line_y"], split.extra["window"]
            line_s = np.zeros(len(ly))
            seen = set(np.unique(split.pool[split.pool >= 0]).tolist())
            line_b = np.zeros(len(ly))
            for st, sc, win in zip(split.extra["starts"], s, split.test, strict=True):
                line_s[st:st + w] = np.maximum(line_s[st:st + w], sc)
                line_b[st:st + w] = np.maximum(line_b[st:st + w], np.mean([t not in seen for t in win if t >= 0]))
            if (a := _auroc(ly, line_s)) is not None:
                aucs.append(a)
                base.append(_auroc(ly, line_b) or 0.5)
        self.add(Row("zero-shot", "logreduce (5 CI cases)", "mean line AUROC", float(np.mean(aucs)),
                     float(np.mean(base)), "unseen-template share", "", "not in training"))

    # ---- series -----------------------------------------------------------------------------------------------

    def smd(self) -> None:
        machines = D.SMD_MACHINES[:1] if self.quick else D.SMD_MACHINES
        for m in machines:
            t = time.time()
            split = D.smd(self.data, m)
            det = self.det().fit_arrays("series", split.pool)
            y = split.extra["point_y"]
            s = self.parts(det, split.test, y, split.name, "series",
                           to_points=(y, lambda v, sp=split, n=len(y): _points(sp, v, n)))
            ps = _points(split, s, len(y))
            ifw, ifw_t = _iforest(_series_feats(split.pool), _series_feats(split.test), self.alpha)
            ifp = _points(split, ifw, len(y))
            f1, p, r = _f1_at(y, ps, det.threshold)
            self.add(Row("series", split.name, "AUROC", _auroc(y, ps), _auroc(y, ifp), "windowed IForest", "≥ 0.80",
                         f"{len(s)} windows, {time.time() - t:.0f} s"))
            self.add(Row("series", split.name, "best-F1 (oracle thr.)", _best_f1(y, ps), _best_f1(y, ifp),
                         "windowed IForest", "≥ 0.40"))
            self.add(Row("series", split.name, "F1 @ label-free thr.", f1, _f1_at(y, ifp, ifw_t)[0],
                         "windowed IForest", "", f"ICAD P {p:.2f} R {r:.2f}"))
            train = split.pool[:, -1, :]
            ifpt, _ = _iforest(train, split.extra["test_points"], self.alpha)
            self.add(Row("series", split.name, "point-adjusted best-F1", _pa_best_f1(y, ps), _pa_best_f1(y, ifpt),
                         "point-wise IForest", "(not discriminating)"))

    def nab(self) -> None:
        names = [n for n in D.nab_names(self.data) if "NoAnomaly" not in n]
        if self.quick:
            names = names[::3]
        aucs, base, d_aucs, r_aucs, p_aucs, a_aucs, w_res = [], [], [], [], [], [], []
        for rel in names:
            split = D.nab_series(self.data, rel)
            y = split.extra["point_y"]
            if y.sum() == 0:
                continue
            det = self.det().fit_arrays("series", split.pool)
            parts = det.score_parts(split.test)
            ps = _points(split, parts["score"], len(y))
            d_aucs.append(_auroc(y, _points(split, parts["delta"], len(y))))
            r_aucs.append(_auroc(y, _points(split, parts["residual"], len(y))))
            p_aucs.append(_auroc(y, _points(split, det.z_sum(parts["delta"], parts["residual"]), len(y))))
            a_aucs.append(_auroc(y, _points(split, det.z_sum(parts["delta"], parts["residual"], det.auto_weights),
                                            len(y))))
            w_res.append(det.auto_weights["residual"])
            v = split.extra["values"]
            cut = split.extra["cut"]
            z = np.zeros(len(y))
            for i in range(len(y)):
                hist = v[max(0, cut + i - 64):cut + i]
                z[i] = abs(v[cut + i] - hist.mean()) / (hist.std() + 1e-9)
            aucs.append(_auroc(y, ps))
            base.append(_auroc(y, z))
        self.add(Row("series", f"NAB ({len(aucs)} labelled series)", "mean AUROC", float(np.mean(aucs)),
                     float(np.mean(base)), "rolling z-score", "≥ 0.65",
                     f"δ alone {np.mean(d_aucs):.3f}, residual alone {np.mean(r_aucs):.3f}, plain sum "
                     f"{np.mean(p_aucs):.3f}, auto-weighted {np.mean(a_aucs):.3f} (mean residual weight "
                     f"{np.mean(w_res):.2f} of 2)"))

    # ---- tables -----------------------------------------------------------------------------------------------

    def tables(self) -> None:
        goals = {"cardio": "≥ 0.97", "annthyroid": "≥ 0.93"}
        ours, theirs = [], []
        for name in D.ADBENCH:
            split = D.adbench(self.data, name, max_test=1500 if self.quick else 3000)
            det = self.det().fit_arrays("table", split.pool)
            s = self.parts(det, split.test, split.test_y, split.name, "table")
            ifs, ift = _iforest(split.pool, split.test, self.alpha)
            a, b = _auroc(split.test_y, s), _auroc(split.test_y, ifs)
            ours.append(a)
            theirs.append(b)
            f1 = _f1_at(split.test_y, s, det.threshold)[0]
            note = "zero-shot: not in training" if split.name in D.ZERO_SHOT else ""
            self.add(Row("table", split.name, "AUROC", a, b, "IForest", goals.get(name, ""),
                         f"{note} F1@thr ICAD {f1:.2f} / IForest {_f1_at(split.test_y, ifs, ift)[0]:.2f}".strip()))
        self.add(Row("table", "ADBench mean", "AUROC", float(np.mean(ours)), float(np.mean(theirs)), "IForest",
                     "beat IForest"))

    # ---- ablations and speed ----------------------------------------------------------------------------------

    def ablations(self) -> None:
        cases: list[tuple[str, D.Split]] = [("logs", D.bgl(self.data)),
                                            ("table", D.adbench(self.data, "cardio"))]
        if not self.quick:
            cases.append(("series", D.smd(self.data, "machine-1-2")))
        for mod, split in cases:
            tpl = split.templates or None
            y = split.test_y
            for refs in ("random", "coreset", "nearest"):
                det = self.det(refs=refs).fit_arrays(mod, split.pool, tpl)
                s = det.score_arrays(split.test, tpl)
                self.add(Row("refs", split.name, f"AUROC, refs={refs}", _auroc(y, s),
                             note=f"F1@thr {_f1_at(y, s, det.threshold)[0]:.2f}"))
            if mod == "series":
                continue  # K on logs and tables only: the series rows cost the most
            for k in ((1, 10) if self.quick else (1, 3, 5, 10)):
                det = self.det(k=k).fit_arrays(mod, split.pool, tpl)
                s = det.score_arrays(split.test, tpl)
                self.add(Row("K", split.name, f"AUROC, K={k} (coreset)", _auroc(y, s)))

    def speed(self) -> None:
        split = D.bgl(self.data)
        n = 128 if self.quick else 256
        for cache in (True, False):
            det = self.det(cache=cache, groups=1).fit_arrays("logs", split.pool, split.templates)
            x = split.test[:n]
            t = time.perf_counter()
            det.score_arrays(x, split.templates)
            rate = n / (time.perf_counter() - t)
            self.add(Row("speed", "BGL windows, 1 reference set", f"targets/s, prefix cache {'on' if cache else 'off'}",
                         rate, note="1 torch thread" if _threads() == 1 else f"{_threads()} torch threads"))


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _fmt(v: float | None) -> str:
    return "–" if v is None else (f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}")


def _fmt_row(r: Row) -> str:
    base = f"{_fmt(r.baseline)} ({r.baseline_name})" if r.baseline_name else ""
    return f"| {r.section} | {r.dataset} | {r.metric} | {_fmt(r.icad)} | {base} | {r.goal} | {r.note} |"


def run_bench(data: Path = DEFAULT_DATA, checkpoint: Path | None = None, quick: bool = False, alpha: float = 0.01,
              out: Path | None = None, sections: tuple[str, ...] = (), score: str = "auto") -> list[Row]:
    """Run the benchmark, print the markdown table row by row, and return the rows (and write JSON to `out`).

    Args:
        data: The shared data folder.
        checkpoint: The checkpoint folder (default: the shipped one).
        quick: Subsample (1 SMD machine, every third NAB series, 4 Loghub systems, smaller tables, fewer
            ablations): a few minutes on 2 cores.
        alpha: Target false-alarm rate of the label-free thresholds (ICAD and baselines alike).
        out: Optional JSON output path.
        sections: Run only these (logs, loghub, logreduce, smd, nab, tables, ablations, speed).
        score: The detector's score mode (default "auto", the detector's: z(δ) and z(residual) weighted by the
            fit-time self-check; every "δ alone" row also gives the plain sum and the auto-weighted sum).
    """
    from detectors.icad.detector import default_threads

    default_threads()
    log = sys.stdout
    t0 = time.time()
    bench = Bench(Path(data), checkpoint, quick, alpha, log, score)
    meta = bench.model.meta
    print(f"ICAD-LLM bench — checkpoint: {meta.get('steps', '?')} steps, backbone {bench.model.cfg.backbone} "
          f"({bench.model.cfg.n_layers} layers), score = {score}, α = {alpha}, {'quick' if quick else 'full'} mode", file=log)
    print("| section | data set | metric | ICAD | baseline (same split) | goal | note |", file=log)
    print("|---|---|---|---|---|---|---|", file=log)
    order = ("speed", "logs", "tables", "smd", "nab", "loghub", "logreduce", "ablations")
    fns = {"logs": bench.logs_labelled, "loghub": bench.loghub_flags, "logreduce": bench.logreduce,
           "smd": bench.smd, "nab": bench.nab, "tables": bench.tables, "ablations": bench.ablations,
           "speed": bench.speed}
    for name in order:
        if sections and name not in sections:
            continue
        fns[name]()
    print(f"total {time.time() - t0:.0f} s", file=log)
    if out is not None:
        Path(out).write_text(json.dumps([r.__dict__ for r in bench.rows], indent=1, default=float) + "\n")
    return bench.rows

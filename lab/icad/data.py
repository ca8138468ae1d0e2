"""Per-dataset sample builders over ../shared/data, with the splits that training and the benchmark share.

Every builder returns a `Split`: a reference pool of fit-side *normal* samples, the fit side's labelled anomalies
where the data set has labels there (`anomalies`), and time-ordered (or by-instance) test samples with their labels.
Training sees pools and fit-side anomalies (the paper's hard negatives; synthetic ones made by `inject` where a data
set has none): test samples and their labels never reach it.

Samples: logs are `(N, w)` int32 template ids into `Split.templates` (-1 = padding); series are `(N, L, C)` raw
float32 windows; tables are `(N, F)` raw float32 rows. Scaling happens later, with statistics of the pool only.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.templates import TemplateStore

LOGHUB_SYSTEMS = ("Android", "Apache", "Hadoop", "HealthApp", "HPC", "Linux", "Mac", "OpenSSH", "OpenStack",
                  "Proxifier", "Spark", "Windows", "Zookeeper")
SMD_MACHINES = ("machine-1-2", "machine-2-1", "machine-3-2")
ADBENCH = {"cardio": "6_cardio.npz", "thyroid": "38_thyroid.npz", "annthyroid": "2_annthyroid.npz",
           "shuttle": "32_shuttle.npz"}
# Left out of training entirely, to measure zero-shot transfer to an unseen data set of a seen modality.
ZERO_SHOT = ("adbench/thyroid", "logreduce")
SERIES_LEN, SERIES_STRIDE = 64, 16


@dataclass
class Split:
    """One data set, split into a normal reference pool (fit side) and labelled test samples."""

    name: str
    modality: str  # logs | series | table
    pool: np.ndarray
    test: np.ndarray
    test_y: np.ndarray  # sample labels (1 = anomaly); all 0 for unlabeled systems
    templates: list[str] = field(default_factory=list)  # logs: text of each template id
    extra: dict[str, Any] = field(default_factory=dict)  # point labels, line counts, levels, the split used
    anomalies: np.ndarray | None = None  # fit-side labelled anomalies (training's hard negatives); never test samples


def _windows(ids: np.ndarray, size: int, step: int) -> np.ndarray:
    if len(ids) < size:
        return np.full((1, size), -1, np.int32) if len(ids) == 0 else \
            np.concatenate([ids, np.full(size - len(ids), -1, np.int32)])[None]
    starts = np.arange(0, len(ids) - size + 1, step)
    return np.stack([ids[s:s + size] for s in starts]).astype(np.int32)


def _stratified_half(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A test mask holding half of each class (shuffled by `rng`)."""
    mask = np.zeros(len(y), bool)
    for cls in (0, 1):
        idx = np.nonzero(y == cls)[0]
        rng.shuffle(idx)
        mask[idx[: len(idx) // 2]] = True
    return mask


def _store_texts(store: TemplateStore, raw_ids: list[int]) -> tuple[np.ndarray, list[str]]:
    """Drain3 cluster ids -> dense local ids, and the template text of each."""
    uniq = sorted(set(raw_ids))
    local = {t: i for i, t in enumerate(uniq)}
    return np.array([local[t] for t in raw_ids], np.int32), [store.template(t) for t in uniq]


# ---- logs ---------------------------------------------------------------------------------------------------------

def bgl(root: Path, window: int = 20) -> Split:
    """BGL_20k sorted by timestamp; first half = fit (windows of `window` lines, step window/2, normal ones form the
    pool), second half = test (non-overlapping windows; a window is anomalous if one of its lines is an alert)."""
    lines = (root / "loghub_bgl" / "BGL_20k.log").read_text(encoding="utf-8", errors="replace").splitlines()
    parts = [(line.split(" ", 9) + [""] * 10)[:10] for line in lines]
    order = np.argsort(np.array([int(p[1]) if p[1].isdigit() else 0 for p in parts]), kind="stable")
    store = TemplateStore(None)
    raw, labels = [], []
    for i in order:
        p = parts[i]
        raw.append(store.add(f"{p[7]} {p[8]} {p[9]}".strip()))
        labels.append(int(p[0] != "-"))
    ids, texts = _store_texts(store, raw)
    y = np.array(labels, np.int8)
    half = len(ids) // 2
    fit_w = _windows(ids[:half], window, window // 2)
    fit_y = _windows(y[:half].astype(np.int32), window, window // 2).max(1)
    test_w = _windows(ids[half:], window, window)
    test_y = _windows(y[half:].astype(np.int32), window, window).max(1)
    return Split("bgl", "logs", fit_w[fit_y == 0], test_w, test_y.astype(np.int8), texts,
                 {"split": f"time-ordered 50/50 of {len(ids)} lines; windows of {window} lines",
                  "fit_all": fit_w, "fit_y": fit_y.astype(np.int8), "test_line_y": y[half:], "window": window},
                 anomalies=fit_w[fit_y == 1])


_INSTANCE = re.compile(r"\[instance: ([0-9a-f-]{36})\]\s*")
_REQ = re.compile(r"\[req-[^\]]*\]\s*")


def openstack(root: Path, max_len: int = 32, seed: int = 0) -> Split:
    """OpenStack nova sample: one sample per VM instance (its template sequence, first and last max_len/2 when
    longer), instances split 50/50 at random (stratified), the pool = the fit side's normal instances."""
    base = root / "openstack_parisakalaki"
    lab = {r["BlockId"].split(": ")[1]: int(r["Label"] == "Anomaly")
           for r in csv.DictReader(open(base / "instance_labels.csv", encoding="utf-8"))}
    store = TemplateStore(None)
    sess: dict[str, list[int]] = defaultdict(list)
    levels: dict[str, set[str]] = defaultdict(set)
    for line in (base / "openstack-nova-sample.log").read_text(encoding="utf-8", errors="replace").splitlines():
        if not line or line[0].isspace():
            continue  # continuation of a traceback: folded into the entry above, as the readers do
        m = _INSTANCE.search(line)
        if not m:
            continue
        text = _INSTANCE.sub("", _REQ.sub("", line)).strip()
        sess[m.group(1)].append(store.add(text))
        levels[m.group(1)].add(line.split(" ", 1)[0])
    keys = [k for k in sess if k in lab]
    flat = [t for k in keys for t in sess[k]]
    dense, texts = _store_texts(store, flat)
    rows, pos = [], 0
    for k in keys:
        n = len(sess[k])
        seq = dense[pos:pos + n]
        pos += n
        if n > max_len:
            seq = np.concatenate([seq[: max_len // 2], seq[-max_len // 2:]])
        rows.append(np.concatenate([seq, np.full(max_len - len(seq), -1, np.int32)]))
    x = np.stack(rows)
    y = np.array([lab[k] for k in keys], np.int8)
    rng = np.random.default_rng(seed)
    test_mask = _stratified_half(y, rng)
    warn = np.array([bool(levels[k] & {"ERROR", "WARNING", "WARN", "CRITICAL"}) for k in keys])
    return Split("openstack", "logs", x[~test_mask & (y == 0)], x[test_mask], y[test_mask], texts,
                 {"split": f"{len(keys)} instances, stratified random 50/50 by instance (seed {seed})",
                  "warn_rule": warn[test_mask], "fit_all": x[~test_mask], "fit_y": y[~test_mask]},
                 anomalies=x[~test_mask & (y == 1)])


def _structured(path: Path, window: int) -> Split:
    rows = list(csv.DictReader(open(path, encoding="utf-8", errors="replace")))
    store = TemplateStore(None)
    raw = [store.add(f"{r.get('Level', '')} {r['Content']}".strip()) for r in rows]
    ids, texts = _store_texts(store, raw)
    half = len(ids) // 2
    test = _windows(ids[half:], window, window)
    return Split("", "logs", _windows(ids[:half], window, window // 2), test, np.zeros(len(test), np.int8), texts,
                 {"split": f"first half of {len(ids)} lines = pool, second half = test (unlabeled)",
                  "test_lines": len(ids) - half, "window": window})


def loghub(root: Path, system: str, window: int = 20) -> Split:
    """An unlabeled Loghub 2k system: first half = pool, second half = test (for the flag rate)."""
    split = _structured(root / "loghub_2k" / system / f"{system}_2k.log_structured.csv", window)
    split.name = f"loghub/{system}"
    return split


def hdfs2k(root: Path, window: int = 20) -> Split:
    """HDFS 2k (unlabeled), like `loghub`."""
    split = _structured(root / "loghub_hdfs_2k" / "HDFS_2k.log_structured.csv", window)
    split.name = "loghub/HDFS"
    return split


def logreduce(root: Path, window: int = 10, step: int = 5) -> list[Split]:
    """logreduce CI cases: windows of the good run = pool; windows of the failed run = test, with line labels
    (a window is anomalous if it holds an annotated line; `extra['line_y']` and `extra['starts']` map back)."""
    import yaml

    out = []
    for case in sorted(p for p in (root / "logreduce_ci").iterdir() if p.is_dir()):
        good = next(case.glob("*.good"))
        fail = next(case.glob("*.fail"))
        ann = yaml.safe_load(open(case / "inf.yaml", encoding="utf-8"))["anomalies"]
        store = TemplateStore(None)
        g_lines = good.read_text(encoding="utf-8", errors="replace").splitlines()
        f_lines = fail.read_text(encoding="utf-8", errors="replace").splitlines()
        raw = [store.add(line.strip() or "<empty>") for line in g_lines + f_lines]
        ids, texts = _store_texts(store, raw)
        g, f = ids[: len(g_lines)], ids[len(g_lines):]
        line_y = np.array([int(any(str(a["line"]).strip() in line for a in ann)) for line in f_lines], np.int8)
        w = min(window, len(f))
        starts = np.arange(0, max(len(f) - w, 0) + 1, step)
        if starts[-1] + w < len(f):
            starts = np.append(starts, len(f) - w)
        test = np.stack([f[s:s + w] for s in starts])
        test_y = np.array([line_y[s:s + w].max() for s in starts], np.int8)
        out.append(Split(f"logreduce/{case.name}", "logs", _windows(g, w, max(1, step // 2)), test, test_y, texts,
                         {"line_y": line_y, "starts": starts, "window": w}))
    return out


# ---- series -------------------------------------------------------------------------------------------------------

def _series_windows(values: np.ndarray, ends: np.ndarray, length: int) -> np.ndarray:
    return np.stack([values[e - length:e] for e in ends]).astype(np.float32)


def smd(root: Path, machine: str, pool_step: int = 32, max_pool: int = 600) -> Split:
    """SMD machine: windows of train.csv (unlabeled, assumed normal) = pool; test windows every 16 points, each
    scoring its newest 16 points (`extra['point_y']` are the test labels, `extra['ends']` the window ends)."""
    base = root / "smd" / machine
    train = np.loadtxt(base / "train.csv.gz", delimiter=",", dtype=np.float32)
    test = np.loadtxt(base / "test.csv.gz", delimiter=",", dtype=np.float32)
    y = np.loadtxt(base / "test_label.txt", dtype=np.int8)
    ends = np.arange(SERIES_LEN, len(train) + 1, pool_step)
    if len(ends) > max_pool:
        ends = ends[np.linspace(0, len(ends) - 1, max_pool).astype(int)]
    pool = _series_windows(train, ends, SERIES_LEN)
    full = np.concatenate([train[-SERIES_LEN:], test])
    t_ends = np.arange(SERIES_STRIDE, len(test) + SERIES_STRIDE, SERIES_STRIDE).clip(max=len(test))
    wins = _series_windows(full, t_ends + SERIES_LEN, SERIES_LEN)
    win_y = np.array([y[max(0, e - SERIES_STRIDE):e].max() for e in t_ends], np.int8)
    interp = []
    for line in (base / "interpretation_label.txt").read_text().splitlines():
        if ":" in line:
            rng_, dims = line.split(":")
            a, b = (int(v) for v in rng_.split("-"))
            interp.append((a - 1, b - 1, [int(d) - 1 for d in dims.split(",") if d.strip()]))
    return Split(f"smd/{machine}", "series", pool, wins, win_y,
                 extra={"point_y": y, "ends": t_ends, "split": "train.csv = pool, test.csv = test",
                        "test_points": test, "interpretation": interp})


def nab_series(root: Path, rel: str, pool_frac: float = 0.2) -> Split:
    """A NAB series: windows over its first `pool_frac` (unlabeled) = pool; the rest scored point-wise."""
    base = root / "nab"
    rows = list(csv.DictReader(open(base / "data" / rel, encoding="utf-8")))
    values = np.array([float(r["value"]) for r in rows], np.float32)[:, None]
    wins = json.load(open(base / "labels" / "combined_windows.json"))[rel]
    ts = [r["timestamp"] for r in rows]
    y = np.array([int(any(a[:19] <= t <= b[:19] for a, b in wins)) for t in ts], np.int8)
    cut = max(int(len(values) * pool_frac), SERIES_LEN + 1)
    pool = _series_windows(values, np.arange(SERIES_LEN, cut + 1, 4), SERIES_LEN)
    t_ends = np.arange(cut + SERIES_STRIDE, len(values) + SERIES_STRIDE, SERIES_STRIDE).clip(max=len(values))
    test = _series_windows(values, t_ends, SERIES_LEN)
    win_y = np.array([y[e - SERIES_STRIDE:e].max() for e in t_ends], np.int8)
    return Split(f"nab/{rel[:-4]}", "series", pool, test, win_y,
                 extra={"point_y": y[cut:], "ends": t_ends - cut, "values": values[:, 0], "cut": cut,
                        "split": f"first {pool_frac:.0%} = pool (unlabeled), rest = test"})


def nab_names(root: Path) -> list[str]:
    """The NAB series present, as `category/file.csv`."""
    return sorted(f"{p.parent.name}/{p.name}" for p in (root / "nab" / "data").glob("*/*.csv"))


# ---- tables -------------------------------------------------------------------------------------------------------

def adbench(root: Path, name: str, seed: int = 0, max_pool: int = 4000, max_test: int | None = None) -> Split:
    """An ADBench table, rows split 50/50 (stratified, seeded): training normals = pool, the other half = test."""
    d = np.load(root / "adbench" / ADBENCH[name], allow_pickle=False)
    x, y = d["X"].astype(np.float32), d["y"].astype(np.int8)
    rng = np.random.default_rng(seed)
    test_mask = _stratified_half(y, rng)
    pool = x[~test_mask & (y == 0)]
    if len(pool) > max_pool:
        pool = pool[rng.choice(len(pool), max_pool, replace=False)]
    tx, ty = x[test_mask], y[test_mask]
    if max_test is not None and len(tx) > max_test:
        keep = np.sort(rng.choice(len(tx), max_test, replace=False))
        tx, ty = tx[keep], ty[keep]
    return Split(f"adbench/{name}", "table", pool, tx, ty,
                 extra={"split": f"stratified random 50/50 of {len(y)} rows (seed {seed}); pool = training normals"},
                 anomalies=x[~test_mask & (y == 1)])


# ---- everything ---------------------------------------------------------------------------------------------------

def training_splits(root: Path, quick: bool = False) -> list[Split]:
    """The data sets training draws its triplets from (their pools only), ZERO_SHOT ones left out."""
    out = [bgl(root), openstack(root), hdfs2k(root)] + [loghub(root, s) for s in LOGHUB_SYSTEMS]
    out += [smd(root, m, max_pool=200 if quick else 600) for m in SMD_MACHINES]
    out += [nab_series(root, rel) for rel in nab_names(root)]
    out += [adbench(root, n) for n in ADBENCH]
    return [s for s in out if s.name not in ZERO_SHOT and len(s.pool) >= 6]

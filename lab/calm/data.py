"""The NAB and SMD series CALM trains and is benchmarked on, with one time-ordered split for both.

NAB: each series' first `TRAIN_SHARE` of points may be used for training (labels are never read for it); the
rest is the evaluation stream, labelled "inside a NAB window". SMD: the `train.csv.gz` rows train, the
`test.csv.gz` rows evaluate; a channel's label is "inside a segment that `interpretation_label.txt` blames on this
channel" and points of segments blamed on other channels are left out of its score (they are neither clearly
normal nor anomalous for it). Data is read in place from ../shared/data, never copied.
"""

from __future__ import annotations

import csv
import gzip
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from lab.paths import shared_data

DEFAULT_DATA = shared_data(must_exist=False)
TRAIN_SHARE = 0.4  # NAB: first 40 % of each series for training; the last 60 % is scored
SMD_MACHINES = ("machine-1-2", "machine-2-1", "machine-3-2")
SMD_CHANNELS_PER_MACHINE = 4  # the channels blamed for the most segments (keeps the benchmark minutes, not hours)


@dataclass
class Series:
    """One univariate series with its split and (evaluation) labels."""

    name: str
    values: np.ndarray  # float64, all points, time-ordered
    timestamps: np.ndarray  # float64 unix seconds
    split: int  # index of the first evaluation point
    labels: np.ndarray  # int8 per point, 1 = anomalous (only meaningful from `split` on)
    mask: np.ndarray  # bool per point, True = scored (False: excluded, e.g. another channel's segment)


def _parse_ts(text: str) -> float:
    return datetime.fromisoformat(text.strip()[:19]).timestamp()


def nab_series(data: Path = DEFAULT_DATA) -> list[Series]:
    """The 27 NAB series, sorted by name."""
    root = data / "nab"
    windows = json.loads((root / "labels" / "combined_windows.json").read_text())
    out: list[Series] = []
    for path in sorted((root / "data").glob("*/*.csv")):
        key = f"{path.parent.name}/{path.name}"
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        ts = np.array([_parse_ts(r["timestamp"]) for r in rows])
        values = np.array([float(r["value"]) for r in rows])
        labels = np.zeros(len(rows), np.int8)
        for start, end in windows.get(key, []):
            labels[(ts >= _parse_ts(start)) & (ts <= _parse_ts(end))] = 1
        split = int(len(rows) * TRAIN_SHARE)
        out.append(Series(f"nab/{key[:-4]}", values, ts, split, labels, np.ones(len(rows), bool)))
    return out


def _load_matrix(path: Path) -> np.ndarray:
    with gzip.open(path, "rt") as handle:
        return np.loadtxt(handle, delimiter=",", dtype=np.float64)


def _segments(path: Path) -> list[tuple[int, int, set[int]]]:
    """(start, end inclusive, 0-based) and the 0-based blamed channels of each SMD segment."""
    out = []
    for line in path.read_text().split():
        span, dims = line.split(":")
        a, b = (int(v) - 1 for v in span.split("-"))
        out.append((a, b, {int(d) - 1 for d in dims.split(",") if d}))
    return out


def smd_train_channels(data: Path = DEFAULT_DATA) -> list[np.ndarray]:
    """Every non-constant channel of every machine's train file (for training only; unlabelled)."""
    out: list[np.ndarray] = []
    for machine in SMD_MACHINES:
        train = _load_matrix(data / "smd" / machine / "train.csv.gz")
        out.extend(train[:, c] for c in range(train.shape[1]) if np.ptp(train[:, c]) > 1e-6)
    return out


def smd_series(data: Path = DEFAULT_DATA, per_machine: int = SMD_CHANNELS_PER_MACHINE) -> list[Series]:
    """Per machine, the `per_machine` channels blamed for the most segments: train rows then test rows.

    The train rows are part of the series only as history (the split is at the first test row), so the stream
    starts with a full context, as NAB's does.
    """
    out: list[Series] = []
    for machine in SMD_MACHINES:
        folder = data / "smd" / machine
        train, test = _load_matrix(folder / "train.csv.gz"), _load_matrix(folder / "test.csv.gz")
        segments = _segments(folder / "interpretation_label.txt")
        point_labels = np.loadtxt(folder / "test_label.txt", dtype=np.int8)
        blame = np.zeros(test.shape[1], int)
        for _, _, dims in segments:
            for d in dims:
                blame[d] += 1
        ranked = [c for c in np.argsort(-blame, kind="stable") if blame[c] > 0 and np.ptp(test[:, c]) > 1e-6]
        for c in ranked[:per_machine]:
            labels = np.zeros(len(test), np.int8)
            mask = np.ones(len(test), bool)
            mask[point_labels == 1] = False  # anomalous rows not blamed on this channel are left out
            for a, b, dims in segments:
                if c in dims:
                    labels[a : b + 1] = 1
                    mask[a : b + 1] = True
            history = train[-2048:, c]  # enough history for a context; the rest of train is for training
            values = np.concatenate([history, test[:, c]])
            ts = np.arange(len(values), dtype=np.float64) * 60.0
            out.append(
                Series(
                    f"smd/{machine}/ch{c + 1:02d}",
                    values,
                    ts,
                    len(history),
                    np.concatenate([np.zeros(len(history), np.int8), labels]),
                    np.concatenate([np.zeros(len(history), bool), mask]),
                )
            )
    return out

"""The LogICL demonstration pool: labelled log samples from other systems (and a few of the target's), retrievable.

A demonstration is one labelled sample — a line, or a session/window given as its sequence of templates — with its
text, label, system and source file:line, plus a stored utility score (`delta`, from distillation: how much this
demo helped the frozen LLM on training queries). Two retrievers share one interface:

- `DemoPool`: vectors in a FAISS index (`retrieval.index`), metadata beside them, persisted in a folder under the
  data dir and extended incrementally (`sleuth pool add ...`);
- `InMemoryRetriever`: the same methods over numpy, nothing on disk (tests, the agent's and TUI's fakes).

Retrieval takes the top-N candidates by cosine similarity (plus `delta_weight` × delta), then MMR picks `k`
diverse demonstrations among them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detectors.recovery import quarantine
from detectors.retriever import (
    ANOMALY,
    MAX_TEXT_CHARS,
    NORMAL,
    Demo,
    Retrieved,
    Retriever,
    register_pool_opener,
    session_text,
)
from retrieval.embed import Encoder, get_encoder
from retrieval.index import IndexError_, VectorIndex
from retrieval.mmr import mmr


class _Base(ABC):
    """Shared retrieval logic over `self._vectors()` (n, d) and `self.demos` (list, index order)."""

    encoder: Encoder
    demos: list[Demo]
    _by_id: dict[str, int]

    @abstractmethod
    def _vectors(self) -> np.ndarray:
        """All pool vectors, (n, d), in index order."""

    @abstractmethod
    def _search(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, indices) of the `n` nearest pool vectors to `query`."""

    def __len__(self) -> int:
        return len(self.demos)

    def vectors(self) -> np.ndarray:
        """Every demo's vector, (n, d), in the order of `demos`."""
        return self._vectors()

    def get(self, demo_id: str) -> Demo | None:
        """The demo with this id, if any."""
        i = self._by_id.get(demo_id)
        return None if i is None else self.demos[i]

    def candidates(self, query: np.ndarray, n: int, *, delta_weight: float = 0.0,
                   systems: Sequence[str] | None = None) -> list[Retrieved]:
        """The top-`n` demos by similarity + `delta_weight` × delta, optionally only from `systems`."""
        if not len(self.demos) or n <= 0:
            return []
        # Over-fetch when filtering or re-ranking by delta so the top-n after that is still right.
        fetch = n if systems is None and delta_weight == 0 else min(len(self.demos), max(4 * n, n + 64))
        sims, ids = self._search(np.asarray(query, np.float32).reshape(1, -1), fetch)
        out = []
        for s, i in zip(sims[0], ids[0]):
            if i < 0:
                continue
            d = self.demos[int(i)]
            if systems is not None and d.system not in systems and not d.target:
                continue
            out.append(Retrieved(d, float(s), float(s) + delta_weight * d.delta))
        out.sort(key=lambda r: -r.relevance)
        return out[:n]

    def vectors_of(self, demos: Sequence[Retrieved]) -> np.ndarray:
        """The pool's vectors of retrieved demos, in order."""
        vecs = self._vectors()
        if not demos:
            return np.zeros((0, vecs.shape[1] if vecs.ndim == 2 else 0), np.float32)
        return vecs[[self._by_id[r.demo.id] for r in demos]]

    def retrieve(self, query: str | np.ndarray, k: int, *, n: int = 50, lam: float = 0.5,
                 delta_weight: float = 0.0, systems: Sequence[str] | None = None) -> list[Retrieved]:
        """`k` demos: the top-`n` candidates by relevance, then MMR (redundancy weight `lam`) among them."""
        qv = self.encoder.encode([query])[0] if isinstance(query, str) else np.asarray(query, np.float32)
        cands = self.candidates(qv, max(n, k), delta_weight=delta_weight, systems=systems)
        return self.select(cands, k, lam)

    def select(self, candidates: Sequence[Retrieved], k: int, lam: float) -> list[Retrieved]:
        """`k` of `candidates` by MMR (redundancy weight `lam`), in the order picked."""
        if not candidates:
            return []
        picked = mmr(np.array([c.relevance for c in candidates]), self.vectors_of(candidates), k, lam)
        return [candidates[i] for i in picked]

    def vote_tuning(self) -> dict[str, Any] | None:
        """No tuned vote settings (a `DemoPool` keeps them beside it)."""
        return None


class InMemoryRetriever(_Base):
    """The pool in numpy, nothing on disk: same methods as `DemoPool`.

    Args:
        encoder: Encodes demo texts and queries (e.g. `HashEncoder()` in tests).
        demos: Initial demos.
    """

    def __init__(self, encoder: Encoder, demos: Iterable[Demo] = ()) -> None:
        self.encoder = encoder
        self.demos = []
        self._by_id = {}
        self._vecs = np.zeros((0, encoder.dim), np.float32)
        self._version = 0
        self.add(demos)

    @classmethod
    def from_vectors(cls, encoder: Encoder, demos: Sequence[Demo], vectors: np.ndarray) -> InMemoryRetriever:
        """A retriever over demos whose vectors are already known (e.g. a subset of another pool's)."""
        if len(demos) != len(vectors):
            raise ValueError(f"{len(demos)} demos but {len(vectors)} vectors")
        out = cls(encoder)
        out.demos = list(demos)
        out._by_id = {d.id: i for i, d in enumerate(out.demos)}
        out._vecs = np.asarray(vectors, np.float32).reshape(len(demos), -1)
        out._version = 1
        return out

    @property
    def version(self) -> str:
        """Bumped on every change."""
        return f"mem{self._version}"

    def add(self, demos: Iterable[Demo]) -> int:
        """Add demos not yet present; returns how many were added."""
        new = [d for d in {d.id: d for d in demos}.values() if d.id not in self._by_id]
        if not new:
            return 0
        vecs = self.encoder.encode([d.text for d in new])
        for d in new:
            self._by_id[d.id] = len(self.demos)
            self.demos.append(d)
        self._vecs = np.concatenate([self._vecs, vecs])
        self._version += 1
        return len(new)

    def set_deltas(self, deltas: dict[str, float]) -> None:
        """Store utility scores by demo id."""
        for demo_id, delta in deltas.items():
            if demo_id in self._by_id:
                self.demos[self._by_id[demo_id]].delta = float(delta)
        self._version += 1

    def _vectors(self) -> np.ndarray:
        return self._vecs

    def _search(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        sims = (self._vecs @ query[0]).astype(np.float32)
        order = np.argsort(-sims, kind="stable")[:n]
        return sims[order][None, :], order[None, :].astype(np.int64)


class DemoPool(_Base):
    """The persisted pool: a FAISS `VectorIndex` whose metadata rows are the demos.

    Args:
        folder: Where the pool lives (created on first save), e.g. `<data dir>/logicl/pool`.
        encoder: Encodes texts; a pool built with another encoder is refused (rebuild it).
    """

    def __init__(self, folder: str | Path, encoder: Encoder) -> None:
        self.folder = Path(folder)
        self.encoder = encoder
        self.recovered: str | None = None  # the message when a damaged pool was moved aside
        try:
            self._load()
        except IndexError_ as error:
            if "was built with encoder" in str(error):  # not damage: the user picks the encoder or rebuilds
                raise
            self._recover(error)
        except Exception as error:  # noqa: BLE001 - cut JSON, a truncated .npy or FAISS file, rows of another version
            self._recover(error)

    def _load(self) -> None:
        if (self.folder / "info.json").is_file():
            self.index = VectorIndex.load(self.folder, encoder=self.encoder.name)
        else:
            self.index = VectorIndex(self.encoder.dim, self.encoder.name)
        self.demos = [Demo(**m) for m in self.index.meta]
        self._by_id = {d.id: i for i, d in enumerate(self.demos)}
        self._delta_path = self.folder / "deltas.json"
        self._delta_version = ""
        if self._delta_path.is_file():
            self._apply_deltas(json.loads(self._delta_path.read_text()))

    def _recover(self, error: Exception) -> None:
        """Move the damaged pool folder aside and start an empty pool in its place."""
        self.recovered = quarantine(self.folder, error, "demo pool",
                                    "the pool is empty; add demos again with `sleuth pool add`")
        self._load()

    @property
    def version(self) -> str:
        """The index's content hash, plus the stored deltas' hash."""
        return self.index.version + self._delta_version

    def add(self, demos: Iterable[Demo], *, batch: int = 256) -> int:
        """Embed and add demos not yet present, then save; returns how many were added."""
        new = [d for d in {d.id: d for d in demos}.values() if d.id not in self._by_id]
        for lo in range(0, len(new), batch):
            part = new[lo : lo + batch]
            self.index.add(self.encoder.encode([d.text for d in part]), [asdict(d) for d in part])
            for d in part:
                self._by_id[d.id] = len(self.demos)
                self.demos.append(d)
        if new:
            self.save()
        return len(new)

    def _apply_deltas(self, deltas: dict[str, float]) -> None:
        for demo_id, delta in deltas.items():
            if demo_id in self._by_id:
                self.demos[self._by_id[demo_id]].delta = float(delta)
        digest = hashlib.sha1(json.dumps(sorted(deltas.items())).encode()).hexdigest()[:8]
        self._delta_version = f"+d{digest}" if deltas else ""

    def set_deltas(self, deltas: dict[str, float]) -> None:
        """Store utility scores by demo id (kept in `deltas.json`, not in the append-only metadata)."""
        self._apply_deltas(deltas)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._delta_path.write_text(json.dumps(deltas))

    def save(self) -> None:
        """Persist the index and metadata (metadata is appended)."""
        self.index.save(self.folder)

    def save_vote_tuning(self, tuning: dict[str, Any]) -> None:
        """Keep the vote settings chosen for this pool's content (`vote.json`; see `detectors.logicl.tune_vote`)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "vote.json").write_text(json.dumps({**tuning, "pool_version": self.index.version}, indent=1))

    def vote_tuning(self) -> dict[str, Any] | None:
        """The stored vote tuning, or None when there is none or demos were added since it was chosen."""
        path = self.folder / "vote.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("pool_version") == self.index.version else None

    def _vectors(self) -> np.ndarray:
        return self.index.vectors

    def _search(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(query, n)


# ---- sample texts ---------------------------------------------------------------------------------------------

_WS = re.compile(r"\s+")


def line_text(message: str, level: str | None = None, component: str | None = None) -> str:
    """A line's demo text: level and component, then the masked message."""
    from detectors.templates import mask

    head = " ".join(p for p in (level, component) if p)
    body = _WS.sub(" ", mask(message)).strip()
    return (f"{head}: {body}" if head else body)[:MAX_TEXT_CHARS]


# ---- built-in labelled sources (../shared/data) -----------------------------------------------------------------

BGL_ALERT_LEVELS = frozenset({"ERROR", "FATAL", "SEVERE", "FAILURE", "WARNING"})


@dataclass(slots=True)
class LabelledLine:
    """A parsed labelled line (for pools and benchmarks)."""

    where: str
    ts: float
    level: str
    component: str
    message: str
    y: int


def read_bgl(path: str | Path) -> list[LabelledLine]:
    """BGL lines with their alert labels (first field "-" = normal), in file order."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for i, raw in enumerate(f, 1):
            parts = raw.rstrip("\r\n").split(" ", 9)
            if len(parts) < 9:
                continue
            try:
                ts = float(parts[1])
            except ValueError:
                ts = float("nan")
            out.append(LabelledLine(f"{path}:{i}", ts, parts[8], parts[7], parts[9] if len(parts) > 9 else "",
                                    int(parts[0] != "-")))
    return out


def bgl_demo(line: LabelledLine) -> Demo:
    """A BGL line as a demo."""
    text = line_text(line.message, line.level, line.component)
    return Demo(f"bgl:{line.where}", text, ANOMALY if line.y else NORMAL, "bgl", line.where, "line", [text])


_INSTANCE = re.compile(r"\[instance: ([0-9a-f-]{36})\]")
_NOVA = re.compile(r"^(?P<level>[A-Z]+) (?P<logger>\S+) (?:\[[^\]]*\] )*(?P<msg>.*)$")


@dataclass(slots=True)
class Session:
    """An OpenStack instance's lines (templates in order) and its label."""

    key: str
    where: str  # file:line of its first line
    templates: list[str]
    levels: list[str]
    y: int


def read_openstack(log: str | Path, labels: str | Path | None = None, *, all_anomalous: bool = False) -> list[Session]:
    """OpenStack nova sessions (one per instance id) with labels from `instance_labels.csv`.

    Instances missing from the label file are skipped, unless `all_anomalous` (the fault-injection runs).
    """
    lab: dict[str, int] = {}
    if labels is not None:
        with open(labels, encoding="utf-8") as f:
            for r in csv.DictReader(f):
                lab[r["BlockId"].split(": ")[-1].strip()] = int(r["Label"].strip().lower() == "anomaly")
    sessions: dict[str, Session] = {}
    with open(log, encoding="utf-8", errors="replace") as f:
        for i, raw in enumerate(f, 1):
            raw = raw.rstrip("\r\n")
            m = _INSTANCE.search(raw)
            if not m:
                continue
            key = m.group(1)
            p = _NOVA.match(raw)
            if p is None:
                continue
            level, logger, msg = p.group("level"), p.group("logger"), p.group("msg")
            s = sessions.get(key)
            if s is None:
                y = 1 if all_anomalous else lab.get(key, -1)
                s = sessions[key] = Session(key, f"{log}:{i}", [], [], y)
            s.templates.append(line_text(msg, level, logger.split(".")[-1]))
            s.levels.append(level)
    return [s for s in sessions.values() if s.y >= 0]


def openstack_demo(s: Session) -> Demo:
    """An OpenStack instance session as a demo."""
    return Demo(f"openstack:{s.key}", session_text(s.templates), ANOMALY if s.y else NORMAL, "openstack", s.where,
                "session", list(dict.fromkeys(s.templates)))


def openstack_line_demos(sessions: Sequence[Session]) -> list[Demo]:
    """Line demos from labelled sessions: a template seen only in anomalous instances is an anomalous line, one seen
    in a normal instance a normal line (instance labels say nothing about which of an anomalous instance's lines is
    at fault; this keeps the lines the labels do pin down)."""
    in_normal: set[str] = {t for s in sessions if not s.y for t in s.templates}
    first: dict[str, tuple[str, int]] = {}
    for s in sessions:
        path, _, line = s.where.rpartition(":")
        for j, t in enumerate(s.templates):
            first.setdefault(t, (path, int(line) + j))
    out = []
    for t, (path, line) in first.items():
        label = NORMAL if t in in_normal else ANOMALY
        out.append(Demo(f"openstack-line:{path}:{line}", t, label, "openstack", f"{path}:{line}", "line", [t]))
    return out


def read_logreduce(folder: str | Path) -> list[LabelledLine]:
    """Failed-run lines of the logreduce CI cases, labelled by the cases' annotations."""
    import yaml

    out = []
    for case in sorted(Path(folder).iterdir()):
        inf = case / "inf.yaml"
        if not inf.is_file():
            continue
        ann = [str(a["line"]).strip() for a in (yaml.safe_load(inf.read_text()) or {}).get("anomalies", [])]
        for fail in sorted(case.glob("*.fail")):
            with open(fail, encoding="utf-8", errors="replace") as f:
                for i, raw in enumerate(f, 1):
                    raw = raw.rstrip("\r\n")
                    if not raw.strip():
                        continue
                    y = int(any(a and a in raw for a in ann))
                    out.append(LabelledLine(f"{fail}:{i}", float("nan"), "", case.name, raw, y))
    return out


def logreduce_demo(line: LabelledLine) -> Demo:
    """A logreduce failed-log line as a demo."""
    text = line_text(line.message)
    return Demo(f"logreduce:{line.where}", text, ANOMALY if line.y else NORMAL, "logreduce", line.where, "line", [text])


def dedupe(demos: Iterable[Demo]) -> list[Demo]:
    """One demo per (text, label): repeated lines add nothing to retrieval."""
    seen: set[tuple[str, str]] = set()
    out = []
    for d in demos:
        key = (d.text, d.label)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def sample_demos(demos: Sequence[Demo], limit: int | None, *, seed: int = 0, min_anomalies: float = 0.3) -> list[Demo]:
    """At most `limit` demos, deduplicated, keeping all anomalies up to `min_anomalies` × limit of them."""
    demos = dedupe(demos)
    if limit is None or len(demos) <= limit:
        return list(demos)
    rng = random.Random(seed)
    anomalies = [d for d in demos if d.y]
    normals = [d for d in demos if not d.y]
    n_a = min(len(anomalies), max(int(limit * min_anomalies), limit - len(normals)))
    picked = rng.sample(anomalies, n_a) + rng.sample(normals, min(len(normals), limit - n_a))
    rng.shuffle(picked)
    return picked


def parse_line_ranges(spec: str) -> list[tuple[int, int]]:
    """`"1405-1420,1500"` -> [(1405, 1420), (1500, 1500)] (1-based, inclusive).

    Raises:
        ValueError: With the offending part, when `spec` is not such a list.
    """
    out = []
    for part in spec.replace(" ", "").split(","):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(f"{part!r} is not a line number or a range like 1405-1420")
        a, b = int(lo), int(hi) if sep else int(lo)
        if a < 1 or b < a:
            raise ValueError(f"{part!r}: lines are numbered from 1 and a range goes upwards")
        out.append((a, b))
    if not out:
        raise ValueError("no line numbers given")
    return out


def labelled_file_demos(paths: Sequence[str], system: str, *, anomalous: Sequence[tuple[int, int]] = (),
                        normal: Sequence[tuple[int, int]] = ()) -> list[Demo]:
    """Demos from labelled logs, one per entry: a format that carries labels (read by `detectors.readers`, e.g.
    BGL), or any log with the entries' lines marked by `anomalous` / `normal` ranges (entries in neither are left
    out; an entry in both is anomalous)."""
    from detectors.events import ReadStats
    from detectors.readers import read_events

    def within(line: int, ranges: Sequence[tuple[int, int]]) -> bool:
        return any(a <= line <= b for a, b in ranges)

    out = []
    for ev in read_events(paths, stats=ReadStats()):
        if anomalous or normal:
            label = ANOMALY if within(ev.line, anomalous) else NORMAL if within(ev.line, normal) else None
        else:
            label = None if ev.label is None else NORMAL if ev.label == "-" else ANOMALY
        if label is None:
            continue
        text = line_text(ev.text.partition("\n")[0], ev.level, ev.service)
        out.append(Demo(f"{system}:{ev.where}", text, label, system, ev.where, "line", [text]))
    return out


def builtin_demos(name: str, data: str | Path, limit: int | None = None, *, seed: int = 0) -> list[Demo]:
    """Demos from one of the labelled sets in ../shared/data: "bgl", "openstack" or "logreduce"."""
    data = Path(data)
    if name == "bgl":
        demos = [bgl_demo(x) for x in read_bgl(data / "loghub_bgl" / "BGL_20k.log")]
    elif name == "openstack":
        folder = data / "openstack_parisakalaki"
        demos = [openstack_demo(s) for s in read_openstack(folder / "openstack-nova-sample.log",
                                                           folder / "instance_labels.csv")]
    elif name == "logreduce":
        demos = [logreduce_demo(x) for x in read_logreduce(data / "logreduce_ci")]
    else:
        raise ValueError(f"unknown built-in set {name!r}; choose bgl, openstack or logreduce")
    return sample_demos(demos, limit, seed=seed)


def pool_summary(pool: Retriever) -> dict[str, Any]:
    """Counts by system and label."""
    demos: list[Demo] = getattr(pool, "demos", [])
    by: dict[str, dict[str, int]] = {}
    for d in demos:
        by.setdefault(d.system, {ANOMALY: 0, NORMAL: 0})[d.label] += 1
    out: dict[str, Any] = {"demos": len(pool), "version": pool.version, "by_system": by}
    tuning = pool.vote_tuning() if isinstance(pool, DemoPool) else None
    if tuning is not None:
        out["vote"] = {"settings": tuning.get("settings") or "defaults (fewer than two labelled systems)",
                       "mean_f1_held_out_systems": round(float(tuning.get("mean_f1", 0.0)), 3),
                       "defaults_f1": round(float(tuning.get("default_f1", 0.0)), 3),
                       "held_out": tuning.get("systems", [])}
    return out


def open_pool(folder: Path, encoder: str) -> DemoPool:
    """The `DemoPool` in `folder`, its queries encoded by `encoder` ("minilm", "distilled:<name>", "hash:<dim>")."""
    return DemoPool(folder, get_encoder(encoder))


register_pool_opener(open_pool)

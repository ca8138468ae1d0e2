"""The demonstration pool shipped with sleuth, and the pool a user's audit actually uses.

`shipped_pool/` (package data) holds a small pool built by `sleuth pool build-default` (lab/logicl_pool.py) from
sources whose terms allow redistribution (its README.md lists them): `pool.json` (the demos, their provenance and
the build command), `vectors.npz` (their MiniLM vectors, float16) and `vote.json` (the vote settings chosen on it by
leave-one-system-out). It is read-only and searched in memory (a few thousand demos: exact search is instant).

The pool in use (`open_in_use`):
- no user pool (`sleuth pool add` never ran): the shipped pool;
- a user pool whose `use.json` says `{"shipped": "extend"}` (the default): the user's demos and the shipped ones;
- `{"shipped": "replace"}` (`sleuth pool add --shipped replace`): the user's demos only.
`describe_in_use` says which, for `sleuth pool show` and the reports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detectors.base import NotFitted
from detectors.retriever import Demo, Retriever
from retrieval.embed import Encoder, get_encoder
from retrieval.pool import DemoPool, InMemoryRetriever

SHIPPED_DIR = Path(__file__).with_name("shipped_pool")
USE_FILE = "use.json"  # in a user pool folder: {"shipped": "extend" | "replace"}
MODES = ("extend", "replace")


class ShippedPoolMissing(NotFitted):
    """The package's pool files are missing or damaged (a broken install); the message says how to rebuild them.
    A `NotFitted` (a `DetectorError`), so the audit and the agent's tools report it as they report a missing pool."""


class ReadOnlyPool(InMemoryRetriever):
    """An in-memory pool whose content is fixed: the shipped one, or the user's plus the shipped one.

    Args:
        encoder: Encodes queries (and the demos, when their stored vectors come from another encoder).
        demos: The demos, in order.
        vectors: Their unit vectors.
        version: The content's version (part of the verdict cache key).
        tuning: The vote settings chosen on exactly this content, if known.
        tuning_path: Where `save_vote_tuning` keeps a new choice (None: the choice is kept in memory only).
    """

    def __init__(self, encoder: Encoder, demos: list[Demo], vectors: np.ndarray, version: str,
                 tuning: dict[str, Any] | None = None, tuning_path: Path | None = None) -> None:
        super().__init__(encoder)
        self.demos = list(demos)
        self._by_id = {d.id: i for i, d in enumerate(self.demos)}
        self._vecs = np.ascontiguousarray(np.asarray(vectors, np.float32).reshape(len(self.demos), -1))
        self._fixed_version = version
        self._tuning = tuning
        self._tuning_path = tuning_path

    @property
    def version(self) -> str:
        """The content's version."""
        return self._fixed_version

    def add(self, demos: Iterable[Demo]) -> int:
        """Refused: this pool is fixed; `sleuth pool add` writes the user's own pool."""
        if not list(demos):
            return 0
        raise PermissionError("this pool is read-only (the shipped one, or a combination): add demos to your own pool "
                              "with `sleuth pool add PATH ...`")

    def vote_tuning(self) -> dict[str, Any] | None:
        """The vote settings chosen on this content (None when none was chosen for this exact version)."""
        t = self._tuning
        return t if isinstance(t, dict) and t.get("pool_version") == self.version else None

    def save_vote_tuning(self, tuning: dict[str, Any]) -> None:
        """Keep the vote settings chosen for this content (beside the user's pool, when there is one)."""
        self._tuning = {**tuning, "pool_version": self.version}
        if self._tuning_path is not None:
            self._tuning_path.parent.mkdir(parents=True, exist_ok=True)
            self._tuning_path.write_text(json.dumps(self._tuning, indent=1))


def _manifest(folder: Path) -> dict[str, Any]:
    path = folder / "pool.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise ShippedPoolMissing(f"the shipped LogICL pool is missing ({path}): reinstall sleuth, or rebuild it "
                                 "from a checkout with `sleuth pool build-default`") from None
    except ValueError as error:
        raise ShippedPoolMissing(f"{path} is damaged ({error}): reinstall sleuth or run `sleuth pool build-default`"
                                 ) from None
    if not isinstance(data, dict) or not isinstance(data.get("demos"), list):
        raise ShippedPoolMissing(f"{path} is not a pool manifest: reinstall sleuth or run `sleuth pool build-default`")
    return data


def shipped_info(folder: Path | None = None) -> dict[str, Any]:
    """The shipped pool's manifest without its demos: version, encoder, sources with their terms, build command."""
    data = _manifest(folder or SHIPPED_DIR)
    return {k: v for k, v in data.items() if k != "demos"} | {"demos": len(data["demos"])}


def shipped_pool(encoder: Encoder | None = None, folder: Path | None = None) -> ReadOnlyPool:
    """The pool shipped with the package.

    Its vectors are used as stored when `encoder` is the one they were made with; another encoder (a distilled
    head) re-encodes the demos' texts once.

    Raises:
        ShippedPoolMissing: If the package files are missing or damaged.
    """
    folder = folder or SHIPPED_DIR
    data = _manifest(folder)
    encoder = encoder or get_encoder(str(data.get("encoder_spec", "minilm")))
    demos = [Demo(**d) for d in data["demos"]]
    if encoder.name == data.get("encoder"):
        try:
            with np.load(folder / "vectors.npz", allow_pickle=False) as z:
                vectors = z["vectors"].astype(np.float32)
        except (OSError, KeyError, ValueError) as error:
            raise ShippedPoolMissing(f"{folder / 'vectors.npz'} is missing or damaged ({error}): reinstall sleuth "
                                     "or run `sleuth pool build-default`") from None
        if len(vectors) != len(demos):
            raise ShippedPoolMissing(f"{folder}: {len(demos)} demos but {len(vectors)} vectors; reinstall sleuth")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms > 0, norms, 1.0)  # float16 storage: renormalise
    else:
        vectors = encoder.encode([d.text for d in demos])
    tuning = None
    try:
        tuning = json.loads((folder / "vote.json").read_text())
    except (OSError, ValueError):
        pass
    return ReadOnlyPool(encoder, demos, vectors, f"shipped:{data.get('version', '?')}", tuning)


def use_mode(folder: Path) -> str:
    """How a user pool combines with the shipped one: "extend" (default) or "replace"."""
    try:
        mode = json.loads((folder / USE_FILE).read_text()).get("shipped", "extend")
    except (OSError, ValueError, AttributeError):
        return "extend"
    return mode if mode in MODES else "extend"


def set_use_mode(folder: Path, mode: str) -> None:
    """Say whether a user pool extends ("extend") or replaces ("replace") the shipped one."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose extend or replace")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / USE_FILE).write_text(json.dumps({"shipped": mode}) + "\n")


@dataclass
class InUse:
    """Which pool an audit uses, in words and numbers."""

    kind: str  # "shipped" | "user" | "user+shipped"
    folder: str | None  # the user pool's folder, when one is used
    demos: int
    version: str
    shipped_version: str | None

    def describe(self) -> str:
        """One line: which pool, how many demos."""
        if self.kind == "shipped":
            return f"the shipped pool ({self.demos} demos, {self.shipped_version}); add your own with `sleuth pool add`"
        if self.kind == "user":
            return f"your pool at {self.folder} ({self.demos} demos; the shipped pool is replaced)"
        return f"your pool at {self.folder} plus the shipped pool ({self.demos} demos in all)"


def open_in_use(folder: Path | None, encoder: str = "minilm") -> Retriever:
    """The pool an audit uses: the user pool in `folder` (default location when None) and/or the shipped one."""
    from detectors.logicl import default_pool_dir

    folder = Path(folder).expanduser() if folder is not None else default_pool_dir()
    pool = _open_in_use(folder, encoder)
    pool.in_use_note = in_use(pool, folder).describe()  # type: ignore[attr-defined]
    return pool


def _open_in_use(folder: Path, encoder: str) -> Retriever:
    enc = get_encoder(encoder)
    has_user = (folder / "info.json").is_file()
    if not has_user:
        return shipped_pool(enc)
    user = DemoPool(folder, enc)
    mode = use_mode(folder)
    if mode == "replace" or not len(user):
        return user if len(user) else shipped_pool(enc)
    shipped = shipped_pool(enc)
    version = f"{user.version}+{shipped.version}"
    tuning = None
    path = folder / "vote-with-shipped.json"
    try:
        tuning = json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    combined = ReadOnlyPool(enc, [*user.demos, *shipped.demos], np.concatenate([user.vectors(), shipped.vectors()]),
                            version, tuning, path)
    combined.user_folder = str(folder)  # type: ignore[attr-defined]
    return combined


def in_use(pool: Retriever, folder: Path | None = None) -> InUse:
    """Describe an opened pool (what `open_in_use` returned)."""
    version = pool.version
    shipped_v = next((p for p in version.split("+") if p.startswith("shipped:")), None)
    if isinstance(pool, ReadOnlyPool) and version.startswith("shipped:"):
        return InUse("shipped", None, len(pool), version, shipped_v)
    where = getattr(pool, "user_folder", None) or (str(pool.folder) if isinstance(pool, DemoPool) else
                                                   (str(folder) if folder else None))
    return InUse("user+shipped" if shipped_v else "user", where, len(pool), version, shipped_v)


def content_version(demos: list[Demo], vectors: np.ndarray) -> str:
    """A short hash of a pool's content (for a freshly built shipped pool)."""
    h = hashlib.sha1()
    for d in demos:
        h.update(f"{d.id}\x1f{d.label}\x1f{d.text}\x1e".encode())
    h.update(np.asarray(vectors, np.float16).tobytes())
    return h.hexdigest()[:12]


def readme_path(folder: Path | None = None) -> Path:
    """The pool's README (its sources, their terms, what was left out)."""
    return (folder or SHIPPED_DIR) / "README.md"


# `import retrieval` makes this the way LogICL opens a pool folder (after `retrieval.pool`'s plain `DemoPool`).
from detectors.retriever import register_pool_opener  # noqa: E402

register_pool_opener(open_in_use)

"""Versioned CALM models in a directory: atomic writes, the newest complete version, and the history.

Layout: `calm-v0007.pt` (weights) and `calm-v0007.json` (ModelInfo, with the weights' sha256), each written to a
hidden temp file and renamed into place, so a reader never sees half a file it wrote. A file someone else left
half-written (or that does not match its sha256) is skipped with a message and a count, and the previous version
keeps serving. Rejected fine-tunes go to `rejected/` for inspection.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from detectors.calm.forecaster import ModelInfo, PatchForecaster, load_checkpoint, sha256
from detectors.paths import data_dir

log = logging.getLogger(__name__)

PATTERN = re.compile(r"^calm-v(\d{4,})\.pt$")
SHIPPED = Path(__file__).resolve().parent / "checkpoints" / "calm-v0000.pt"


def default_model_dir() -> Path:
    """Where model versions live unless told otherwise (`<data dir>/calm/models`, see `detectors.paths`)."""
    return data_dir() / "calm" / "models"


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temp file in the same folder and a rename (atomic on POSIX)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes it private; model files are ordinary data
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_checkpoint(forecaster: PatchForecaster, path: Path) -> None:
    """Write `path` (.pt) and its `.json` metadata, each atomically."""
    data = forecaster.to_bytes()
    forecaster.info.sha256 = sha256(data)
    atomic_write(path, data)
    atomic_write(path.with_suffix(".json"), json.dumps(asdict(forecaster.info), indent=2).encode())


def version_path(directory: Path, version: int) -> Path:
    """The weights file of `version`."""
    return directory / f"calm-v{version:04d}.pt"


@dataclass
class ModelStore:
    """A model directory. `latest()` is cheap to call often: it only loads when the newest valid file changes."""

    directory: Path
    skipped: dict[str, str] = field(default_factory=dict)  # file name -> why it was not loaded
    _cache: tuple[str, float, PatchForecaster] | None = None

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)

    @classmethod
    def open(cls, directory: str | Path | None = None, *, seed_from: Path | None = SHIPPED) -> ModelStore:
        """Open (and create) a model directory; an empty one is seeded with the shipped checkpoint as v0."""
        store = cls(Path(directory) if directory is not None else default_model_dir())
        store.directory.mkdir(parents=True, exist_ok=True)
        if seed_from is not None and not store.versions() and seed_from.exists():
            forecaster = load_checkpoint(seed_from)
            store.write(forecaster, version=0)
        return store

    def versions(self) -> list[int]:
        """Version numbers present (complete or not), ascending."""
        out = []
        for path in self.directory.glob("calm-v*.pt"):
            match = PATTERN.match(path.name)
            if match:
                out.append(int(match.group(1)))
        return sorted(out)

    def next_version(self) -> int:
        """One more than the highest version on disk, rejected ones included."""
        seen = self.versions() + [int(m.group(1)) for p in (self.directory / "rejected").glob("calm-v*.pt")
                                  if (m := PATTERN.match(p.name))]
        return max(seen, default=-1) + 1

    def write(self, forecaster: PatchForecaster, *, version: int | None = None, rejected: bool = False) -> Path:
        """Write a new version atomically (weights first, then the metadata that vouches for them)."""
        version = self.next_version() if version is None else version
        forecaster.info.version = version
        folder = self.directory / "rejected" if rejected else self.directory
        path = version_path(folder, version)
        write_checkpoint(forecaster, path)
        return path

    def latest(self) -> PatchForecaster | None:
        """The newest version that loads and matches its metadata; broken newer files are skipped (and recorded)."""
        for version in reversed(self.versions()):
            path = version_path(self.directory, version)
            meta = path.with_suffix(".json")
            if not meta.exists():
                # The metadata is written last: without it the weights may still be arriving.
                self._skip(path, "no metadata yet (still being written?)")
                continue
            try:
                stamp = max(path.stat().st_mtime, meta.stat().st_mtime)
            except OSError:
                continue
            if self._cache and self._cache[0] == path.name and self._cache[1] == stamp:
                return self._cache[2]
            try:
                forecaster = load_checkpoint(path)
            except Exception as error:  # noqa: BLE001 - a damaged file (torch/pickle/zip errors too) never stops serving
                self._skip(path, f"damaged ({type(error).__name__}: {error})")
                continue
            self.skipped.pop(path.name, None)
            self._cache = (path.name, stamp, forecaster)
            return forecaster
        return None

    def _skip(self, path: Path, why: str) -> None:
        if self.skipped.get(path.name) != why:
            log.warning("CALM model %s ignored: %s; the previous version keeps serving", path.name, why)
        self.skipped[path.name] = why

    def history(self) -> list[ModelInfo]:
        """Metadata of every version (served and rejected), oldest first."""
        out = []
        for folder, state in ((self.directory, "ok"), (self.directory / "rejected", "rejected")):
            for meta in sorted(folder.glob("calm-v*.json")):
                try:
                    info = ModelInfo(**json.loads(meta.read_text()))
                except (ValueError, TypeError, OSError):
                    continue
                info.validation = {**info.validation, "state": state}
                out.append(info)
        return sorted(out, key=lambda i: i.version)

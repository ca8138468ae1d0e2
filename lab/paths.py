"""Where the public data sets are: the one resolver of ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "SLEUTH_SHARED_DATA"
# The checkout's parent: lab/paths.py -> lab -> the repository -> the folder holding it (and shared/ beside it).
BESIDE_CHECKOUT = Path(__file__).resolve().parents[2] / "shared" / "data"


CHECKOUT = Path(__file__).resolve().parents[1]


def child_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child Python that imports lab (not in the editable install's map): the checkout on
    PYTHONPATH, ahead of what was there."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(CHECKOUT), env.get("PYTHONPATH", "")) if p)
    return env


class SharedDataMissing(FileNotFoundError):
    """The shared data folder is not where it was looked for; the message says where and how to point at it."""


def shared_data(flag: str | Path | None = None, *, must_exist: bool = True) -> Path:
    """The shared data folder: `flag` (a --data option) > $SLEUTH_SHARED_DATA > ../shared/data beside the checkout.

    Raises:
        SharedDataMissing: If `must_exist` and the chosen folder is not a directory.
    """
    if flag is not None and str(flag):
        path, origin = Path(flag).expanduser(), "--data"
    elif os.environ.get(ENV_VAR):
        path, origin = Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"
    else:
        path, origin = BESIDE_CHECKOUT, "the default, ../shared/data beside the checkout"
    if must_exist and not path.is_dir():
        raise SharedDataMissing(f"shared data folder {str(path)!r} not found (from {origin}); "
                                f"pass --data PATH or set {ENV_VAR}")
    return path

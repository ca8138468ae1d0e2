"""Where sleuth keeps the user's state: data, config and cache folders (XDG base directories).

`data_dir()`: $SLEUTH_DATA_DIR > $XDG_DATA_HOME/sleuth > ~/.local/share/sleuth (template state, LogICL pool, CALM
model versions, sessions); `config_dir()`: $XDG_CONFIG_HOME/sleuth > ~/.config/sleuth; `cache_dir()`:
$XDG_CACHE_HOME/sleuth > ~/.cache/sleuth. Nothing is created here; writers create what they write.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["cache_dir", "config_dir", "data_dir"]


def _xdg(var: str, fallback: str, env: Mapping[str, str] | None) -> Path:
    environ = os.environ if env is None else env
    base = environ.get(var, "")
    # The XDG spec: a relative path in these variables is invalid and must be ignored.
    root = Path(base).expanduser() if base and Path(base).expanduser().is_absolute() else Path.home() / fallback
    return root / "sleuth"


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """$SLEUTH_DATA_DIR, else $XDG_DATA_HOME/sleuth, else ~/.local/share/sleuth."""
    environ = os.environ if env is None else env
    if environ.get("SLEUTH_DATA_DIR"):
        return Path(environ["SLEUTH_DATA_DIR"]).expanduser()
    return _xdg("XDG_DATA_HOME", ".local/share", env)


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """$XDG_CONFIG_HOME/sleuth, else ~/.config/sleuth."""
    return _xdg("XDG_CONFIG_HOME", ".config", env)


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """$XDG_CACHE_HOME/sleuth, else ~/.cache/sleuth."""
    return _xdg("XDG_CACHE_HOME", ".cache", env)

"""Damaged saved state: detected, moved aside with a message naming the file, rebuilt.

Every saved file sleuth reads back (Drain3 template state, LogICL demo pools, chat sessions, CALM models) is
written atomically, so kill -9 does not damage it; disks, partial copies, old versions and other programs do. A
damaged file must not crash every later run: the reader catches the failure, calls `quarantine`, and carries on
with a fresh state. The damaged file is kept (renamed `NAME.damaged-YYYYmmdd-HHMMSS`) for inspection.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["CRASH_EXIT", "DamagedState", "crash_exit", "quarantine"]

logger = logging.getLogger(__name__)


class DamagedState(Exception):
    """Saved state that could not be read back; the message names the file and what was done about it."""


def _reason(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    text = text.splitlines()[0] if text else type(error).__name__
    return f"{type(error).__name__}: {text[:160]}"


def quarantine(path: str | Path, error: BaseException, what: str, consequence: str, *, log: bool = True) -> str:
    """Move the damaged `path` aside and return the one-line message to show (also logged as a warning).

    Args:
        path: The file (or folder) that could not be read.
        error: What reading it raised.
        what: What the file holds, for the message ("template state", "demo pool").
        consequence: What starting afresh means for the user ("templates are mined again from this run").
        log: Also log the message as a warning (off when the caller reports it another way, e.g. as a Skip).
    """
    path = Path(path)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    try:
        os.replace(path, aside)
        moved = f"moved it to {aside}"
    except OSError as move_error:
        moved = f"could not move it aside ({move_error.strerror or move_error}); remove it by hand"
    message = f"{path}: the saved {what} is damaged ({_reason(error)}); {moved} and started afresh: {consequence}"
    if log:
        logger.warning("%s", message)
    return message


CRASH_EXIT = 70  # EX_SOFTWARE: neither 1 (anomalies found) nor 2 (usage or input error)


def crash_exit(error: BaseException, stream: Any = None) -> int:
    """Report an unexpected exception as a bug, without a traceback on the terminal, and return CRASH_EXIT.

    The traceback goes to a file under the cache folder, named in the message. Callers re-raise instead when
    SLEUTH_DEBUG=1 is set, to get the traceback on the terminal.
    """
    import sys
    import traceback

    from detectors.paths import cache_dir

    stream = stream if stream is not None else sys.stderr
    where = "(could not write the details)"
    try:
        folder = cache_dir() / "crashes"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
        path.write_text("".join(traceback.format_exception(error)), encoding="utf-8")
        where = str(path)
    except OSError:
        pass
    stream.write(f"Error: sleuth stopped on an internal error ({_reason(error)}). This is a bug in sleuth, not a "
                 f"finding about your logs: the details are in {where}; please report it (SLEUTH_DEBUG=1 shows the "
                 f"traceback).\n")
    return CRASH_EXIT

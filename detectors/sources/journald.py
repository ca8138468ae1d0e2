"""systemd journal sources: `journal:PATH` read through `journalctl --file/--directory PATH -o json`.

`journal:` alone reads the machine's own journal (what `journalctl` shows the user); `journal:PATH` names a
`.journal` file or a directory of them (`/var/log/journal`, a copy taken from another host). Options after
`?`: `since` / `until` (journalctl's own syntax, or `2h` / `30m` meaning that long ago), `unit` (repeatable),
`boot` (`0`, `-1`, or an id) and `priority` (`err`, `0..4`). journalctl's output is streamed to the spool
file line by line; memory does not grow with the journal.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from urllib.parse import parse_qsl

from detectors.sources.errors import SourceError

__all__ = ["journalctl_command", "spool_journal"]

_AGO = re.compile(r"(\d+)\s*([smhdw])$")
_UNITS = {"s": "sec", "m": "min", "h": "h", "d": "day", "w": "week"}


def _when(value: str) -> str:
    m = _AGO.match(value.strip())
    return f"-{m.group(1)}{_UNITS[m.group(2)]}" if m else value


def journalctl_command(source: str) -> list[str]:
    """The journalctl argv that reads `source` (`journal:` / `journal:PATH[?since=..&unit=..]`).

    Raises:
        SourceError: For an unknown option or a path that does not exist.
    """
    spec = source[len("journal:"):]
    path, _, query = spec.partition("?")
    argv = ["journalctl", "--no-pager", "-o", "json"]
    if path:
        if not os.path.exists(path):
            raise SourceError(f"{source}: {path} does not exist; name a .journal file or a journal directory "
                              f"(e.g. journal:/var/log/journal)")
        argv += ["--directory", path] if os.path.isdir(path) else ["--file", path]
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in ("since", "until"):
            argv.append(f"--{key}={_when(value)}")
        elif key == "unit":
            argv.append(f"--unit={value}")
        elif key == "boot":
            argv.append(f"--boot={value}")
        elif key == "priority":
            argv.append(f"--priority={value}")
        else:
            raise SourceError(f"{source}: unknown option {key!r}; use since, until, unit, boot or priority")
    return argv


def spool_journal(source: str, out_path: str, on_progress: Callable[[int], None] | None = None) -> int:
    """Run journalctl for `source` and write its JSON lines to `out_path`; returns the number of entries.

    Raises:
        SourceError: journalctl missing, the journal unreadable, or a bad option (one line, what to do).
    """
    argv = journalctl_command(source)
    if shutil.which("journalctl") is None:
        raise SourceError(f"{source}: journalctl is not installed; install systemd (apt-get install systemd) or "
                          f"export the journal elsewhere with `journalctl -o json > FILE` and audit FILE")
    n = 0
    with open(out_path, "wb") as out, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                       stdin=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        for line in proc.stdout:
            out.write(line)
            n += 1
            if n % 10_000 == 0:
                if on_progress is not None:
                    on_progress(n)
                elif sys.stderr.isatty():
                    sys.stderr.write(f"\r{source}: {n:,} entries read")
                    sys.stderr.flush()
        err = proc.stderr.read().decode("utf-8", "replace").strip()
        rc = proc.wait()
    if on_progress is None and n >= 10_000 and sys.stderr.isatty():
        sys.stderr.write("\n")
    if rc != 0 and n == 0:
        first = err.splitlines()[0] if err else f"exit status {rc}"
        raise SourceError(f"{source}: journalctl failed ({first}); check that the path is a journal and readable")
    return n

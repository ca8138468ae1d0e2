"""Run the audit in a child process, so the UI thread never waits on the audit's Python work.

A thread would share the interpreter lock: reading, Drain3 and scoring are pure Python for most of a million
lines, and every keypress would wait its turn behind them (measured: seconds per key while the detectors are
imported). The child is `python -m tui.audit_proc`: it reads its job (pickled paths and options) on stdin and
writes length-prefixed pickled frames on stdout — progress, then the `AuditResult` or an error. A plain
subprocess, not multiprocessing: nothing depends on how the parent's `__main__` was started. Cancelling kills it.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

PROGRESS_EVERY_S = 0.1  # the child sends progress at most this often
_HEADER = struct.Struct("<Q")


class AuditCancelled(Exception):
    """The audit was cancelled (the app is closing or a new audit started)."""


class AuditProcessError(Exception):
    """The audit could not run; the message says why (a detector error's text, or how the child died)."""


def _send(out: IO[bytes], message: tuple[Any, ...]) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_HEADER.pack(len(data)))
    out.write(data)
    out.flush()


def throttled_progress(report: Callable[..., None], every_s: float) -> Callable[[str, float, float | None], None]:
    """The pipeline's progress hook, turned into `report(stage, fraction or None)` calls at most every `every_s`."""
    totals: dict[str, float] = {}
    done: dict[str, float] = {}
    last = [0.0]

    def hook(stage: str, advance: float, total: float | None) -> None:
        if total is not None:
            totals[stage] = total
            done[stage] = 0.0
        done[stage] = done.get(stage, 0.0) + advance
        now = time.perf_counter()
        if now - last[0] >= every_s:
            last[0] = now
            t = totals.get(stage)
            report(stage, min(done[stage] / t, 1.0) if t else None)

    return hook


def child_main() -> None:
    """The child's work: read the job, audit, send progress, then the result or the error."""
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # anything printed by a library must not corrupt the frames
    paths, options = pickle.load(sys.stdin.buffer)
    try:
        from detectors.base import DetectorError
        from detectors.pipeline import audit
    except Exception as error:  # noqa: BLE001 - reported to the parent, which shows it
        _send(out, ("error", f"the detectors cannot be loaded: {error}"))
        return
    hook = throttled_progress(lambda stage, fraction: _send(out, ("progress", stage, fraction)), PROGRESS_EVERY_S)

    try:
        result = audit(paths, options, progress=hook)
    except DetectorError as error:
        _send(out, ("error", str(error)))
        return
    except Exception as error:  # noqa: BLE001 - a detector bug is shown; the viewer stays usable
        _send(out, ("error", f"{type(error).__name__}: {error}"))
        return
    _send(out, ("progress", "transfer", None))
    _send(out, ("result", result))


def _read_exact(fd: int, n: int, cancelled: Callable[[], bool]) -> bytes:
    chunks: list[bytes] = []
    while n:
        if cancelled():
            raise AuditCancelled()
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def audit_in_process(paths: Sequence[str], options: Any, *,
                     progress: Callable[[str, float | None], None] | None = None,
                     cancelled: Callable[[], bool] = lambda: False) -> Any:
    """Audit `paths` with `options` in a child process and return its `AuditResult`.

    Args:
        paths: The sources, as `detectors.pipeline.audit` takes them.
        options: `detectors.pipeline.AuditOptions`.
        progress: Called with (stage, fraction or None) as the child reports progress.
        cancelled: Polled while waiting; when it returns True the child is killed.

    Raises:
        AuditCancelled: If `cancelled` returned True.
        AuditProcessError: If the audit failed or the child died; the message says why.
    """
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen([sys.executable, "-m", "tui.audit_proc"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=errors)
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(pickle.dumps((list(paths), options), protocol=pickle.HIGHEST_PROTOCOL))
            proc.stdin.close()
            fd = proc.stdout.fileno()
            while True:
                try:
                    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, cancelled))
                    message = pickle.loads(_read_exact(fd, size, cancelled))
                except EOFError:
                    proc.wait(timeout=10)
                    errors.seek(0)
                    tail = errors.read()[-600:].decode("utf-8", "replace").strip().splitlines()
                    why = tail[-1] if tail else "no message"
                    raise AuditProcessError(f"the audit process ended without a result (exit code {proc.returncode}): "
                                            f"{why}") from None
                kind = message[0]
                if kind == "progress" and progress is not None:
                    progress(message[1], message[2])
                elif kind == "error":
                    raise AuditProcessError(message[1])
                elif kind == "result":
                    return message[1]
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            proc.stdout.close()


if __name__ == "__main__":
    child_main()

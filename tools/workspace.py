"""The data the tools query: the latest audit of the session's sources, re-run on demand after a resume."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from detectors.base import DetectorError
from detectors.pipeline import AuditOptions, AuditResult, audit
from detectors.sources import is_remote
from tools.base import ToolInputError


class Workspace:
    """The audited sources and their `AuditResult`, shared by the tools of one agent.

    Only the source paths and options are worth saving with a session: the result is rebuilt (deterministically)
    by `ensure` the first time a tool needs it.

    Args:
        options: How audits run (detector, window, ...); the foundation's defaults when None.
    """

    def __init__(self, options: AuditOptions | None = None) -> None:
        self.options = options or AuditOptions()
        self.sources: list[str] = []
        self._result: AuditResult | None = None
        self._extra: dict[str, AuditResult] = {}  # results of other detectors over the same data

    @property
    def result(self) -> AuditResult:
        """The current audit.

        Raises:
            ToolInputError: If nothing has been audited yet.
        """
        if self._result is None:
            if self.sources:
                return self.ensure(self.sources)
            raise ToolInputError("no logs have been audited yet: call audit_source with the paths of the logs first")
        return self._result

    @property
    def has_result(self) -> bool:
        """Whether an audit is loaded."""
        return self._result is not None

    def audit(self, paths: Sequence[str], *, detector: str | None = None, window: str | None = None) -> AuditResult:
        """Audit `paths` and make the result current.

        Raises:
            ToolInputError: If no path exists or the detector/window cannot be used (the message says what to change).
        """
        paths = [str(p) for p in paths]
        missing = [p for p in paths if p != "-" and not is_remote(p) and not Path(p).exists()]
        if missing and len(missing) == len(paths):
            raise ToolInputError(f"no such file or directory: {', '.join(repr(p) for p in missing)}; give existing log paths")
        options = replace(self.options, detector=detector or self.options.detector, window=window or self.options.window)
        try:
            result = audit(paths, options)
        except DetectorError as error:
            raise ToolInputError(f"cannot audit {', '.join(paths)}: {error}") from None
        self.sources = paths
        self.options = options
        self._result = result
        self._extra.clear()
        return result

    def adopt(self, result: AuditResult, sources: Sequence[str]) -> None:
        """Make an audit run elsewhere (e.g. by `sleuth audit`, with its progress bars) the current one."""
        self.sources = [str(s) for s in sources]
        self._result = result
        self._extra.clear()

    def ensure(self, sources: Sequence[str]) -> AuditResult:
        """The audit of `sources`, running it when it is not loaded (e.g. after a session was resumed)."""
        if self._result is not None and list(sources) == self.sources:
            return self._result
        return self.audit(sources)

    def with_detector(self, name: str) -> AuditResult:
        """The same data scored by detector `name` (cached)."""
        current = self.result
        if name == current.detector.name:
            return current
        if name not in self._extra:
            options = replace(self.options, detector=name)
            try:
                self._extra[name] = audit(self.sources, options)
            except DetectorError as error:
                raise ToolInputError(f"detector {name!r} cannot score these logs: {error}") from None
        return self._extra[name]

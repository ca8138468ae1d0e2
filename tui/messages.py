"""Messages between the triage app's workers and widgets (posted from worker threads; handled on the UI thread)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from textual.message import Message


@dataclass
class AuditProgress(Message, bubble=False):
    """The audit advanced: stage is read / score / explain, fraction in [0, 1] or None when unknown."""

    stage: str
    fraction: float | None


@dataclass
class AuditReady(Message, bubble=False):
    """The audit finished and its rows/columns are prepared for the log model."""

    result: Any  # detectors.pipeline.AuditResult
    prepared: dict[str, Any]


@dataclass
class AuditFailed(Message, bubble=False):
    """The audit could not run; the message says why and what to do."""

    message: str


@dataclass
class FilterReady(Message, bubble=False):
    """A filter finished computing: the rows that pass it."""

    text: str
    query: Any  # tui.logindex.Query
    view: np.ndarray


@dataclass
class SearchReady(Message, bubble=False):
    """A search pattern's matches are known (a mask over the base rows)."""

    pattern: str
    mask: np.ndarray
    forward: bool = True


@dataclass
class JumpTo(Message):
    """Show a place in the log view: a `file:line`, an anomaly id (`A3`), or an evidence id (`A3.e2`)."""

    target: str


@dataclass
class CursorMoved(Message):
    """The log view's cursor moved to view position `y` (posted by the log view, coalesced)."""

    y: int


@dataclass
class BucketSelected(Message):
    """A timeline bucket was chosen: jump the log view to its first row."""

    bucket: int
    position: int  # first view position in the bucket


@dataclass
class AgentChunk(Message, bubble=False):
    """A piece of the agent's streamed reply."""

    text: str


@dataclass
class AgentDone(Message, bubble=False):
    """The agent finished a turn: the full text, its hypotheses and the citations found in it."""

    text: str
    hypotheses: list[dict[str, Any]] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    error: str | None = None

"""The detector protocol: samples in, scores out, and verdicts with their evidence for the ones that matter.

Scoring is numeric and cheap (one float per sample, arrays all the way) so a million-line audit never builds a
million objects; `explain` builds the typed verdict with its evidence only for the samples a report shows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, Self

import numpy as np

if TYPE_CHECKING:
    from detectors.events import Event
    from detectors.eventtable import EventTable
    from detectors.report import Anomaly
    from detectors.templates import TemplateStore
    from detectors.windows import Windows

Modality = Literal["logs", "series", "table"]
Label = Literal["anomaly", "normal"]

# Severity of a verdict from its score relative to its threshold; `--fail-on` takes these names.
SEVERITIES: tuple[str, ...] = ("none", "low", "medium", "high")


def severity(score: float, threshold: float) -> str:
    """`none` below the threshold; then low / medium / high as the score passes 1x, 1.5x, 3x of its margin.

    The margin is measured from 0 for positive thresholds, so detectors whose scores are not in [0, 1] still
    get comparable bands.
    """
    if not np.isfinite(score) or score < threshold:
        return "none"
    base = abs(threshold) if threshold != 0 else 1.0
    excess = (score - threshold) / base
    if excess >= 2.0:
        return "high"
    if excess >= 0.5:
        return "medium"
    return "low"


class DetectorError(Exception):
    """Base class of detector errors; messages say what to change."""


class NotFitted(DetectorError):
    """`score` was called before `fit`."""


class NotEnoughData(DetectorError):
    """Too few samples to fit or score."""


@dataclass(slots=True)
class Evidence:
    """One fact behind a verdict. Explanations cite `id`; reports show `summary` and link `where`."""

    kind: str  # line | rare_template | unseen_template | count_deviation | residual | demonstration | judge | reference
    summary: str  # one line a person can read
    where: str | None = None  # file:line, when the evidence is a line
    template_id: int | None = None
    weight: float = 0.0  # share of the score this evidence accounts for, when the detector can say
    data: dict[str, Any] = field(default_factory=dict)
    id: str = ""  # assigned when the report is assembled, e.g. "A3.e2"


@dataclass(slots=True)
class LogWindow:
    """A window of consecutive log events: the sample log detectors score."""

    id: int
    key: str  # the session key, the time span, or the line range that made the window
    events: np.ndarray  # int64 indices into the audit's event table
    templates: np.ndarray  # int32 template ids, aligned with `events`


@dataclass(slots=True)
class SeriesWindow:
    """A window of a (multi-channel) metric series."""

    id: int
    key: str
    start: int  # index of the first point
    values: np.ndarray  # (length, channels)
    timestamps: np.ndarray | None = None
    channels: tuple[str, ...] = ()


@dataclass(slots=True)
class TableRow:
    """One row of a table."""

    id: int
    key: str
    values: np.ndarray  # (features,)
    features: tuple[str, ...] = ()


Sample = LogWindow | SeriesWindow | TableRow


@dataclass(slots=True)
class Verdict:
    """A detector's judgement of one sample, with the evidence behind it."""

    detector: str
    sample: str  # the sample's key
    score: float
    threshold: float
    label: Label
    severity: str
    evidence: list[Evidence] = field(default_factory=list)
    focus: str | None = None  # file:line of the event that drove the verdict, for log samples
    id: str = ""  # assigned when the report is assembled, e.g. "A3"


class LineKeyer(Protocol):
    """Collects a key per event while the audit reads (line-level detectors); `freeze` hands the keys over."""

    def add(self, event: Event) -> None: ...

    def freeze(self) -> Any: ...


ProgressHook = Callable[[str, float, float | None], None]


class Detector(ABC):
    """Fit on normal (or unlabeled, mostly normal) samples; score samples; explain the ones that matter.

    A subclass sets `name` and `modalities`, and after `fit` a label-free `threshold` on its own score scale
    (higher scores are more anomalous). Every hook the audit pipeline calls is declared below with a default, so a
    detector overrides only what it does differently.
    """

    name: ClassVar[str]
    modalities: ClassVar[frozenset[str]]
    threshold: float = float("inf")
    # Compared line by line: the audit hands it one window per line (and needs a baseline or a fit fraction).
    line_level: ClassVar[bool] = False
    # fewest fit windows the detector can learn from (None: 1 for line-level detectors, else 2: a spread of scores)
    min_fit_windows: ClassVar[int | None] = None
    # Fit on the earliest share of the windows when the caller gives neither a fraction nor a baseline.
    default_fit_fraction: ClassVar[float | None] = None

    def bind_templates(self, template_text: Callable[[int], str]) -> None:
        """Receive the audit's template lookup (id -> text); detectors that read template text keep it."""
        return None

    def line_keyer(self) -> LineKeyer | None:
        """A collector of per-event keys filled while the audit reads (line-level detectors), or None."""
        return None

    def bind_lines(self, table: EventTable, keys: Any) -> None:
        """Receive the read event table and the keys `line_keyer` collected."""
        return None

    def describe_windows(self) -> str | None:
        """What the report's "windowing" line says, when the detector groups samples its own way (None: the spec's)."""
        return None

    def threshold_rule(self) -> str:
        """How the threshold was set, for the report."""
        return f"threshold {self.threshold:.3f}"

    def rank_anomalies(self, windows: Windows, scores: np.ndarray, store: TemplateStore, top: int, context: int,
                       progress: ProgressHook | None = None) -> list[Anomaly] | None:
        """The report's findings when the detector ranks them its own way; None: the pipeline ranks windows."""
        return None

    @abstractmethod
    def fit(self, samples: Sequence[Sample]) -> Self:
        """Learn what normal looks like and set `threshold` without labels.

        Raises:
            NotEnoughData: If there are too few samples to learn from.
        """

    @abstractmethod
    def score(self, samples: Sequence[Sample]) -> np.ndarray:
        """One anomaly score per sample (float64), higher is more anomalous.

        Raises:
            NotFitted: If `fit` has not been called.
        """

    def element_scores(self, sample: Sample) -> np.ndarray | None:
        """Per-element scores of one sample (lines of a window, channels, features), when the detector has them."""
        return None

    def member_scores(self, samples: Sequence[Sample]) -> np.ndarray | None:
        """Element scores of all samples, concatenated in sample order, when the detector can do it in one pass.

        Lets callers share a window's score out to its lines without a Python loop over windows.
        """
        return None

    @abstractmethod
    def explain(self, sample: Sample, score: float) -> list[Evidence]:
        """The evidence behind `score` for `sample`, most important first."""

    def fit_description(self, fitted_on: str) -> str:
        """What the report's "fit" line says, given the samples `fit` was handed (`fitted_on`); a detector whose
        knowledge lies elsewhere (a labelled demonstration pool) says so instead."""
        return fitted_on

    def verdict(self, sample: Sample, score: float) -> Verdict:
        """The typed verdict for one scored sample."""
        label: Label = "anomaly" if score >= self.threshold else "normal"
        return Verdict(
            detector=self.name,
            sample=sample.key,
            score=float(score),
            threshold=float(self.threshold),
            label=label,
            severity=severity(float(score), float(self.threshold)),
            evidence=self.explain(sample, score),
        )


DETECTORS: dict[str, type[Detector]] = {}

# Detectors that ship with sleuth, imported on first use so that `sleuth audit` never pays for torch unless asked.
BUILTIN: dict[str, str] = {
    "classical": "detectors.classical",
    "diff": "detectors.diff",
    "icad": "detectors.icad.detector",
    "logicl": "detectors.logicl",
    "calm": "detectors.calm.detect",
}


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator: make a detector available by name (`sleuth audit --detector NAME`)."""
    DETECTORS[cls.name] = cls
    return cls


def get_detector(name: str, **options: Any) -> Detector:
    """A new detector by name, with keyword options of its constructor.

    Raises:
        DetectorError: If no detector has that name, or it has no such option; the message lists the choices.
    """
    if name not in DETECTORS and name in BUILTIN:
        import importlib

        try:
            importlib.import_module(BUILTIN[name])
        except ImportError as error:
            raise DetectorError(f"detector {name!r} is not available: {error}") from None
    try:
        cls = DETECTORS[name]
    except KeyError:
        import importlib.util

        def installed(module: str) -> bool:
            try:
                return importlib.util.find_spec(module) is not None
            except ModuleNotFoundError:
                return False

        choices = ", ".join(sorted(set(DETECTORS) | {n for n, m in BUILTIN.items() if installed(m)}))
        raise DetectorError(f"unknown detector {name!r}; choose one of: {choices}") from None
    import inspect

    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = [k for k in options if k not in params or k == "self"] if not takes_any else []
    if unknown:
        known = ", ".join(p.name for p in params.values()
                          if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        raise DetectorError(f"detector {name!r} has no option {', '.join(map(repr, unknown))}; "
                            f"its options are: {known or '(none)'}")
    return cls(**options)

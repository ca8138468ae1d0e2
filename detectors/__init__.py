"""Anomaly detectors and the data they work on: readers, templates, windows, the detector protocol, reports.

No LLM or UI imports here: detectors that need a language model take a small protocol as an argument.
"""

from detectors.base import (
    DETECTORS,
    Detector,
    DetectorError,
    Evidence,
    LogWindow,
    NotEnoughData,
    NotFitted,
    SeriesWindow,
    TableRow,
    Verdict,
    get_detector,
    register,
)
from detectors.events import Event, ReadStats, Skip

__all__ = [
    "DETECTORS",
    "Detector",
    "DetectorError",
    "Event",
    "Evidence",
    "LogWindow",
    "NotEnoughData",
    "NotFitted",
    "ReadStats",
    "SeriesWindow",
    "Skip",
    "TableRow",
    "Verdict",
    "get_detector",
    "register",
]

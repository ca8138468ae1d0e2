"""CALM: streaming metric anomalies — a quantile forecaster, IQR bands, a KEEP/REMOVE judge, continual fine-tuning.

`CalmCore` runs it in-process; `detectors.calm.pipeline` runs the same per-series logic on Apache Beam
(`watch_main` is `sleuth watch`; imported from there because Beam is slow to import). Importing this package
registers the "calm" detector.
"""

from __future__ import annotations

from detectors.calm import _quiet  # noqa: F401 - before Beam is imported: its BigQuery warning
from detectors.calm.adapt import AdaptConfig, Adapter
from detectors.calm.core import CalmConfig, CalmCore, CalmEvent
from detectors.calm.detect import CalmDetector
from detectors.calm.forecaster import QUANTILES, ForecasterConfig, PatchForecaster, load_checkpoint
from detectors.calm.judge import JudgeCase, Judgment, LLMJudge, RuleJudge
from detectors.calm.records import BadRecord, Record, parse_line
from detectors.calm.store import ModelStore

__all__ = [
    "QUANTILES",
    "AdaptConfig",
    "Adapter",
    "BadRecord",
    "CalmConfig",
    "CalmCore",
    "CalmDetector",
    "CalmEvent",
    "ForecasterConfig",
    "JudgeCase",
    "Judgment",
    "LLMJudge",
    "ModelStore",
    "PatchForecaster",
    "Record",
    "RuleJudge",
    "load_checkpoint",
    "parse_line",
]

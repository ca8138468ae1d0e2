"""The classical baseline detector: rare and unseen templates and unusual counts are flagged, with evidence."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.base import DetectorError, LogWindow, NotEnoughData, NotFitted, get_detector


def _windows(rng: np.random.Generator, n: int, size: int = 20) -> list[LogWindow]:
    out = []
    for i in range(n):
        templates = rng.choice([1, 2, 3, 4], size=size, p=[0.4, 0.3, 0.2, 0.1]).astype(np.int32)
        out.append(LogWindow(i, f"w{i}", np.arange(i * size, (i + 1) * size), templates))
    return out


def test_window_with_unseen_template_is_flagged_with_evidence() -> None:
    rng = np.random.default_rng(0)
    normal = _windows(rng, 200)
    det = get_detector("classical").fit(normal)
    odd = LogWindow(999, "odd", np.arange(20), np.array([1] * 19 + [77], dtype=np.int32))
    scores = det.score(normal[:50] + [odd])
    assert scores[-1] >= det.threshold
    assert (scores[:-1] < det.threshold).mean() > 0.95
    verdict = det.verdict(odd, float(scores[-1]))
    assert verdict.label == "anomaly" and verdict.severity != "none"
    assert verdict.evidence[0].kind == "unseen_template" and verdict.evidence[0].template_id == 77
    elem = det.element_scores(odd)
    assert elem is not None and int(np.argmax(elem)) == 19


def test_burst_of_a_known_template_is_a_count_deviation() -> None:
    rng = np.random.default_rng(1)
    det = get_detector("classical").fit(_windows(rng, 300))
    burst = LogWindow(1, "burst", np.arange(20), np.array([4] * 20, dtype=np.int32))
    score = float(det.score([burst])[0])
    assert score >= det.threshold
    assert any(e.kind == "count_deviation" and e.template_id == 4 for e in det.explain(burst, score))


def test_scoring_before_fitting_is_an_error() -> None:
    with pytest.raises(NotFitted, match="fit"):
        get_detector("classical").score([])


def test_too_little_data_is_an_error() -> None:
    with pytest.raises(NotEnoughData, match="at least 2 windows"):
        get_detector("classical").fit([LogWindow(0, "w", np.arange(2), np.array([1, 1], dtype=np.int32))])


def test_unknown_detector_lists_the_choices() -> None:
    with pytest.raises(DetectorError, match="choose one of: .*classical"):
        get_detector("nope")

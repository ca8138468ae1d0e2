"""The OpenAI-compatible back end against a tiny local stand-in server: bounds, schema, and clear errors."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agent.llm import LLMOutputError, LLMUnavailable, parse_json_answer
from agent.llm_openai import openai_llm
from agent.settings import Settings


class _Handler(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []
    delay_s = 0.0

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (the timeout test)
            pass

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "tiny-model", "object": "model"}]})
        else:
            self._send(404, {"error": "no such path"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).requests.append(body)
        time.sleep(type(self).delay_s)
        content = json.dumps({"tool": "answer", "args": {}}) if "response_format" in body else "plain answer"
        self._send(200, {
            "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        })


@pytest.fixture
def fake_server() -> Iterator[str]:
    _Handler.requests = []
    _Handler.delay_s = 0.0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bound(body: dict[str, Any]) -> int:
    """The token bound of a request (langchain-openai sends OpenAI's newer `max_completion_tokens`; vLLM reads both)."""
    return int(body.get("max_completion_tokens", body.get("max_tokens", -1)))


def test_unreachable_server_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    started = time.perf_counter()
    with pytest.raises(LLMUnavailable, match=r"cannot reach the LLM server at .*serve-llm"):
        openai_llm(Settings(llm_url=url, model="m", timeout_s=2))
    assert time.perf_counter() - started < 60  # no hang (the bound is generous: a loaded CI machine is slow)


def test_wrong_model_name_lists_the_served_ones(fake_server: str) -> None:
    with pytest.raises(LLMUnavailable, match=r"does not serve model 'qwen'; it serves: tiny-model\. Pass --model"):
        openai_llm(Settings(llm_url=fake_server, model="qwen"))


def test_requests_carry_bounds_and_the_schema(fake_server: str) -> None:
    llm = openai_llm(Settings(llm_url=fake_server, max_tokens=77))  # the only served model is picked
    assert llm.name == f"vllm:tiny-model@{fake_server}" and llm.local
    schema = {"type": "object", "properties": {"tool": {"enum": ["answer"]}}, "required": ["tool"]}
    assert llm.complete_json([{"role": "user", "content": "hi"}], schema) == {"tool": "answer", "args": {}}
    body = _Handler.requests[-1]
    assert _bound(body) == 77
    assert body["response_format"]["type"] == "json_schema" and body["response_format"]["json_schema"]["schema"] == schema
    assert llm.stats.calls == 1 and llm.stats.completion_tokens == 5
    assert llm.complete([{"role": "user", "content": "hi"}], max_tokens=9) == "plain answer"
    assert _bound(_Handler.requests[-1]) == 9


def test_slow_server_times_out_with_a_next_step(fake_server: str) -> None:
    _Handler.delay_s = 2.0
    llm = openai_llm(Settings(llm_url=fake_server, timeout_s=0.5, retries=0))
    with pytest.raises(LLMUnavailable, match="did not answer within the timeout"):
        llm.complete([{"role": "user", "content": "hi"}])


def test_secrets_are_masked_for_remote_servers_only(fake_server: str) -> None:
    remote = openai_llm(Settings(llm_url=fake_server, model="tiny-model"), check=False)
    remote.local = False
    remote.redact_secrets = True
    remote.complete([{"role": "user", "content": "login password=hunter2"}])
    assert "hunter2" not in json.dumps(_Handler.requests[-1])


@pytest.mark.parametrize(
    ("text", "expected"),
    [('{"a": 1}', {"a": 1}), ('```json\n{"a": 1}\n```', {"a": 1})],
    ids=["plain", "fenced"],
)
def test_json_answers_are_parsed(text: str, expected: dict[str, Any]) -> None:
    assert parse_json_answer(text) == expected


def test_cut_off_json_says_to_raise_max_tokens() -> None:
    with pytest.raises(LLMOutputError, match="raise it"):
        parse_json_answer('{"summary": "the disk fil')
    with pytest.raises(LLMOutputError, match="not an object"):
        parse_json_answer("[1, 2]")


def test_first_token_log_probabilities_become_label_log_probabilities() -> None:
    """vLLM gives the top alternatives of the first answer token; every token that begins a label counts for it."""
    import math

    from agent.llm_openai import first_token_label_logprobs

    top = [("an", math.log(0.5)), ("normal", math.log(0.3)), ("anomaly", math.log(0.1)), ("The", math.log(0.05)),
           (" ", math.log(0.01))]
    scores = first_token_label_logprobs(top, ["anomaly", "normal"])
    assert math.isclose(math.exp(scores["anomaly"]), 0.6) and math.isclose(math.exp(scores["normal"]), 0.3)
    missing = first_token_label_logprobs(top, ["yes", "no"])  # neither listed: below the least likely token shown
    assert all(v < math.log(0.01) for v in missing.values())
    with pytest.raises(ValueError, match="different letters"):
        first_token_label_logprobs(top, ["normal", "nominal"])

"""The vLLM back end (or any OpenAI-compatible server), through langchain-openai's ChatOpenAI.

Requests carry an explicit `max_tokens` and a timeout; the OpenAI client retries connection errors, 408/429 and
5xx answers with exponential backoff (`retries`). Structured answers use `response_format` with a JSON schema,
which vLLM enforces (structured outputs). Before the first call the server's `/models` is read once, so an
unreachable server or a wrong model name fails fast with a message that says what to do.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from agent.llm import ChatModelLLM, LLMError, LLMOutputError, LLMUnavailable, Message, parse_json_answer
from agent.redact import is_local_url
from agent.settings import Settings


def served_models(url: str, *, api_key: str = "EMPTY", timeout_s: float = 10.0) -> list[str]:
    """The model names an OpenAI-compatible server serves.

    Raises:
        LLMUnavailable: If the server cannot be reached or does not answer like an OpenAI API.
    """
    endpoint = url.rstrip("/") + "/models"
    try:
        reply = httpx.get(endpoint, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout_s)
    except httpx.HTTPError as error:
        raise LLMUnavailable(
            f"cannot reach the LLM server at {url} ({type(error).__name__}: {error}); start it "
            "(`sleuth serve-llm MODEL` prints the command), fix --llm-url, or drop --llm-url to use the embedded model"
        ) from None
    if reply.status_code == 401:
        raise LLMUnavailable(f"the LLM server at {url} refused the API key (HTTP 401); set SLEUTH_API_KEY or api_key")
    if reply.status_code != 200:
        raise LLMUnavailable(
            f"{endpoint} answered HTTP {reply.status_code}; is {url} an OpenAI-compatible base URL (ending in /v1)?"
        )
    try:
        return [str(m["id"]) for m in reply.json().get("data", [])]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise LLMUnavailable(f"{endpoint} did not answer with a model list; is {url} a vLLM / OpenAI API?") from None


def _error_map(url: str, model: str) -> Any:
    def mapped(error: Exception) -> LLMError | None:
        import openai

        if isinstance(error, openai.LengthFinishReasonError):
            return LLMOutputError(f"the model's answer was cut off at the token bound before it was complete "
                                  f"({error}); raise max_tokens")
        if isinstance(error, openai.ContentFilterFinishReasonError):
            return LLMOutputError(f"the server's content filter stopped the answer: {error}")
        if isinstance(error, openai.APITimeoutError):
            return LLMUnavailable(f"the LLM server at {url} did not answer within the timeout; raise timeout_s or check its load")
        if isinstance(error, openai.APIConnectionError):
            return LLMUnavailable(f"lost the connection to the LLM server at {url}: {error}; is it still running?")
        if isinstance(error, openai.NotFoundError):
            return LLMUnavailable(f"the server at {url} does not serve model {model!r}: {error}; pass --model with a served name")
        if isinstance(error, openai.BadRequestError):
            return LLMUnavailable(f"the LLM server at {url} rejected the request: {error}")
        if isinstance(error, openai.APIStatusError):
            return LLMUnavailable(f"the LLM server at {url} failed (HTTP {error.status_code}) after retries: {error}")
        return None

    return mapped


class OpenAIChatLLM(ChatModelLLM):
    """`ChatModelLLM` on ChatOpenAI, with native tool calls read raw from the API.

    langchain-openai refuses to build a message whose tool-call arguments are JSON but not an object (small models
    send `'1705'` or `'[1]'`); reading the raw response lets such calls reach validation and be rejected with a
    message, as every malformed call should.

    Structured outputs: the OpenAI form (`response_format: {type: json_schema, json_schema: {schema}}`, which vLLM
    serves) first; a server that refuses it (llama.cpp's own server takes only `{type: json_object, schema}`) gets
    that form from then on.
    """

    json_mode = "json_schema"  # or "json_object" once the server refused the first

    def _invoke(self, messages: Sequence[Message], kwargs: dict[str, Any]) -> str:
        """As ChatModelLLM's, with a call's own bound also in the legacy `max_tokens` field (see `openai_llm`)."""
        if "max_tokens" in kwargs:
            kwargs = {**kwargs, "extra_body": {"max_tokens": kwargs["max_tokens"]}}
        return super()._invoke(messages, kwargs)

    def complete_json(
        self, messages: Sequence[Message], schema: dict[str, Any], *, max_tokens: int | None = None
    ) -> dict[str, Any]:
        """JSON obeying `schema`, constrained by the server in whichever form it accepts."""
        if self.json_mode == "json_schema":
            try:
                return super().complete_json(messages, schema, max_tokens=max_tokens)
            except LLMUnavailable as error:
                text = str(error)
                if "response_format" not in text or not ("json_object" in text or "json_schema" in text):
                    raise
                self.json_mode = "json_object"
        kwargs = {"max_tokens": max_tokens or self.max_tokens,
                  "response_format": {"type": "json_object", "schema": schema}}
        return parse_json_answer(self._invoke(messages, kwargs))

    def label_logprobs(self, messages: Sequence[Message], labels: Sequence[str]) -> dict[str, float]:
        """log P(label | messages) per label, from the first answer token's top-20 log-probabilities (the
        OpenAI `logprobs` / `top_logprobs` fields, which vLLM serves); see `first_token_label_logprobs`."""
        chat: Any = self.model
        started = time.perf_counter()
        try:
            reply = chat.root_client.chat.completions.create(
                model=chat.model_name,
                messages=[{"role": r, "content": c} for r, c in self._prepare(messages)],
                max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=20,
            )
        except Exception as error:
            raise self._wrap(error) from error
        finally:
            self._account(started, None, "")
        content = reply.choices[0].logprobs.content if reply.choices and reply.choices[0].logprobs else None
        if not content:
            raise LLMOutputError(f"{self.name} returned no log-probabilities; does the server support `logprobs`?")
        return first_token_label_logprobs([(t.token, t.logprob) for t in content[0].top_logprobs], labels)

    def tool_calls(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *, tool_choice: str = "required"
    ) -> list[tuple[str, Any]]:
        """(name, arguments) pairs as the server sent them; arguments that are not JSON stay the raw string."""
        chat: Any = self.model
        started = time.perf_counter()
        usage = None
        try:
            reply = chat.root_client.chat.completions.create(
                model=chat.model_name,
                messages=[{"role": r, "content": c} for r, c in self._prepare(messages)],
                tools=list(tools),
                tool_choice=tool_choice,
                max_tokens=self.max_tokens,
                temperature=chat.temperature,
            )
        except Exception as error:
            raise self._wrap(error) from error
        finally:
            self._account(started, usage, "")
        choice = reply.choices[0]
        if not choice.message.tool_calls and tool_choice == "required":
            raise LLMOutputError(_no_forced_call(self.name, choice.finish_reason, choice.message.content or "",
                                                 self.max_tokens))
        out: list[tuple[str, Any]] = []
        for call in choice.message.tool_calls or []:
            raw = call.function.arguments
            try:
                args: Any = json.loads(raw) if raw else {}
            except json.JSONDecodeError:
                args = raw
            out.append((call.function.name, args))
        return out


def _no_forced_call(name: str, finish_reason: str | None, content: str, max_tokens: int) -> str:
    """Why a server answered a forced tool call (`tool_choice="required"`) with no call, in words."""
    said = f"; it wrote {content[:120]!r}" if content.strip() else ""
    if finish_reason == "length":
        return (f"{name} returned no tool call for tool_choice=required: the call was cut off at the token bound "
                f"(max_tokens={max_tokens}, finish_reason=length) before it was complete{said}; raise max_tokens, "
                "or mark the tools strict so the server constrains their arguments")
    return (f"{name} returned no tool call for tool_choice=required (finish_reason={finish_reason}){said}; does the "
            "server support forced tool calls? (vLLM: --enable-auto-tool-choice --tool-call-parser NAME)")


def first_token_label_logprobs(top: Sequence[tuple[str, float]], labels: Sequence[str]) -> dict[str, float]:
    """log P(label) from the first answer token's top alternatives: the probabilities of every listed token that
    begins the label (e.g. "an" and "anomaly" for "anomaly"), added. A label none of them begins gets a value below
    the least likely one listed (its true log-probability is lower still). Labels must not share a first letter.

    Raises:
        ValueError: If two labels start alike (a first token could not be attributed).
    """
    firsts = [label.strip().lower()[:1] for label in labels]
    if len(set(firsts)) != len(firsts):
        raise ValueError(f"labels {list(labels)} must start with different letters to be told apart by one token")
    floor = min((lp for _, lp in top), default=0.0) - math.log(2.0)
    out = {}
    for label in labels:
        want = label.strip().lower()
        hits = [lp for tok, lp in top if tok.strip() and want.startswith(tok.strip().lower())]
        out[label] = float(np.logaddexp.reduce(hits)) if hits else floor
    return out


def openai_llm(settings: Settings, *, check: bool = True) -> ChatModelLLM:
    """An `LLM` on the OpenAI-compatible server at `settings.llm_url`.

    Args:
        settings: Uses llm_url, model (None: the server's only model), api_key, max_tokens, timeout_s, retries,
            temperature, redact.
        check: Read the server's model list first, failing fast on a wrong URL or model name.

    Raises:
        LLMUnavailable: If the server cannot be reached, or the model name is not served (the message lists the
            served names).
    """
    from langchain_openai import ChatOpenAI

    url = settings.llm_url
    if not url:
        raise LLMUnavailable("no LLM server URL: pass --llm-url http://HOST:8000/v1 or set SLEUTH_LLM_URL")
    model = settings.model
    if check:
        names = served_models(url, api_key=settings.api_key, timeout_s=min(settings.timeout_s, 10.0))
        if model is None:
            if len(names) != 1:
                raise LLMUnavailable(f"the server at {url} serves {names or 'no models'}; pass --model with one of them")
            model = names[0]
        elif model not in names:
            raise LLMUnavailable(
                f"the server at {url} does not serve model {model!r}; it serves: {', '.join(names) or 'nothing'}. "
                "Pass --model with one of those"
            )
    if model is None:
        raise LLMUnavailable("no model name: pass --model NAME (the name vLLM serves)")
    chat = ChatOpenAI(
        base_url=url,
        api_key=settings.api_key,  # type: ignore[arg-type]
        model=model,
        max_tokens=settings.max_tokens,  # type: ignore[call-arg]
        timeout=settings.timeout_s,
        max_retries=settings.retries,
        temperature=settings.temperature,
        stream_usage=True,
        # langchain-openai sends the bound as `max_completion_tokens`, which llama.cpp's server ignores (it reads only
        # `max_tokens`, default: until the context is full; seen: 3,400 tokens and 15 minutes for one answer). The
        # legacy field goes along in the body so every server is bounded; vLLM prefers max_completion_tokens.
        extra_body={"max_tokens": settings.max_tokens},
    )

    def json_kwargs(schema: dict[str, Any]) -> dict[str, Any]:
        return {"response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}}

    return OpenAIChatLLM(
        chat,
        name=f"vllm:{model}@{url}",
        local=is_local_url(url),
        json_kwargs=json_kwargs,
        max_tokens=settings.max_tokens,
        redact_secrets=settings.redact,
        redact_local=settings.redact_local,
        redact_pii=settings.redact_pii,
        error_map=_error_map(url, model),
    )

"""The small LLM protocol every back end implements, its errors, and the adapter over LangChain chat models.

Detectors that need a language model (LogICL's verdict, CALM's judge) take an `LLM` without importing agent/:
the protocol speaks plain `{"role": ..., "content": ...}` dicts and JSON schemas, nothing from LangChain.
The protocol itself and its errors live in detectors/llm.py (so detectors need not import agent/); they are
re-exported here.

Back ends: `agent.llm_openai.OpenAILLM` (vLLM or any OpenAI-compatible server, through langchain-openai) and
`agent.llm_embedded.LlamaCppLLM` (in-process llama.cpp on a GGUF). Tests wrap langchain-core's fake chat models in
`ChatModelLLM`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from agent.redact import redact
from detectors.llm import LLM, LLMError, LLMOutputError, LLMStats, LLMUnavailable, Message, parse_json_answer

__all__ = ["LLM", "ChatModelLLM", "LLMError", "LLMOutputError", "LLMStats", "LLMUnavailable", "Message",
           "parse_json_answer", "redact_messages"]

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

logger = logging.getLogger(__name__)


def redact_messages(messages: Sequence[Message], *, pii: bool = False) -> list[Message]:
    """The messages with secrets (and PII when `pii`) masked in every content (for non-local endpoints)."""
    return [{**m, "content": redact(m["content"], pii=pii).text} for m in messages]


class ChatModelLLM:
    """The `LLM` protocol over any LangChain chat model (ChatOpenAI for vLLM, fake models in tests).

    Args:
        model: The chat model.
        name: How reports name this back end.
        local: Whether text stays on this machine; if not, and `redact_secrets` is on, secrets are masked.
        json_kwargs: Builds the call kwargs that make the engine constrain its output to a schema
            (e.g. OpenAI `response_format`); the default adds none and relies on the prompt.
        max_tokens: Default bound on generated tokens per call.
        redact_secrets: Mask secrets before text leaves the machine (on by default; ignored when `local`).
        redact_local: Mask them for a local server too.
        redact_pii: Also mask e-mail addresses and phone numbers.
        error_map: Turns engine exceptions into `LLMError`s with a next step; return None to re-raise.
    """

    def __init__(
        self,
        model: BaseChatModel,
        *,
        name: str = "chat-model",
        local: bool = True,
        json_kwargs: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        max_tokens: int = 512,
        redact_secrets: bool = True,
        error_map: Callable[[Exception], LLMError | None] | None = None,
        redact_local: bool = False,
        redact_pii: bool = False,
    ) -> None:
        self.model = model
        self.name = name
        self.local = local
        self.stats = LLMStats()
        self.max_tokens = max_tokens
        self.redact_secrets = redact_secrets and (not local or redact_local)
        self.redact_pii = redact_pii
        self._noticed = False  # the one-line notice that a local server gets unmasked text was given
        self._json_kwargs = json_kwargs or (lambda schema: {})
        self._error_map = error_map or (lambda error: None)

    def _prepare(self, messages: Sequence[Message]) -> list[tuple[str, str]]:
        if self.redact_secrets:
            outgoing = redact_messages(messages, pii=self.redact_pii)
        else:
            outgoing = list(messages)
            if self.local and not self._noticed:
                found = sum(redact(m["content"]).total for m in outgoing)
                if found:
                    self._noticed = True
                    logger.warning("note: %s is on this machine, so log text goes to it unmasked (%d secret-looking "
                                   "string(s) in this request); set redact_local = true to mask them too",
                                   self.name, found)
        return [(m["role"], m["content"]) for m in outgoing]

    def _wrap(self, error: Exception) -> Exception:
        mapped = self._error_map(error)
        return mapped if mapped is not None else error

    def _account(self, started: float, usage: dict[str, Any] | None, text: str) -> None:
        self.stats.calls += 1
        self.stats.seconds += time.perf_counter() - started
        if usage:
            self.stats.prompt_tokens += int(usage.get("input_tokens", 0) or 0)
            self.stats.completion_tokens += int(usage.get("output_tokens", 0) or 0)
        else:  # fakes report no usage: count words so tokens/s is not zero
            self.stats.completion_tokens += len(text.split())

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> Iterator[str]:
        """Yield text chunks as the chat model streams them."""
        started = time.perf_counter()
        parts: list[str] = []
        usage: dict[str, Any] | None = None
        try:
            bound = self.model.bind(max_tokens=max_tokens or self.max_tokens)
            for chunk in bound.stream(self._prepare(messages)):
                text = chunk.content if isinstance(chunk.content, str) else ""
                if getattr(chunk, "usage_metadata", None):
                    usage = dict(chunk.usage_metadata)  # type: ignore[arg-type]
                if text:
                    parts.append(text)
                    yield text
        except LLMError:
            raise
        except Exception as error:
            raise self._wrap(error) from error
        finally:
            self._account(started, usage, "".join(parts))

    def complete(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> str:
        """The whole answer."""
        return self._invoke(messages, {"max_tokens": max_tokens or self.max_tokens})

    def _invoke(self, messages: Sequence[Message], kwargs: dict[str, Any]) -> str:
        started = time.perf_counter()
        text = ""
        usage: dict[str, Any] | None = None
        try:
            reply = self.model.bind(**kwargs).invoke(self._prepare(messages))
            text = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
            usage = dict(reply.usage_metadata) if getattr(reply, "usage_metadata", None) else None  # type: ignore[arg-type]
        except LLMError:
            raise
        except Exception as error:
            raise self._wrap(error) from error
        finally:
            self._account(started, usage, text)
        return text

    def complete_json(
        self, messages: Sequence[Message], schema: dict[str, Any], *, max_tokens: int | None = None
    ) -> dict[str, Any]:
        """Ask for JSON obeying `schema` (constrained by the engine when `json_kwargs` says how), parse it."""
        kwargs = {"max_tokens": max_tokens or self.max_tokens, **self._json_kwargs(schema)}
        return parse_json_answer(self._invoke(messages, kwargs))

    def label_logprobs(self, messages: Sequence[Message], labels: Sequence[str]) -> dict[str, float]:
        """Not available through a generic chat model."""
        raise NotImplementedError(f"{self.name} cannot score labels; use the embedded back end")

    def tool_calls(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *, tool_choice: str = "required"
    ) -> list[tuple[str, Any]]:
        """Native tool calling: the (name, raw arguments) pairs the model asked for, unvalidated.

        Arguments that were not even JSON come back as the raw string, so the caller's validation rejects them
        with a message instead of this method guessing.
        """
        started = time.perf_counter()
        text = ""
        try:
            reply = self.model.bind_tools(list(tools), tool_choice=tool_choice).invoke(self._prepare(messages))
            text = reply.content if isinstance(reply.content, str) else ""
        except LLMError:
            raise
        except Exception as error:
            raise self._wrap(error) from error
        finally:
            self._account(started, None, text)
        calls: list[tuple[str, Any]] = [(c["name"], c["args"]) for c in getattr(reply, "tool_calls", [])]
        calls += [(c.get("name") or "", c.get("args")) for c in getattr(reply, "invalid_tool_calls", [])]
        return calls

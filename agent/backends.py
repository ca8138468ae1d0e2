"""Choosing the back end from the settings: none (`--llm none`), a server when a URL is set, else the embedded engine."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from agent.llm import LLM, LLMStats, LLMUnavailable, Message
from agent.settings import Settings


class UnavailableLLM:
    """Stands in for a back end that could not be set up, so audits still write their report.

    Every call raises `LLMUnavailable` with the original reason.
    """

    local = True

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.name = "unavailable"
        self.stats = LLMStats()

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise LLMUnavailable(self.reason)

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> Iterator[str]:
        """Raises `LLMUnavailable`."""
        raise LLMUnavailable(self.reason)
        yield ""  # pragma: no cover  (makes this a generator)

    complete = _fail
    complete_json = _fail
    label_logprobs = _fail
    tool_calls = _fail


class NoLLM(UnavailableLLM):
    """`--llm none`: no model at all; answers and explanations are the deterministic ones."""

    def __init__(self) -> None:
        super().__init__("no model (--llm none)")
        self.name = "none"


def make_llm(settings: Settings, *, check: bool = True) -> LLM:
    """The configured `LLM` (the embedded engine loads its model lazily, on first use).

    Raises:
        LLMUnavailable: If the vLLM server cannot be reached or does not serve the model (with `check`).
    """
    if settings.backend == "none":
        return NoLLM()
    if settings.llm == "served" and not settings.llm_url:
        raise LLMUnavailable("--llm served needs a server: pass --llm-url http://HOST:PORT/v1")
    if settings.backend == "vllm":
        from agent.llm_openai import openai_llm

        return openai_llm(settings, check=check)
    from agent.llm_embedded import LlamaCppLLM

    return LlamaCppLLM(
        settings.model,
        n_ctx=settings.context_tokens,
        n_threads=settings.threads,
        max_tokens=settings.max_tokens,
        timeout_s=settings.timeout_s,
        temperature=settings.temperature,
    )

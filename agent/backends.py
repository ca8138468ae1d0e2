"""Choosing the back end from the settings: none (`--llm none`), a server when a URL is set, else the embedded engine."""

from __future__ import annotations

from agent.llm import LLM
from agent.settings import Settings


def make_llm(settings: Settings, *, check: bool = True) -> LLM:
    """The configured `LLM` (the embedded engine loads its model lazily, on first use).

    Raises:
        LLMUnavailable: If the vLLM server cannot be reached or does not serve the model (with `check`).
    """
    if settings.backend == "none":
        from agent.api import NoLLM

        return NoLLM()
    if settings.llm == "served" and not settings.llm_url:
        from agent.llm import LLMUnavailable

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

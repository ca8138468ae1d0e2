"""Choosing the back end from the settings: vLLM when a server URL is set, else the embedded engine."""

from __future__ import annotations

from agent.llm import LLM
from agent.settings import Settings


def make_llm(settings: Settings, *, check: bool = True) -> LLM:
    """The configured `LLM` (the embedded engine loads its model lazily, on first use).

    Raises:
        LLMUnavailable: If the vLLM server cannot be reached or does not serve the model (with `check`).
    """
    if settings.llm_url:
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

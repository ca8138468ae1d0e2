"""What the `sleuth` CLI calls for `chat`, `sessions`, `serve-llm` and the explanation step of `audit`.

Each function does the work and prints through the `echo` it is given, so the Typer wiring in cli/ is a few
lines and the functions are testable without a terminal.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from agent.api import Sleuth
from agent.sessions import SessionInfo
from agent.sessions import list_sessions as _list_sessions
from agent.settings import Settings
from detectors.pipeline import AuditResult
from detectors.report import Report
from detectors.terminal import visible

Echo = Callable[[str], None]


def _echo(text: str) -> None:
    print(visible(text), flush=True)  # answers quote log text: no raw escape sequences to the terminal


def explain_audit(result: AuditResult, paths: Sequence[str], settings: Settings) -> Report:
    """Fill `result.report.explanation` for `sleuth audit` (unless `settings.explain` is off). Never raises for
    model trouble: the report then says "explanation unavailable: <reason>"."""
    if not settings.explain:
        result.report.explanation = None
        return result.report
    return Sleuth(settings).explain(result, paths)


def chat_loop(
    settings: Settings,
    session: str | None = None,
    *,
    paths: Sequence[str] = (),
    lines: Iterable[str] | None = None,
    echo: Echo = _echo,
    write: Callable[[str], None] | None = None,
    baseline: Sequence[str] = (),
) -> int:
    """`sleuth chat [--session NAME] [PATH...]`: audit PATHs (if given), then answer questions, streaming tokens.

    Args:
        settings: Resolved settings.
        session: Save/resume under this name.
        paths: Logs to audit first (a resumed session keeps its own).
        lines: Questions (default: read from the terminal until EOF, "exit" or "quit").
        echo: Prints a whole line.
        write: Prints a streamed token (default: stdout without newline).
        baseline: Logs of a good run: the audit compares PATHs with them (as `sleuth audit --baseline`).

    Returns:
        The exit code (0).
    """
    out = write or (lambda t: (sys.stdout.write(visible(t, limit=None)), sys.stdout.flush()))
    options = None
    if baseline:
        from dataclasses import replace

        from detectors.pipeline import AuditOptions

        # As `sleuth audit --baseline`: the default detector compares with the good run (diff); a detector set in
        # the settings other than the default one is kept, fitted on the baseline.
        detector = "auto" if settings.detector == "classical" else settings.detector
        options = AuditOptions(detector=detector, baseline=tuple(baseline))
        if settings.window:
            options = replace(options, window=settings.window)
    sleuth = Sleuth(settings, session=session, audit_options=options)
    try:
        history = sleuth.history()
        if history:
            echo(f"Resumed session {session!r}: {len(history)} earlier question(s); sources: "
                 f"{', '.join(sleuth.state.get('sources') or []) or 'none'}")
        if paths:
            report = sleuth.audit(paths)
            explanation = report.explanation or {}
            echo(f"Audited {', '.join(paths)}: {len(report.anomalies)} anomalies.")
            for h in explanation.get("hypotheses", []):
                echo(f"  {h['id']} ({h['confidence']}): {h['title']}")
            if explanation.get("text"):
                echo(str(explanation["text"]))
        echo("Ask about the logs (exit or Ctrl-D to leave).")
        source = lines if lines is not None else _prompt_lines()
        for question in source:
            question = question.strip()
            if not question:
                continue
            if question in ("exit", "quit"):
                break
            answer = sleuth.ask(question, on_token=out)
            out("\n")
            cites = answer.citations
            if cites.get("dropped"):
                echo(f"({len(cites['dropped'])} unresolvable citation(s) dropped: {', '.join(cites['dropped'])})")
            for step in answer.steps:
                if not step.get("executed"):
                    echo(f"(rejected tool call {step['tool']}: {step['error']})")
    finally:
        sleuth.close()
    return 0


def _prompt_lines() -> Iterable[str]:
    while True:
        try:
            yield input("sleuth> ")
        except EOFError:
            return


def list_sessions(settings: Settings, *, echo: Echo = _echo) -> list[SessionInfo]:
    """`sleuth sessions`: print the saved sessions, most recent first, and return them."""
    sessions = _list_sessions(settings.sessions_path)
    if not sessions:
        echo(f"No saved sessions in {settings.sessions_path}. Start one with `sleuth chat --session NAME`.")
    for s in sessions:
        echo(f"{s.name}\t{s.updated}\t{s.questions} question(s)\t{', '.join(s.sources) or '-'}")
    return sessions


def serve_llm_argv(
    model: str, *, port: int = 8000, host: str = "0.0.0.0", max_model_len: int = 8192,
    gpu_memory_utilization: float = 0.90,
) -> list[str]:
    """The recommended `vllm serve` command for the agent (hermes tool calling, bounded context and GPU memory)."""
    return [
        "vllm", "serve", model,
        "--enable-auto-tool-choice", "--tool-call-parser", "hermes",
        "--max-model-len", str(max_model_len),
        "--gpu-memory-utilization", f"{gpu_memory_utilization:.2f}",
        "--host", host, "--port", str(port),
    ]


def serve_llm_command(
    model: str = "Qwen/Qwen2.5-7B-Instruct", *, run: bool = True, port: int = 8000, max_model_len: int = 8192,
    gpu_memory_utilization: float = 0.90, echo: Echo = _echo,
) -> int:
    """`sleuth serve-llm MODEL`: print the recommended vLLM command and, where vllm is installed, run it.

    Returns:
        vLLM's exit code when it ran, 0 when only printed, 1 when asked to run but vllm is not installed.
    """
    argv = serve_llm_argv(model, port=port, max_model_len=max_model_len, gpu_memory_utilization=gpu_memory_utilization)
    echo(shlex.join(argv))
    echo(f"then: sleuth chat --llm-url http://HOST:{port}/v1 --model {model}")
    if not run:
        return 0
    if shutil.which("vllm") is None and importlib.util.find_spec("vllm") is None:
        echo("vllm is not installed here (it needs a CUDA GPU host: pip install 'sleuth[vllm]'); run the command above there.")
        return 1
    exe = shutil.which("vllm")
    # The `vllm` entry point of some builds fails to start (PackageNotFoundError); the module always works.
    cmd = argv if exe else [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model, *argv[3:]]
    return subprocess.call(cmd, env=os.environ.copy())


def default_config_text(path: Path) -> str:
    """A commented example config file (what `sleuth chat` suggests when none exists)."""
    return (
        f"# {path}: sleuth settings (defaults -> this file -> SLEUTH_* environment -> flags)\n"
        "# llm_url = \"http://gpu-host:8000/v1\"   # vLLM; leave unset for the embedded SmolLM2 model\n"
        "# model = \"Qwen/Qwen2.5-7B-Instruct\"\n"
        "# max_tokens = 384\n# timeout_s = 60\n# redact = true\n"
    )

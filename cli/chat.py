"""`sleuth chat`, `sleuth sessions`, `sleuth serve-llm`: the agent on the command line."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import Llm, fail, settings


def chat(
    paths: Annotated[list[str] | None, typer.Argument(help="Logs to audit first (a resumed session keeps its own).")] = None,
    session: Annotated[str | None, typer.Option("--session", "-s", help="Save and resume the conversation under this name.")] = None,
    llm_url: Annotated[str | None, typer.Option("--llm-url", help="OpenAI-compatible server (vLLM, llama.cpp's server, ...); default: the embedded model.")] = None,
    llm: Annotated[Llm | None, typer.Option("--llm", help="Model back end: auto (a server when --llm-url is set, else embedded), embedded, served, or none (deterministic answers only, no model).")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Served model name, or a GGUF path for the embedded engine.")] = None,
    no_redact: Annotated[bool, typer.Option("--no-redact", help="Do not mask secrets before they go to a remote server.")] = False,
    baseline: Annotated[list[str] | None, typer.Option("--baseline", help="Logs of a good run to compare the logs with, as in `sleuth audit --baseline` (repeatable).")] = None,
) -> None:
    """Ask about your logs: what happened, the root cause, when it started, what happened on HOST around TIME, is X
    related, the lines around X, which host first, what changed, is it still happening, how many. Answers come from
    the incident engine and cite file:line; a model only rephrases them, checked. Log text never decides which tools
    run."""
    from agent import SessionError
    from agent.cli_support import chat_loop

    conf = settings({"llm_url": llm_url, "model": model, "redact": False if no_redact else None,
                     "llm": llm.value if llm else None})
    try:
        code = chat_loop(conf, session, paths=paths or [], baseline=baseline or [])
    except SessionError as error:
        raise fail(str(error)) from None
    raise typer.Exit(code)


def sessions() -> None:
    """List saved chat sessions, most recent first."""
    from agent.cli_support import list_sessions

    list_sessions(settings({}))


def serve_llm(
    model: Annotated[str, typer.Argument(help="Hugging Face model to serve, e.g. Qwen/Qwen2.5-7B-Instruct.")] = "Qwen/Qwen2.5-7B-Instruct",
    port: Annotated[int, typer.Option("--port", help="Port to serve on.")] = 8000,
    max_model_len: Annotated[int, typer.Option("--max-model-len", help="Context length.")] = 8192,
    gpu_memory_utilization: Annotated[float, typer.Option("--gpu-memory-utilization", help="Fraction of GPU memory for vLLM.")] = 0.90,
    print_only: Annotated[bool, typer.Option("--print-only", help="Print the command without running it.")] = False,
) -> None:
    """Print (and, where vllm is installed, run) the recommended `vllm serve` command for the agent."""
    from agent.cli_support import serve_llm_command

    raise typer.Exit(serve_llm_command(model, run=not print_only, port=port, max_model_len=max_model_len,
                                       gpu_memory_utilization=gpu_memory_utilization))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command()(chat)
    app.command()(sessions)
    app.command("serve-llm")(serve_llm)

"""`sleuth mcp`: serve the read-only tools to MCP clients (stdio, or streamable HTTP on loopback)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import fail


def mcp(
    sources: Annotated[list[str] | None, typer.Argument(help="Logs to audit on the first tool call (files, journal:PATH, loki://...).")] = None,
    http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio.")] = False,
    host: Annotated[str, typer.Option("--host", help="Loopback address to bind with --http (127.0.0.1 or ::1 only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to bind with --http.")] = 8765,
) -> None:
    """Serve sleuth's read-only tools over MCP: audit_source, incident_summary, list_anomalies, search_events,
    get_context, describe_template, score_window, watch_status. Log text is redacted and framed as untrusted."""
    import importlib.util

    if importlib.util.find_spec("mcp") is None:
        raise fail("the MCP server needs the 'mcp' package, which is not installed; pip install 'mcp>=1.12,<2'")
    from agent.mcp_server import serve

    try:
        serve(sources or [], http=http, host=host, port=port)
    except ValueError as error:
        raise fail(str(error)) from None
    except OSError as error:
        raise fail(f"cannot listen on {host}:{port} ({error.strerror or error}); pick another --port") from None


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command()(mcp)

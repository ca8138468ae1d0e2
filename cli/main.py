"""The `sleuth` command: the top-level Typer app, assembled from one module per command group."""

from __future__ import annotations

from typing import Any

import typer

from cli import audit, bench, chat, generate, investigate, mcp, pool, train, triage, watch

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="sleuth: find, rank and explain anomalies in logs and metrics.")
audit.register(app)
generate.register(app)
triage.register(app)
watch.register(app)
chat.register(app)
investigate.register(app)
mcp.register(app)
app.add_typer(bench.app, name="bench")
app.add_typer(train.app, name="train")
app.add_typer(pool.app, name="pool")


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the `sleuth` command. A crash exits 70 with a one-line message (the traceback goes to a file),
    so exit codes keep their meaning: 1 = anomalies found, 2 = usage or input error."""
    import os

    try:
        return app(args=argv)
    except Exception as error:  # noqa: BLE001 - typer re-raises what a command did not handle
        if os.environ.get("SLEUTH_DEBUG"):
            raise
        from detectors.recovery import crash_exit

        raise SystemExit(crash_exit(error)) from None


if __name__ == "__main__":
    main()

"""The `sleuth` command line: one module per command group, typed Typer options, thin over the Python API.

`cli.main:main` is the entry point. Commands that need the lab (bench, train, generate, demo) import it lazily
and say so when it is not installed (it is not part of the wheel).
"""

"""The one error the remote sources raise (a leaf module, so the source modules do not import their package)."""

from __future__ import annotations

__all__ = ["SourceError"]


class SourceError(Exception):
    """A source could not be read; `str(e)` is one line naming the source and what to change."""

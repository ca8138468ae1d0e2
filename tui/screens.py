"""Modal screens: the help (every binding, read from the widgets themselves) and a line's context in its file."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

QUERY_HELP = """\
Filter bar (f): terms separated by spaces, applied live as you type —
  REGEX            keep lines that match (all lower case = case-insensitive)
  -REGEX  !REGEX   drop lines that match          "a b"  quote a regex with spaces
  level:warn       WARN and above (trace debug info warn error fatal)
  host:db-01,web   these hosts (prefixes work)      service:api,db  these services
  after:03:10  before:2026-11-23T04:00            a time range (HH:MM or ISO)
  anomalous        only lines the detector flagged
Search (/): a regex; ] and [ go to the next / previous match."""


def _keys(binding: BindingType) -> tuple[str, str]:
    if isinstance(binding, Binding):
        return binding.key, binding.description
    key, _action, *rest = binding
    return key, rest[0] if rest else ""


_KEY_NAMES = {"question_mark": "?", "slash": "/", "right_square_bracket": "]", "left_square_bracket": "[",
              "space": "space", "escape": "esc"}


def _pretty(key: str) -> str:
    key = _KEY_NAMES.get(key, key)
    return key.replace("ctrl+", "^").replace("shift+", "⇧")


def binding_rows(sections: Iterable[tuple[str, Iterable[BindingType]]]) -> list[tuple[str, str, str]]:
    """(section, keys, description) for every binding with a description, keys made readable."""
    rows = []
    for section, bindings in sections:
        for b in bindings:
            keys, desc = _keys(b)
            if not desc:
                continue
            pretty = " ".join(_pretty(k.strip()) for k in keys.split(","))
            rows.append((section, pretty, desc))
    return rows


class HelpScreen(ModalScreen[None]):
    """Every key binding of the app and its panes, and the filter syntax. Escape or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "dismiss", "Close help")]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        & > VerticalScroll {
            width: 90%; max-width: 100; height: 90%;
            border: round $accent; background: $surface; padding: 0 1;
        }
    }
    """

    def __init__(self, sections: list[tuple[str, Iterable[BindingType]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=True, header_style="bold", expand=True, pad_edge=False)
        table.add_column("where", style="dim", no_wrap=True)
        table.add_column("keys", style="bold cyan", no_wrap=True)
        table.add_column("does")
        last = None
        for section, keys, desc in binding_rows(self.sections):
            table.add_row(section if section != last else "", keys, desc)
            last = section
        with VerticalScroll() as scroll:
            scroll.border_title = "sleuth triage — keys (escape to close)"
            yield Static(table)
            yield Static(Text(QUERY_HELP, style="italic"))

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)


class ContextScreen(ModalScreen[str | None]):
    """The lines around one line in its own file (not the merged view). Enter jumps there; escape closes."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,c", "close", "Close"), Binding("enter", "close", "Close")]

    DEFAULT_CSS = """
    ContextScreen {
        align: center middle;
        & > VerticalScroll {
            width: 95%; height: 85%;
            border: round $accent; background: $surface; padding: 0 1;
        }
    }
    """

    def __init__(self, source: str, lines: list[tuple[int, str, bool]]) -> None:
        super().__init__()
        self.source = source
        self.lines = lines

    def compose(self) -> ComposeResult:
        text = Text(no_wrap=True, overflow="ellipsis")
        width = len(str(self.lines[-1][0])) if self.lines else 1
        for n, line, focus in self.lines:
            style = "reverse" if focus else ""
            text.append(f"{n:>{width}} ", "dim")
            text.append(line + "\n", style)
        with VerticalScroll() as scroll:
            scroll.border_title = f"context: {self.source}"
            yield Static(text)

    def action_close(self) -> None:
        self.dismiss(None)

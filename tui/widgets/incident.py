"""The incident on top: the engine's strongest incident (title, onset, impact) and its chain, one step a row.

The content is the incident engine's `Triage.to_dict()["incidents"]` (detectors.incidents), as the audit report
carries it. Enter on a step (or a click) jumps the log view to its `file:line`; `i` focuses the list.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from detectors.terminal import visible
from tui.messages import JumpTo

_ROLE_STYLE = {"cause": "bold red", "propagation": "dark_orange", "symptom": "magenta"}
_CONF_STYLE = {"high": "bold red", "medium": "dark_orange", "low": "yellow"}
MAX_STEPS = 6  # chain rows shown (the rest are one `…` row: the report has them all)


def _hms(ts: Any, dated: bool = False) -> str:
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC).strftime("%m-%d %H:%M:%S" if dated else "%H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):
        return "--:--:--"


def _clean(text: Any, limit: int = 300) -> str:
    return visible(str(text or ""), limit=limit, newlines=False)


def _cut(text: str, width: int) -> str:
    """`text` in exactly `width` cells (cut with …)."""
    return text[: width - 1] + "…" if len(text) > width else text.ljust(width)


class IncidentPanel(OptionList):
    """The strongest incident and its chain; enter jumps to a step's line."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.focus_log", "Back to the log", show=False)]

    DEFAULT_CSS = """
    IncidentPanel {
        height: auto;
        max-height: 8;
        border: round $error 60%;
        border-title-color: $text;
        border-title-style: bold;
        padding: 0;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        &:focus { border: round $accent; }
        &.-none { border: round $panel; max-height: 3; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.incidents: list[dict[str, Any]] = []
        self.border_title = "incident"
        self.add_option(Option(Text("the incident engine runs with the audit…", "dim"), disabled=True))

    def show_incidents(self, incidents: list[dict[str, Any]], notes: list[str] | None = None, *,
                       dated: bool = False) -> None:
        """Show the strongest incident (and how many others there are); `dated`: the logs cover several days, so
        times carry the date (as do a chain's that crosses midnight)."""
        self.incidents = list(incidents)
        self.clear_options()
        if not incidents:
            self.add_class("-none")
            self.border_title = "no incident"
            why = "nothing changed together across the logs" + (f" · {_clean(notes[0], 120)}" if notes else "")
            self.add_option(Option(Text(why, "dim"), disabled=True))
            return
        self.remove_class("-none")
        inc = incidents[0]
        more = f" (+{len(incidents) - 1} more)" if len(incidents) > 1 else ""
        conf = str(inc.get("confidence") or "")
        chain = list(inc.get("chain") or [])
        days = {int(float(s["ts"]) // 86_400) for s in chain if isinstance(s.get("ts"), int | float)}
        dated = dated or len(days) > 1
        self.border_title = (f"{inc.get('id', 'I1')} · {conf} confidence · onset "
                             f"{_hms(inc.get('onset_ts'), dated)}{more}")
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(f"{conf:<6} ", _CONF_STYLE.get(conf, ""))
        title.append(_clean(inc.get("title"), 400), "bold")
        self.add_option(Option(title, id="title", disabled=True))
        impact = (inc.get("impact") or {}).get("summary")
        if impact:
            self.add_option(Option(Text.assemble(("impact ", "dim"), _clean(impact, 300)), id="impact", disabled=True))
        for k, step in enumerate(chain[:MAX_STEPS]):
            role = str(step.get("role") or "")
            where = str(step.get("where") or f"{step.get('file')}:{step.get('line')}")
            row = Text(no_wrap=True, overflow="ellipsis")
            row.append(f"{k + 1}. {role:<12}", _ROLE_STYLE.get(role, ""))
            row.append(f"{_hms(step.get('ts'), dated)} ", "dim")
            row.append(_cut(_clean(step.get("host") or step.get("service") or "-"), 12) + " ", "cyan")
            row.append(_cut(_clean(step.get("change")), 10) + " ", "dim")
            row.append(_clean(step.get("text"), 300))
            row.append(f"  {where.rsplit('/', 1)[-1]}", "cyan underline")
            self.add_option(Option(row, id=f"step:{where}"))
        if len(chain) > MAX_STEPS:
            self.add_option(Option(Text(f"   … {len(chain) - MAX_STEPS} more steps in the report", "dim"),
                                   disabled=True))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        oid = event.option.id or ""
        if oid.startswith("step:"):
            event.stop()
            self.post_message(JumpTo(oid[5:]))

    def window(self) -> tuple[float, float] | None:
        """The strongest incident's time window (onset, end), when it has one."""
        if not self.incidents:
            return None
        inc = self.incidents[0]
        try:
            start = float(inc["onset_ts"])
        except (KeyError, TypeError, ValueError):
            return None
        try:
            end = float(inc.get("end_ts") or start)
        except (TypeError, ValueError):
            end = start
        return start, max(end, start)

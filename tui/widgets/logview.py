"""The virtualised log view: draws only the visible rows, reading each line's text by offset when it is drawn.

The widget never holds the lines. Its height is the number of rows in the model's view; `render_line(y)` asks the
model for the text of row `scroll_y + y`, so opening a 1M-line file costs one offset index, not a million widgets.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.events import Click, MouseScrollDown, MouseScrollUp
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from detectors.saferegex import compile_user
from tui.logindex import LogModel
from tui.messages import CursorMoved

_GUTTER = 2  # the score marker and a space
_LEVEL_SHORT = {"ERROR": "ERR", "FATAL": "FATL", "DEBUG": "DBG", "TRACE": "TRC"}


def _fit(text: str, width: int) -> str:
    """`text` in exactly `width` cells: cut with … when longer, padded when shorter."""
    return text[: width - 1] + "…" if len(text) > width else text.ljust(width)


class LogView(ScrollView, can_focus=True):
    """All sources' lines, merged by time; anomalous lines tinted by score; a cursor line; search matches marked."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False),
        Binding("pagedown,ctrl+f,space", "page(1)", "Page down", show=False),
        Binding("home,g", "first", "First line", show=False),
        Binding("end,G", "last", "Last line", show=False),
        Binding("left,h", "pan(-8)", "Scroll left", show=False),
        Binding("right,l", "pan(8)", "Scroll right", show=False),
        Binding("v", "toggle_raw", "Raw lines / message first", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "logview--cursor",
        "logview--low",
        "logview--medium",
        "logview--high",
        "logview--match",
        "logview--source",
        "logview--error",
        "logview--warn",
    }

    DEFAULT_CSS = """
    LogView {
        background: $surface;
        color: $foreground;
        scrollbar-size-vertical: 1;
        scrollbar-size-horizontal: 0;  /* h / l pan; a scrollbar row is too dear at 24 lines */
        &:focus { background-tint: $foreground 3%; }
        & > .logview--cursor { background: $accent 40%; }
        & > .logview--low { color: $warning; }
        & > .logview--medium { color: $warning; background: $warning 15%; }
        & > .logview--high { color: $error; background: $error 20%; text-style: bold; }
        & > .logview--match { background: $success 45%; text-style: bold; }
        & > .logview--source { color: $text-muted; }
        & > .logview--error { color: $error; }
        & > .logview--warn { color: $warning; }
    }
    """

    cursor: reactive[int] = reactive(0, repaint=False, always_update=True)

    def __init__(self, model: LogModel, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.model = model
        self.highlight: Any = None  # the search pattern, marked in visible lines
        self.tail = False  # follow mode is on (the app polls the files)
        self.follow = False  # keep the cursor on the last line as lines arrive (off while the user looks up)
        self._cache: OrderedDict[tuple[int, ...], Strip] = OrderedDict()
        self._styles: dict[str, Style] = {}
        self._width = 80
        self.raw = False  # draw lines as written instead of message-first

    # -- size and refresh -------------------------------------------------------------------------------------

    def rows_changed(self, keep_base_row: int | None = None) -> None:
        """The model's view changed (indexing, filter, audit, follow): resize, keep the cursor on the same line."""
        self._cache.clear()
        widest = 0
        for s in self.model.sources:
            if s.lines:
                widest = max(widest, int(min((s.bounds[1:] - s.bounds[:-1]).max(), 1000)))
        self._width = max(widest + _GUTTER, 10)
        self.virtual_size = Size(self._width, len(self.model))
        if self.follow and len(self.model):
            self.cursor = len(self.model) - 1
        elif keep_base_row is not None:
            y = self.model.view_pos(keep_base_row)
            self.cursor = y if y is not None else 0
        else:
            self.cursor = min(self.cursor, max(len(self.model) - 1, 0))
        self.refresh()

    def current_base_row(self) -> int | None:
        """The base row under the cursor (None when the view is empty)."""
        if not len(self.model):
            return None
        return self.model.base_row(min(self.cursor, len(self.model) - 1))

    def set_highlight(self, pattern: str | None) -> None:
        """Mark matches of `pattern` (smart case) in the visible lines."""
        if pattern:
            try:
                self.highlight = compile_user(pattern, ignore_case=not any(c.isupper() for c in pattern))
            except re.error:
                self.highlight = None
        else:
            self.highlight = None
        self._cache.clear()
        self.refresh()

    # -- cursor ---------------------------------------------------------------------------------------------

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self.model) - 1)) if len(self.model) else 0

    def set_tail(self, on: bool) -> None:
        """Follow mode on or off; on, the cursor goes to (and stays on) the last line."""
        self.tail = self.follow = on
        if on and len(self.model):
            self.cursor = len(self.model) - 1

    def _user_moved(self) -> None:
        # Looking back up pauses the auto-scroll; going to the end (G) resumes it.
        self.follow = self.tail and self.cursor >= len(self.model) - 1

    def watch_cursor(self, old: int, new: int) -> None:
        top = int(self.scroll_offset.y)
        self.scroll_to_cursor()
        if int(self.scroll_offset.y) == top:  # only the two lines whose cursor state changed need drawing
            self.refresh_lines(old)
            self.refresh_lines(new)
        else:
            self.refresh()
        self.post_message(CursorMoved(new))

    def scroll_to_cursor(self, center: bool = False) -> None:
        """Scroll so the cursor line is visible (centred when asked, e.g. after a jump)."""
        height = self.scrollable_content_region.height or self.size.height or 1
        top = int(self.scroll_offset.y)
        y = self.cursor
        if center:
            target = max(0, y - height // 2)
        elif y < top:
            target = y
        elif y >= top + height:
            target = y - height + 1
        else:
            return
        self.scroll_to(y=target, animate=False, immediate=True)
        self.refresh()

    def jump(self, y: int) -> None:
        """Put the cursor on view position `y`, centred."""
        self.cursor = y
        self._user_moved()
        self.scroll_to_cursor(center=True)

    def action_cursor(self, delta: int) -> None:
        """Move the cursor by `delta` lines."""
        self.cursor = self.cursor + delta
        self._user_moved()

    def action_page(self, direction: int) -> None:
        """Move the cursor by a page."""
        height = max(self.scrollable_content_region.height, 1)
        self.cursor = self.cursor + direction * height
        self._user_moved()

    def action_first(self) -> None:
        """Go to the first line."""
        self.cursor = 0
        self._user_moved()

    def action_last(self) -> None:
        """Go to the last line."""
        self.cursor = len(self.model) - 1
        self._user_moved()

    def action_pan(self, dx: int) -> None:
        """Scroll sideways."""
        self.scroll_to(x=max(0, self.scroll_offset.x + dx), animate=False)

    def _on_mouse_scroll_down(self, event: MouseScrollDown) -> None:
        self.cursor = min(self.cursor + 3, len(self.model) - 1)
        self._user_moved()
        event.stop()
        event.prevent_default()

    def _on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        self.cursor = max(self.cursor - 3, 0)
        self._user_moved()
        event.stop()
        event.prevent_default()

    def on_click(self, event: Click) -> None:
        """Click a line to put the cursor on it."""
        self.cursor = int(self.scroll_offset.y) + event.y
        self._user_moved()

    # -- drawing --------------------------------------------------------------------------------------------

    def _band(self, score: float) -> int:
        t = self.model.threshold
        if not score or score < t or math.isnan(t):
            return 0
        base = abs(t) if t else 1.0
        excess = (score - t) / base
        return 3 if excess >= 2.0 else 2 if excess >= 0.5 else 1

    def _style(self, name: str) -> Style:
        """A component style, cached until the CSS or theme changes (looking styles up per line is slow)."""
        style = self._styles.get(name)
        if style is None:
            style = self.rich_style if name == "" else self.get_component_rich_style(name)
            self._styles[name] = style
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._cache.clear()

    def render_line(self, y: int) -> Strip:
        """Draw one visible row: the score marker, then the visible part of the line."""
        scroll_x, scroll_y = self.scroll_offset
        pos = scroll_y + y
        width = self.scrollable_content_region.width
        if pos >= len(self.model):
            return Strip.blank(width, self._style(""))
        band = self._band(self.model.score(pos))
        key = (pos, int(self.model.base_row(pos)), pos == self.cursor, band, scroll_x, width, self.raw,
               self.model.columns is not None)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._draw(pos, band, scroll_x, width)
            self._cache[key] = strip
            if len(self._cache) > 400:
                self._cache.popitem(last=False)
        return strip

    def header_widths(self, width: int) -> tuple[int, int, int, int]:
        """Widths of the header columns (time, source, host, level) for a pane `width` cells wide; 0 = not shown.
        The message gets the rest: the columns shrink in narrow panes, and the source column only appears when
        several files are merged."""
        m = self.model
        narrow = width < 90
        src_w = 0
        if len(m.sources) > 1:
            src_w = min(6 if narrow else 10, max(len(s.name.rsplit("/", 1)[-1]) for s in m.sources))
        hosts = m.columns.hosts if m.columns is not None else []
        longest = max((len(h) for h in hosts if h), default=0)
        host_w = min(8 if narrow else 12, longest) if longest else (8 if narrow else 10)
        time_w = 14 if m.multi_day else 8  # "06-30 20:53:04" when the lines cover several days
        return time_w, src_w, host_w, 4

    def _draw(self, pos: int, band: int, scroll_x: int, width: int) -> Strip:
        base = self._style("")
        time_s, src, host, level, message, continuation = ("", "", "", "", self.model.text(pos), True)
        if not self.raw:
            time_s, src, host, level, message, continuation = self.model.parsed(pos)
        line_style = base
        if band:
            line_style = base + self._style(("", "logview--low", "logview--medium", "logview--high")[band])
        elif level in ("ERROR", "FATAL") or (self.raw and ("ERROR" in message[:40] or "FATAL" in message[:40])):
            line_style = base + self._style("logview--error")
        elif level == "WARN" or (self.raw and "WARN" in message[:40]):
            line_style = base + self._style("logview--warn")
        if pos == self.cursor:
            line_style = line_style + self._style("logview--cursor")
        muted = line_style + self._style("logview--source")
        marker = ("", "▎", "▌", "█")[band] or " "
        head = [Segment(marker, line_style if band else muted), Segment(" ", line_style)]
        if not self.raw:
            tw, sw, hw, lw = self.header_widths(width)
            cells = [(time_s, tw, muted), (src, sw, muted), (host, hw, muted), (_LEVEL_SHORT.get(level, level), lw,
                                                                                  line_style)]
            if continuation:
                cells = [("", tw, muted), ("", sw, muted), ("", hw, muted), ("", lw, muted)]
            for text, w, style in cells:
                if w:
                    head.append(Segment(_fit(text, w) + " ", style))
        head_w = sum(len(seg.text) for seg in head)
        room = max(width - head_w, 1)
        cut = scroll_x + room + 8  # a little past the edge, for wide characters
        segments: list[Segment] = []
        text = ("  " + message) if continuation and not self.raw else message
        if self.highlight is not None and text:
            match_style = line_style + self._style("logview--match")
            at = 0
            for m in self.highlight.finditer(text):
                if m.start() >= cut:
                    break
                if m.end() == m.start():
                    continue
                segments.append(Segment(text[at:m.start()], line_style))
                segments.append(Segment(text[m.start():m.end()], match_style))
                at = m.end()
            segments.append(Segment(text[at:cut], line_style))
        else:
            segments.append(Segment(text[:cut], line_style))
        body = Strip(segments).crop_extend(scroll_x, scroll_x + room, line_style)
        return Strip.join([Strip(head, head_w), body]).crop_extend(0, width, line_style)

    def action_toggle_raw(self) -> None:
        """Show the lines as written (raw) or message-first with the parsed header in columns."""
        self.raw = not self.raw
        self._cache.clear()
        self.refresh()

    def on_resize(self) -> None:
        self._cache.clear()


__all__ = ["LogView", "Style"]

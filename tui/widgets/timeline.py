"""The anomaly timeline: one cell per time bucket, its height the bucket's highest line score; pick one to jump."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.events import Click
from textual.reactive import reactive
from textual.widget import Widget

from tui.logindex import LogModel
from tui.messages import BucketSelected

_BARS = " ▁▂▃▄▅▆▇█"


class Timeline(Widget, can_focus=True):
    """A sparkline of anomaly scores over time. ←/→ pick a bucket, enter (or a click) jumps the log view there."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "move(-1)", "Earlier", show=False),
        Binding("right,l", "move(1)", "Later", show=False),
        Binding("enter", "select", "Jump to bucket", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {"timeline--normal", "timeline--anomalous", "timeline--here", "timeline--picked"}

    DEFAULT_CSS = """
    Timeline {
        height: 3;
        border: round $panel;
        border-title-color: $text-muted;
        padding: 0 0;
        &:focus { border: round $accent; }
        & > .timeline--normal { color: $success 70%; }
        & > .timeline--anomalous { color: $error; }
        & > .timeline--here { background: $accent 40%; }
        & > .timeline--picked { background: $accent; }
    }
    """

    picked: reactive[int] = reactive(-1)
    here: reactive[int] = reactive(-1)  # the bucket of the log view's cursor

    def __init__(self, model: LogModel, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self.peaks = np.zeros(0)
        self.firsts = np.zeros(0, np.int64)
        self.border_title = "timeline"

    @property
    def buckets(self) -> int:
        """How many buckets fit: one per cell."""
        return max(self.content_region.width, 1)

    def recompute(self) -> None:
        """Re-bucket the model's view (after the audit, a filter, or a resize)."""
        self.peaks, self.firsts = self.model.buckets(self.buckets)
        t = self.model.threshold
        flagged = int((self.peaks >= t).sum()) if np.isfinite(t) else 0
        self.border_title = "timeline" + (f" · {flagged} flagged buckets" if flagged else "")
        self.refresh()

    def on_resize(self) -> None:
        self.recompute()

    def follow_cursor(self, y: int) -> None:
        """Mark the bucket the log view's cursor is in."""
        self.here = self.model.bucket_of(y, self.buckets) if len(self.model) else -1

    def render(self) -> Text:
        n = self.buckets
        if len(self.peaks) != n:
            self.peaks, self.firsts = self.model.buckets(n)
        t = self.model.threshold
        if self.model.columns is None:
            return Text("waiting for the audit…", style=self.get_component_rich_style("timeline--normal"))
        top = float(self.peaks.max()) if len(self.peaks) else 0.0
        scale = max(top, t if np.isfinite(t) else 0.0, 1e-9)
        normal = self.get_component_rich_style("timeline--normal")
        bad = self.get_component_rich_style("timeline--anomalous")
        here = self.get_component_rich_style("timeline--here")
        picked = self.get_component_rich_style("timeline--picked")
        text = Text(no_wrap=True, overflow="crop")
        for i, v in enumerate(self.peaks):
            level = 0 if self.firsts[i] < 0 else max(1, round(v / scale * (len(_BARS) - 1)))
            style = bad if v >= t else normal
            if i == self.picked:
                style = style + picked
            elif i == self.here:
                style = style + here
            text.append(_BARS[level], style)
        return text

    def action_move(self, delta: int) -> None:
        """Pick the previous/next non-empty bucket."""
        start = self.picked if self.picked >= 0 else max(self.here, 0)
        i = start + delta
        while 0 <= i < len(self.firsts) and self.firsts[i] < 0:
            i += delta
        if 0 <= i < len(self.firsts):
            self.picked = i

    def action_select(self) -> None:
        """Jump the log view to the picked bucket."""
        i = self.picked if self.picked >= 0 else self.here
        if 0 <= i < len(self.firsts) and self.firsts[i] >= 0:
            self.post_message(BucketSelected(i, int(self.firsts[i])))

    def on_click(self, event: Click) -> None:
        """Click a bucket to jump there."""
        i = event.x - 1  # x counts from the widget's edge; the border takes one cell
        i = max(0, min(i, len(self.firsts) - 1))
        # Empty buckets jump to the next non-empty one.
        while i < len(self.firsts) and self.firsts[i] < 0:
            i += 1
        if i < len(self.firsts):
            self.picked = i
            self.post_message(BucketSelected(i, int(self.firsts[i])))

"""The metrics charts (textual-plotext): one chart per series, stacked, on a shared time axis (HH:MM UTC), with
the incident's window and the log cursor's time marked."""

from __future__ import annotations

from datetime import UTC, datetime

from textual.containers import VerticalScroll
from textual.widgets import Static
from textual_plotext import PlotextPlot

from tui.metrics import Series

MAX_CHARTS = 12  # charts drawn; more series are named below them


def _hm(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M")


class SeriesChart(PlotextPlot):
    """One series against time, its own y scale; unusual points as red x; the incident window between two red
    lines; the cursor's time as a blue line."""

    DEFAULT_CSS = """
    SeriesChart { height: 9; min-height: 6; }
    """

    def __init__(self, series: Series, span: tuple[float, float]) -> None:
        super().__init__()
        self.series = series
        self.span = span
        self.window: tuple[float, float] | None = None
        self.cursor_ts: float | None = None

    def on_mount(self) -> None:
        self.draw()

    def draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        s = self.series
        t0, t1 = self.span
        x = s.ts.astype(float).tolist()
        plt.plot(x, s.values.astype(float).tolist(), marker="braille", color="green")
        if len(s.marked):
            plt.scatter([x[i] for i in s.marked], [float(s.values[i]) for i in s.marked], color="red", marker="x")
        if self.window is not None:
            lo, hi = self.window
            plt.vline(lo, "red")
            if hi > lo:
                plt.vline(hi, "red")
        if self.cursor_ts is not None and t0 <= self.cursor_ts <= t1:
            plt.vline(self.cursor_ts, "blue")
        ticks = [t0 + (t1 - t0) * k / 4 for k in range(5)]
        plt.xlim(t0, t1)
        plt.xticks(ticks, [_hm(t) for t in ticks])
        plt.title(s.name)
        self.refresh()


class MetricsChart(VerticalScroll):
    """Every metric series in its own chart, stacked (scroll for more), sharing the time axis."""

    DEFAULT_CSS = """
    MetricsChart { height: 1fr; }
    MetricsChart > .metrics-note { height: auto; color: $text-muted; padding: 0 1; }
    """

    def __init__(self, series: list[Series] | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series: list[Series] = list(series or [])
        self.window: tuple[float, float] | None = None  # the incident's (onset, end), epoch seconds
        self.cursor_ts: float | None = None  # the log cursor's time

    def on_mount(self) -> None:
        self.draw()

    def set_series(self, series: list[Series]) -> None:
        """Replace the series and redraw."""
        self.series = list(series)
        self.draw()

    def mark(self, window: tuple[float, float] | None = None, cursor_ts: float | None = None) -> None:
        """Mark the incident window and/or the cursor's time (None keeps what is there)."""
        if window is not None:
            self.window = window
        if cursor_ts is not None and cursor_ts == cursor_ts:
            self.cursor_ts = cursor_ts
        for chart in self.query(SeriesChart):
            if (chart.window, chart.cursor_ts) != (self.window, self.cursor_ts):
                chart.window, chart.cursor_ts = self.window, self.cursor_ts
                chart.draw()

    def draw(self) -> None:
        """(Re)build one chart per series."""
        self.remove_children()
        shown = [s for s in self.series if len(s.ts)]
        if not shown:
            self.mount(Static("no metrics (pass --metrics FILE)", classes="metrics-note"))
            return
        span = (min(float(s.ts.min()) for s in shown), max(float(s.ts.max()) for s in shown))
        if span[1] <= span[0]:
            span = (span[0], span[0] + 60.0)
        charts = []
        for s in shown[:MAX_CHARTS]:
            chart = SeriesChart(s, span)
            chart.window, chart.cursor_ts = self.window, self.cursor_ts
            charts.append(chart)
        note = (f"{len(shown)} series, time in UTC; red x = unusual point, red lines = the incident's window, "
                "blue line = the log cursor's time")
        if len(shown) > MAX_CHARTS:
            note += f"; not drawn: {', '.join(s.name for s in shown[MAX_CHARTS:])}"
        self.mount(Static(note, classes="metrics-note"), *charts)

"""The metrics chart (textual-plotext): each series over time, unusual points marked."""

from __future__ import annotations

from datetime import UTC, datetime

from textual_plotext import PlotextPlot

from tui.metrics import Series


class MetricsChart(PlotextPlot):
    """Metric series against time (minutes from the first point), with marked points as red dots."""

    DEFAULT_CSS = """
    MetricsChart { height: 1fr; min-height: 6; }
    """

    def __init__(self, series: list[Series] | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series: list[Series] = list(series or [])

    def on_mount(self) -> None:
        self.draw()

    def set_series(self, series: list[Series]) -> None:
        """Replace the series and redraw."""
        self.series = list(series)
        self.draw()

    def draw(self) -> None:
        """Plot every series (x in minutes since the first point)."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if not self.series:
            plt.title("no metrics (pass --metrics FILE)")
            self.refresh()
            return
        t0 = min(float(s.ts.min()) for s in self.series if len(s.ts))
        start = datetime.fromtimestamp(t0, tz=UTC).strftime("%Y-%m-%d %H:%M")
        for s in self.series:
            x = ((s.ts - t0) / 60.0).tolist()
            plt.plot(x, s.values.tolist(), label=s.name, marker="braille")
            if len(s.marked):
                plt.scatter([x[i] for i in s.marked], [float(s.values[i]) for i in s.marked], color="red", marker="x")
        plt.title(f"minutes since {start} UTC; x = unusual point")
        self.refresh()

"""The anomalies list and the evidence panel for the selected anomaly (detector, score vs threshold, why, links)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from detectors.terminal import visible
from tui.messages import JumpTo

if TYPE_CHECKING:
    from detectors.report import Anomaly

_SEVERITY_STYLE = {"high": "bold red", "medium": "dark_orange", "low": "yellow", "none": "dim"}


def score_bar(score: float, threshold: float, width: int = 16) -> Text:
    """`score` as a bar with the threshold marked (│) on a scale up to the larger of 2×threshold and the score."""
    top = max(score, 2 * threshold, 1e-9)
    filled = round(min(score, top) / top * width)
    mark = min(round(threshold / top * width), width - 1)
    bar = Text()
    for i in range(width):
        ch = "█" if i < filled else "░"
        if i == mark:
            ch = "│" if i >= filled else "┃"
        bar.append(ch, "red" if i < filled and score >= threshold else "green" if i < filled else "dim")
    return bar


class AnomalyList(OptionList):
    """The ranked anomalies (A1, A2, …); enter jumps the log view to the anomaly's line."""

    DEFAULT_CSS = """
    AnomalyList { height: 1fr; min-height: 3; border: none; padding: 0; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def show(self, anomalies: list[Anomaly]) -> None:
        """List `anomalies`, best first."""
        self.clear_options()
        for a in anomalies:
            label = Text.assemble((f"{a.id:<4}", "bold"), (f"{a.severity:<7}", _SEVERITY_STYLE.get(a.severity, "")),
                                  f"{a.score:>6.2f} ", (visible(a.where.rsplit('/', 1)[-1], limit=200, newlines=False), "cyan"), "  ",
                                  (visible(a.template, limit=300, newlines=False), "dim"), no_wrap=True, overflow="ellipsis")
            self.add_option(Option(label, id=a.id))
        if not anomalies:
            self.add_option(Option(Text("no anomalies at or above the threshold", "dim"), disabled=True))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            event.stop()
            self.post_message(JumpTo(event.option.id))


class EvidenceList(OptionList):
    """The evidence of one anomaly; enter follows its link (file:line) in the log view."""

    DEFAULT_CSS = """
    EvidenceList { height: 1fr; min-height: 3; border: none; padding: 0; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            event.stop()
            self.post_message(JumpTo(event.option.id))


class EvidencePanel(Vertical):
    """Anomalies list on top; below, the selected anomaly's verdict and its evidence list."""

    DEFAULT_CSS = """
    EvidencePanel {
        height: 1fr;
        & > #anomalies { height: 2fr; }
        & > #verdict { height: 5; padding: 0 1; background: $boost; overflow: hidden; }
        & > #evidence { height: 3fr; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: str | None = None  # the anomaly whose evidence is listed

    def compose(self) -> ComposeResult:
        yield AnomalyList(id="anomalies")
        yield Static("Select an anomaly (n / N in the log, or enter here) to see its evidence.", id="verdict")
        yield EvidenceList(id="evidence")

    def show_anomalies(self, anomalies: list[Anomaly]) -> None:
        """Fill the ranked list."""
        self.query_one(AnomalyList).show(anomalies)

    def show(self, anomaly: Anomaly | None, where: str | None = None, score: float | None = None,
             threshold: float | None = None) -> None:
        """Show `anomaly`'s verdict and evidence, or the line's own score when it has none."""
        verdict = self.query_one("#verdict", Static)
        evidence = self.query_one(EvidenceList)
        shown = anomaly.id if anomaly is not None else None
        same = shown == self._shown
        self._shown = shown
        if not same:
            evidence.clear_options()
        if anomaly is None:
            # The list marks the selected line's anomaly only: a stale mark would depend on how fast keys came.
            self.query_one(AnomalyList).highlighted = None
            if where is None:
                verdict.update("Select an anomaly (n / N in the log, or enter here) to see its evidence.", layout=False)
                return
            body = Text.assemble((where.rsplit("/", 1)[-1], "cyan"), "\n")
            if score is not None and threshold is not None and math.isfinite(threshold):
                body.append(f"line score {score:.2f} / threshold {threshold:.2f} ")
                body.append_text(score_bar(score, threshold, 8))
                body.append("\nnot in a flagged window" if score < threshold else "\nin a flagged window (unranked)")
            else:
                body.append("scores appear when the audit finishes", "dim")
            verdict.update(body, layout=False)
            return
        body = Text.assemble(
            (anomaly.id, "bold"), "  ", (anomaly.severity, _SEVERITY_STYLE.get(anomaly.severity, "")),
            f"  {anomaly.detector}\n",
            f"score {anomaly.score:.2f} / threshold {anomaly.threshold:.2f} ", score_bar(anomaly.score, anomaly.threshold, 8),
            "\n", (visible(anomaly.where.rsplit("/", 1)[-1], limit=200, newlines=False), "cyan"),
            f"  {(anomaly.time or '')[11:23]} {visible(anomaly.host, limit=100, newlines=False)}\n",
            # Log text: escape sequences in it would clear or garble the pane (issue 19), so shown as escapes.
            ("template: ", "dim"), (visible(anomaly.template or anomaly.text, limit=500, newlines=False), "italic"),
        )
        verdict.update(body, layout=False)
        if same:
            return
        ranked = self.query_one(AnomalyList)
        try:
            ranked.highlighted = ranked.get_option_index(anomaly.id)
        except Exception:  # noqa: BLE001 - an anomaly not in the list (e.g. a stale report) is just not marked
            pass
        for e in anomaly.evidence:
            label = Text.assemble((f"{e.id.split('.')[-1]:<4}", "bold"))
            if e.where:
                label.append(f"→ {visible(e.where.rsplit('/', 1)[-1], limit=200, newlines=False)} ", "cyan underline")
            label.append_text(Text.assemble((f"{e.kind} ", "magenta"), visible(e.summary, limit=500, newlines=False)))
            evidence.add_option(Option(label, id=e.id or None))
        if not anomaly.evidence:
            evidence.add_option(Option(Text("no itemised evidence: the window's score is the finding", "dim"),
                                       disabled=True))

"""The agent pane: ranked hypotheses, the streamed conversation, the last reply's citations (enter to jump), a prompt."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from detectors.terminal import visible
from tui.messages import JumpTo

_CONFIDENCE = {"high": "bold green", "medium": "yellow", "low": "dim"}


class CitationList(OptionList):
    """Ids cited in the agent's last reply (A1, A1.e2, file:line); enter jumps to the cited line."""

    DEFAULT_CSS = """
    CitationList { height: auto; max-height: 5; border: none; padding: 0; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            event.stop()
            self.post_message(JumpTo(event.option.id))


class HypothesisList(OptionList):
    """Ranked hypotheses; enter jumps to the first line of the hypothesis' evidence."""

    DEFAULT_CSS = """
    HypothesisList { height: auto; max-height: 5; border: none; padding: 0; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.targets: dict[str, str] = {}

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        target = self.targets.get(event.option.id or "")
        if target:
            event.stop()
            self.post_message(JumpTo(target))


class AgentPane(Vertical):
    """Ask about what is on screen; the reply streams in, citations become jump links."""

    DEFAULT_CSS = """
    AgentPane {
        height: 1fr;
        & > #hypotheses { background: $boost; }
        & > #transcript { height: 1fr; padding: 0 1; }
        & > #transcript > .question { color: $accent; text-style: bold; margin-top: 1; }
        & > #transcript > .answer { color: $foreground; }
        & > #transcript > .note { color: $text-muted; text-style: italic; }
        & > #ask { dock: bottom; }
    }
    """

    def __init__(self, note: str | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.note = note
        self._answer: Static | None = None
        self._text = ""
        self.busy = False

    def compose(self) -> ComposeResult:
        yield HypothesisList(id="hypotheses")
        with VerticalScroll(id="transcript"):
            yield Static(self.note or "Ask about the selected line or anomaly; the selection goes with the question.",
                         classes="note")
        yield CitationList(id="citations")
        yield Input(placeholder="ask the agent… (enter)", id="ask", compact=True)

    def show_hypotheses(self, hypotheses: list[dict[str, Any]]) -> None:
        """List ranked hypotheses: id, confidence, title."""
        hl = self.query_one(HypothesisList)
        hl.clear_options()
        hl.targets.clear()
        for h in hypotheses[:5]:
            hid = str(h.get("id", f"H{len(hl.targets) + 1}"))
            conf = str(h.get("confidence", ""))
            label = Text.assemble((f"{hid} ", "bold"), (f"{conf:<6} ", _CONFIDENCE.get(conf, "")),
                                  visible(h.get("title", ""), limit=500, newlines=False))
            hl.add_option(Option(label, id=hid))
            evidence = [str(e) for e in h.get("evidence", []) or h.get("anomalies", [])]
            if evidence:
                hl.targets[hid] = evidence[0]

    def begin(self, question: str) -> None:
        """Show the question and an empty answer that chunks stream into."""
        transcript = self.query_one("#transcript", VerticalScroll)
        transcript.mount(Static(Text("› " + visible(question, limit=None)), classes="question"))
        self._answer = Static("…", classes="answer")
        self._text = ""
        transcript.mount(self._answer)
        transcript.scroll_end(animate=False)
        self.busy = True

    def add_chunk(self, text: str) -> None:
        """Append a streamed piece of the reply."""
        self._text += text
        if self._answer is not None:
            self._answer.update(Text(visible(self._text, limit=None)))  # replies quote log text
            self.query_one("#transcript", VerticalScroll).scroll_end(animate=False)

    def finish(self, text: str, citations: list[str], error: str | None = None) -> None:
        """The turn is over: show the whole reply with citations marked, and list them for jumping."""
        self.busy = False
        if self._answer is not None:
            body = _mark_citations(text or self._text)
            if error:
                body.append(f"\n(agent error: {error})", "red")
            self._answer.update(body)
        cl = self.query_one(CitationList)
        cl.clear_options()
        for c in citations:
            cl.add_option(Option(Text.assemble(("↪ ", "dim"), (visible(c, limit=200, newlines=False), "cyan underline")), id=c))
        self.query_one("#transcript", VerticalScroll).scroll_end(animate=False)

    @property
    def transcript_text(self) -> str:
        """Everything shown in the transcript, as plain text (for tests and saving)."""
        parts = []
        for w in self.query("#transcript > Static"):
            content = w.content if hasattr(w, "content") else ""
            parts.append(str(content))
        return "\n".join(parts)


def _mark_citations(text: str) -> Text:
    """The reply with `[A1]`-style citations in the link colour."""
    import re

    text = visible(text, limit=None)  # escape sequences and bidi characters a log put in the reply, made visible
    out = Text()
    at = 0
    for m in re.finditer(r"\[[^\[\]\n]{1,200}\]", text):
        out.append(text[at:m.start()])
        out.append(m.group(0), "cyan")
        at = m.end()
    out.append(text[at:])
    return out

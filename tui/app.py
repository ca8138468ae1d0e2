"""`sleuth triage`: the terminal dashboard — logs, anomalies, evidence, metrics and the agent in one Textual app.

Start-up never waits on slow work: the sources are indexed in a worker (the first screenful draws after the first
chunk), then the audit runs in another worker with its progress in the status bar; filters and searches run in
workers that cancel each other as you type. Failures become notifications.

Run it as `sleuth triage PATH...` or `python -m tui.app PATH... [--metrics FILE] [--follow] [--session NAME]`.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from textual import on, work
from textual.app import App, ComposeResult, ScreenStackError
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Footer, Input, ProgressBar, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from tui.agent_bridge import AgentLike, EvidenceAgent, citations, connect_agent
from tui.logindex import (
    LogModel,
    QueryError,
    Source,
    expand,
    index_source,
    parse_query,
    sources_label,
)
from tui.messages import (
    AgentChunk,
    AgentDone,
    AuditFailed,
    AuditProgress,
    AuditReady,
    BucketSelected,
    CursorMoved,
    FilterReady,
    JumpTo,
    SearchReady,
)
from tui.screens import ContextScreen, HelpScreen
from tui.widgets.agent_pane import AgentPane
from tui.widgets.evidence import EvidencePanel
from tui.widgets.incident import IncidentPanel
from tui.widgets.logview import LogView
from tui.widgets.timeline import Timeline

PROGRESS_EVERY_S = 0.1  # the audit's progress hook posts at most this often
FOLLOW_EVERY_S = 0.5  # follow mode polls the files this often
SELECTION_DELAY_S = 0.06  # the evidence panel updates this long after the cursor stops moving


class TriageCommands(Provider):
    """Command palette entries: jump to an anomaly, toggle follow, themes, panes, re-run the audit."""

    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        app = self.app
        assert isinstance(app, TriageApp)
        cmds: list[tuple[str, Callable[[], Any], str]] = [
            ("Next anomaly", app.action_next_anomaly, "n"),
            ("Previous anomaly", app.action_prev_anomaly, "N"),
            ("Filter lines", app.action_focus_filter,
             'f: words, "a phrase", -drop, status:503, field:value, level:, host:, after:, before:, anomalous'),
            ("Incident chain", app.action_focus_incident, "i: the incident's steps; enter jumps to one"),
            ("Search", app.action_focus_search, "/"),
            ("Toggle follow (tail) mode", app.action_toggle_follow, "F"),
            ("Toggle light / dark theme", app.action_toggle_theme, "d"),
            ("Show the line's context in its file", app.action_context, "c"),
            ("Ask the agent", app.action_focus_agent, "a"),
            ("Show evidence", app.action_show_evidence, "e"),
            ("Show metrics", app.action_show_metrics, "m"),
            ("Toggle the side panel", app.action_toggle_side, "s"),
            ("Re-run the audit", app.action_reaudit, "r"),
            ("Only anomalous lines", lambda: app.set_filter("anomalous"), "filter: anomalous"),
            ("Clear the filter", lambda: app.set_filter(""), ""),
            ("Help: every key", app.action_help, "?"),
        ]
        for a in app.model.anomalies:
            cmds.append((f"Go to {a.id}: {a.severity} at {a.where}", lambda aid=a.id: app.jump_to(aid),
                         (a.template or a.text or "")[:80]))
        return cmds

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


class StatusBar(Horizontal):
    """One line: where the cursor is, rows shown / total, follow mode, and the progress of slow work."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        & > #status { width: 1fr; height: 1; padding: 0 1; color: $foreground; }
        & > ProgressBar { width: 30; height: 1; }
        & > ProgressBar.-hidden { display: none; }
        & Bar { width: 1fr; }
    }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="status")
        yield ProgressBar(total=100, show_eta=False, id="progress")


class TriageApp(App[None]):
    """The triage dashboard.

    Args:
        paths: Log files, .gz files or directories.
        metrics: Metric CSV files for the chart.
        follow: Start in follow (tail) mode.
        session: Reopen (or start) the agent session of this name.
        agent: The agent to talk to (default: the real one if it can start, else the evidence-only fallback);
            tests pass a scripted one.
        audit_options: How the audit runs (`detectors.pipeline.AuditOptions`); None uses the defaults.
        run_audit: Run the audit after indexing (benchmarks can turn it off).
        settings: The agent's resolved settings, passed by the CLI.
        audit_fn: What runs the audit (default `detectors.pipeline.audit`); tests pass `tui.testing.truth_audit`.
    """

    CSS_PATH = "app.tcss"
    TITLE = "sleuth triage"
    AUTO_FOCUS = "#log"
    COMMANDS = App.COMMANDS | {TriageCommands}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("n", "next_anomaly", "Next (ranked)"),
        Binding("N,shift+n", "prev_anomaly", "Prev (ranked)", key_display="N"),
        Binding("i", "focus_incident", "Incident"),
        Binding("f", "focus_filter", "Filter"),
        Binding("slash", "focus_search", "Search"),
        Binding("right_square_bracket", "search_next", "Next match", show=False),
        Binding("left_square_bracket", "search_prev", "Prev match", show=False),
        Binding("c", "context", "Context", show=False),
        Binding("e", "show_evidence", "Evidence", show=False),
        Binding("a", "focus_agent", "Ask agent"),
        Binding("m", "show_metrics", "Metrics", show=False),
        Binding("t", "focus_timeline", "Timeline", show=False),
        Binding("F,shift+f", "toggle_follow", "Follow", show=False),
        Binding("d", "toggle_theme", "Light/dark", show=False),
        Binding("s", "toggle_side", "Side panel", show=False),
        Binding("r", "reaudit", "Re-run audit", show=False),
        Binding("escape", "focus_log", "Back to log", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, paths: Sequence[str], metrics: Sequence[str] = (), *, follow: bool = False,
                 session: str | None = None, agent: AgentLike | None = None, audit_options: Any = None,
                 run_audit: bool = True, settings: Any = None, audit_fn: Callable[..., Any] | None = None) -> None:
        super().__init__()
        self.paths = [str(p) for p in paths]
        self.metric_paths = [str(m) for m in metrics]
        self.session = session
        self.audit_options = audit_options
        self.want_audit = run_audit
        self.settings = settings
        self.audit_fn = audit_fn
        self.agent: AgentLike | None = agent
        self.agent_note: str | None = None
        self.model = LogModel()
        self.result: Any = None  # detectors.pipeline.AuditResult once the audit is done
        self.follow = follow
        self.search_pattern: str | None = None
        self.search_mask: np.ndarray | None = None
        self.filter_text = ""
        self.workdir = Path(tempfile.mkdtemp(prefix="sleuth-triage-"))
        self.first_paint_s: float | None = None  # seconds from start to the first lines drawn (for the bench)
        self.started = time.perf_counter()
        self.audit_state = "indexing"
        self._follow_timer: Any = None
        self._selection_timer: Any = None
        self._background: list[threading.Thread] = []
        self._closing = False
        self._rank = -1  # where `n` / `N` are in the ranking (incident chain, then anomalies)

    # -- layout ---------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="bar"):
            yield Input(placeholder='filter: words "a phrase" -drop status:503 level:warn host:db after:03:10  (f)',
                        id="filter", compact=True)
            yield Input(placeholder="search (/)", id="search", compact=True)
        yield IncidentPanel(id="incident")
        yield Timeline(self.model, id="timeline")
        with Horizontal(id="main"):
            yield LogView(self.model, id="log")
            with Vertical(id="side"), TabbedContent(id="tabs"):
                with TabPane("Evidence", id="tab-evidence"):
                    yield EvidencePanel(id="evidence-panel")
                with TabPane("Agent", id="tab-agent"):
                    yield AgentPane(id="agent")
                if self.metric_paths:
                    with TabPane("Metrics", id="tab-metrics"):
                        from tui.widgets.metrics import MetricsChart

                        yield MetricsChart(id="metrics")
        yield StatusBar(id="statusbar")
        yield Footer()

    def on_resize(self, event: Any) -> None:
        """The incident panel shrinks on short terminals so the log keeps most of the rows."""
        try:
            self.main(IncidentPanel).styles.max_height = 5 if event.size.height < 32 else 8
        except (NoMatches, ScreenStackError):
            pass

    def on_mount(self) -> None:
        self.main(IncidentPanel).styles.max_height = 5 if self.size.height < 32 else 8
        self.main("#progress", ProgressBar).add_class("-hidden")
        self.main(LogView).set_tail(self.follow)
        self.sub_title = sources_label(self.paths)
        self.set_status()
        self.index_sources()
        if self.metric_paths:
            self.load_metrics()
        if self.agent is None:
            self.start_agent()
        else:
            self._agent_ready()
        if self.follow:
            self._follow_timer = self.set_interval(FOLLOW_EVERY_S, self._follow_tick)

    def on_unmount(self) -> None:
        self._closing = True
        if self._selection_timer is not None:
            self._selection_timer.stop()
        self.model.close()
        if self.agent is not None:
            try:
                self.agent.close()
            except Exception:  # noqa: BLE001 - closing the sessions database is best effort at exit
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)

    def main(self, selector: Any, expect_type: Any = None) -> Any:
        """`query_one` on the main screen, so handlers and key bindings work while a modal (help, context) is up."""
        screen = self.screen_stack[0] if self.screen_stack else self.screen
        return screen.query_one(selector) if expect_type is None else screen.query_one(selector, expect_type)

    # -- status ---------------------------------------------------------------------------------------------

    def set_status(self, extra: str = "") -> None:
        """Refresh the status line."""
        log = self.main(LogView)
        m = self.model
        parts = []
        if len(m):
            y = min(log.cursor, len(m) - 1)
            parts.append(m.where(y).rsplit("/", 1)[-1])
            score = m.score(y)
            if m.columns is not None and score:
                parts.append(f"score {score:.2f}/{m.threshold:.2f}")
        shown = f"{len(m):,}" if len(m) == m.total else f"{len(m):,} of {m.total:,}"
        parts.append(f"{shown} lines")
        if self.filter_text:
            parts.append(f"filter {self.filter_text!r}")
        if self.follow:
            parts.append("FOLLOW")
        parts.append(self.audit_state)
        if extra:
            parts.append(extra)
        self.main("#status", Static).update(" · ".join(parts), layout=False)

    def _progress(self, fraction: float | None) -> None:
        bar = self.main("#progress", ProgressBar)
        if fraction is None:
            bar.add_class("-hidden")
        else:
            bar.remove_class("-hidden")
            bar.update(total=100, progress=round(fraction * 100, 1))

    # -- indexing -------------------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="index")
    def index_sources(self) -> None:
        """Index every source's line offsets; post partial sources so the first screen draws early."""
        worker = get_current_worker()
        try:
            names = expand(self.paths)
        except Exception as error:  # noqa: BLE001 - shown, never a crash
            self.ui(self.notify, f"cannot list {self.paths}: {error}", severity="error")
            return
        done: list[Source] = []
        last = 0.0
        for k, name in enumerate(names):
            if worker.is_cancelled:
                return

            def partial(src: Source, k: int = k) -> None:
                nonlocal last
                now = time.perf_counter()
                if now - last >= 0.25 or not last:
                    last = now
                    snapshot = Source(src.name, src.file, src.bounds.copy(), src.size)
                    snapshot.open()
                    self.ui(self._install_sources, [*done, snapshot], False)

            try:
                src = index_source(name, self.workdir, partial if k == 0 else None, lambda: worker.is_cancelled)
            except Exception as error:  # noqa: BLE001
                self.ui(self.notify, str(error), severity="error", timeout=8)
                continue
            done.append(src)
        if not worker.is_cancelled:
            self.ui(self._install_sources, done, True)

    def _install_sources(self, sources: list[Source], complete: bool) -> None:
        try:
            log = self.main(LogView)
        except (NoMatches, ScreenStackError):  # the app is closing
            return
        keep = log.current_base_row() if complete and len(self.model) else None
        self.model.sources = sources
        self.model.rebuild_rows()
        log.rows_changed(keep_base_row=keep)
        if self.first_paint_s is None and len(self.model):
            self.call_after_refresh(self._painted)
        if complete:
            if not sources:
                self.audit_state = "no readable sources"
                self.notify("no log lines could be read from " + ", ".join(self.paths), severity="error", timeout=10)
            elif self.want_audit:
                self.start_audit()
            else:
                self.audit_state = "not audited"
            if self.filter_text:
                self.apply_filter(self.filter_text)
        self.set_status()

    def _painted(self) -> None:
        if self.first_paint_s is None:
            self.first_paint_s = time.perf_counter() - self.started

    # -- the audit ------------------------------------------------------------------------------------------

    def start_audit(self) -> None:
        """Run (or re-run) the audit in a worker."""
        self.audit_state = "auditing"
        self._progress(0.0)
        self.run_audit_worker()

    @work(thread=True, exclusive=True, group="audit")
    def run_audit_worker(self) -> None:
        """Read → template → window → score, in a child process (default) or, for an injected `audit_fn`, in
        this thread; progress and the result come back as messages."""
        worker = get_current_worker()
        names = [s.name for s in self.model.sources] or self.paths
        try:
            from detectors.pipeline import AuditOptions
        except Exception as error:  # noqa: BLE001
            self.post_message(AuditFailed(f"the detectors cannot be loaded: {error}"))
            return
        options = self.audit_options or AuditOptions(state_dir=None)

        def report(stage: str, fraction: float | None) -> None:
            self.post_message(AuditProgress(stage, fraction))

        try:
            if self.audit_fn is None:
                from tui.audit_proc import AuditCancelled, audit_in_process

                try:
                    result = audit_in_process(names, options, progress=report, cancelled=lambda: worker.is_cancelled)
                except AuditCancelled:
                    return
            else:
                result = self._audit_in_thread(names, options, report)
            prepared = self.model.prepare(result)
        except Exception as error:  # noqa: BLE001 - a failed audit is a notification; the viewer stays usable
            from detectors.base import DetectorError
            from tui.audit_proc import AuditProcessError

            known = isinstance(error, (DetectorError, AuditProcessError))
            self.post_message(AuditFailed(str(error) if known else f"{type(error).__name__}: {error}"))
            return
        if not worker.is_cancelled:
            self.post_message(AuditReady(result, prepared))

    def _audit_in_thread(self, names: list[str], options: Any, report: Callable[[str, float | None], None]) -> Any:
        from tui.audit_proc import throttled_progress

        hook = throttled_progress(report, PROGRESS_EVERY_S)
        assert self.audit_fn is not None
        return self.audit_fn(names, options, progress=hook)

    def on_audit_progress(self, message: AuditProgress) -> None:
        label = {"read": "reading", "score": "scoring", "explain": "collecting evidence",
                 "transfer": "loading results"}.get(message.stage, message.stage)
        self.audit_state = f"auditing: {label}" + (f" {message.fraction:.0%}" if message.fraction is not None else "")
        self._progress(message.fraction)
        self.set_status()

    def on_audit_failed(self, message: AuditFailed) -> None:
        self.audit_state = "audit failed"
        self._progress(None)
        self.notify(f"audit failed: {message.message}", severity="error", timeout=10)
        self.set_status()

    def on_audit_ready(self, message: AuditReady) -> None:
        log = self.main(LogView)
        keep = log.current_base_row()
        # Map the cursor's (source, line) across the re-ordering the merge may do.
        where = None
        if keep is not None:
            where = (self.model.sources[int(self.model.row_src[keep])].name, int(self.model.row_line[keep]) + 1)
        prepared = message.prepared
        if prepared["total"] != self.model.total:  # follow mode added lines meanwhile
            prepared = self.model.prepare(message.result)
        self.model.install(prepared)
        self.result = message.result
        keep = self.model.find_row(*where) if where else None
        log.rows_changed(keep_base_row=keep)
        report = message.result.report
        self.main(EvidencePanel).show_anomalies(report.anomalies)
        notes = list((getattr(report, "incidents", None) or {}).get("notes") or [])
        panel = self.main(IncidentPanel)
        panel.show_incidents(self.model.incidents, notes, dated=self.model.multi_day)
        self._rank = -1
        self._mark_metrics(window=panel.window())
        self.main(Timeline).recompute()
        n_flagged = int((self.model.columns.score >= self.model.threshold).sum()) if self.model.columns else 0
        self.audit_state = f"{len(report.anomalies)} anomalies, {n_flagged:,} flagged lines ({report.detector})"
        self._progress(None)
        if self.filter_text:
            self.apply_filter(self.filter_text)
        self.set_status()
        self._show_selection()
        if self.agent is not None and self.agent.adopts_in_background:
            self.adopt_in_agent(message.result)
        else:
            if self.agent is not None:
                self.agent.adopt(message.result, [s.name for s in self.model.sources])
            self.main(AgentPane).show_hypotheses(self.agent.hypotheses() if self.agent else [])
        for skip in report.skipped[:3]:
            self.notify(f"skipped: {skip.message}", severity="warning", timeout=6)

    # -- filters and search ---------------------------------------------------------------------------------

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.apply_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.main(LogView).focus()

    def set_filter(self, text: str) -> None:
        """Set the filter bar's text (and so the filter)."""
        self.main("#filter", Input).value = text
        self.apply_filter(text)

    def apply_filter(self, text: str) -> None:
        """Parse the filter and compute it in a worker (the previous one is cancelled)."""
        self.filter_text = text.strip()
        try:
            query = parse_query(self.filter_text, self.model.first_ts)
        except QueryError as error:
            self.main("#filter", Input).add_class("-invalid-query")
            self.set_status(str(error))
            return
        self.main("#filter", Input).remove_class("-invalid-query")
        if query.needs_audit and self.model.columns is None:
            self.set_status("level, host, time and anomalous filters apply once the audit is done")
        self.compute_filter(self.filter_text, query)

    @work(thread=True, exclusive=True, group="filter")
    def compute_filter(self, text: str, query: Any) -> None:
        """Compute the filtered view off the UI thread."""
        worker = get_current_worker()
        if query.empty:
            view = np.arange(self.model.total, dtype=np.int64)
        else:
            mask = self.model.filter_mask(query, lambda: worker.is_cancelled)
            view = np.flatnonzero(mask).astype(np.int64)
        if not worker.is_cancelled:
            self.post_message(FilterReady(text, query, view))

    def on_filter_ready(self, message: FilterReady) -> None:
        if message.text != self.filter_text or len(message.view) and message.view[-1] >= self.model.total:
            return  # stale: the filter or the rows changed meanwhile
        log = self.main(LogView)
        keep = log.current_base_row()
        self.model.apply(message.query, message.view)
        log.rows_changed(keep_base_row=keep)
        self.main(Timeline).recompute()
        self.set_status()

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        pattern = event.value.strip()
        self.search_pattern = pattern or None
        self.search_mask = None
        self.main(LogView).set_highlight(pattern or None)

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self.main(LogView).focus()
        self.search(forward=True)

    def search(self, forward: bool) -> None:
        """Go to the next / previous match of the search pattern (matches computed once, in a worker)."""
        if not self.search_pattern:
            self.notify("type a search pattern first (/)", timeout=3)
            return
        if self.search_mask is not None:
            self._goto_match(forward)
            return
        try:
            import re

            from detectors.saferegex import compile_user

            compile_user(self.search_pattern)
        except re.error as error:
            self.notify(f"{self.search_pattern!r} is not a valid regex: {error}", severity="error")
            return
        self.compute_search(self.search_pattern, forward)

    @work(thread=True, exclusive=True, group="search")
    def compute_search(self, pattern: str, forward: bool) -> None:
        """Find every line matching `pattern` off the UI thread."""
        worker = get_current_worker()
        mask = self.model.matches(pattern, lambda: worker.is_cancelled)
        if not worker.is_cancelled:
            self.post_message(SearchReady(pattern, mask, forward))

    def on_search_ready(self, message: SearchReady) -> None:
        if message.pattern != self.search_pattern or len(message.mask) != self.model.total:
            return
        self.search_mask = message.mask
        self._goto_match(message.forward)

    def _goto_match(self, forward: bool) -> None:
        assert self.search_mask is not None
        log = self.main(LogView)
        y = self.model.next_match(self.search_mask, log.cursor, forward)
        if y is None:
            total = int(self.search_mask[self.model.view].sum()) if len(self.model) else 0
            self.notify(f"no {'later' if forward else 'earlier'} match for {self.search_pattern!r} "
                        f"({total} in view)", timeout=3)
            return
        log.jump(y)

    def action_search_next(self) -> None:
        """Next search match."""
        self.search(True)

    def action_search_prev(self) -> None:
        """Previous search match."""
        self.search(False)

    # -- navigation -----------------------------------------------------------------------------------------

    def action_next_anomaly(self) -> None:
        """Jump to the next anomaly (a ranked anomaly's line or the start of a flagged stretch)."""
        self._step_anomaly(True)

    def action_prev_anomaly(self) -> None:
        """Jump to the previous anomaly."""
        self._step_anomaly(False)

    def _step_anomaly(self, forward: bool) -> None:
        """Go to the next / previous stop in the ranking: the incident's chain (earliest failing step first), then
        the ranked anomalies A1, A2, … (hidden by the filter: the nearest line shown instead)."""
        if self.model.columns is None:
            self.notify("anomalies appear when the audit finishes", timeout=3)
            return
        ranked = self.model.ranked_rows()
        log = self.main(LogView)
        if not ranked:
            self.notify("no incident step or anomaly to go to", timeout=3)
            return
        if self._rank < 0:
            self._rank = 0 if forward else len(ranked) - 1
        else:
            self._rank = (self._rank + (1 if forward else -1)) % len(ranked)
        y = self.model.view_pos(ranked[self._rank])
        if y is None:
            self.notify("the filter hides every line", timeout=3)
            return
        if self.model.view_pos(ranked[self._rank], nearest=False) is None:
            self.notify("that line is hidden by the filter: showing the nearest one", timeout=3)
        log.jump(int(y))
        self.set_status(f"stop {self._rank + 1} of {len(ranked)} in the ranking")

    def jump_to(self, target: str) -> bool:
        """Show `target` in the log view: `A3`, `A3.e2`, `H1` or `file:line`. Returns whether it was found."""
        target = target.strip().strip("[]`'\"")
        m = self.model
        row: int | None = None
        a = next((x for x in m.anomalies if x.id == target), None)
        if a is not None:
            row = m.anomaly_rows.get(a.id)
        elif "." in target and target.split(".")[0] in m.anomaly_rows:
            parent = next((x for x in m.anomalies if x.id == target.split(".")[0]), None)
            ev = next((e for e in parent.evidence if e.id == target), None) if parent else None
            if ev is not None and ev.where:
                return self.jump_to(ev.where)
            row = m.anomaly_rows.get(target.split(".")[0])
        elif ":" in target:
            source, _, line = target.rpartition(":")
            if line.isdigit():
                row = m.find_row(source, int(line))
        if row is None:
            self.notify(f"{target!r} is not in these logs", severity="warning", timeout=4)
            return False
        y = m.view_pos(row, nearest=False)
        if y is None:
            self.notify(f"{target} is hidden by the filter; clearing it", timeout=3)
            self.set_filter("")
            self._pending_jump = row
            return True
        log = self.main(LogView)
        log.jump(y)
        log.focus()
        return True

    def on_jump_to(self, message: JumpTo) -> None:
        self.jump_to(message.target)

    def on_bucket_selected(self, message: BucketSelected) -> None:
        self.main(LogView).jump(message.position)

    def on_cursor_moved(self, message: CursorMoved) -> None:
        if self._closing or not self.screen_stack:  # a move posted while the app shuts down
            return
        self.main(Timeline).follow_cursor(message.y)
        pending = getattr(self, "_pending_jump", None)
        if pending is not None and not self.filter_text and self.model.view_pos(pending, nearest=False) is not None:
            self._pending_jump = None
            self.main(LogView).jump(int(self.model.view_pos(pending) or 0))
            return
        self.set_status()
        # The side panel follows once the cursor rests: holding j or page-down repaints only the log.
        if self._selection_timer is not None:
            self._selection_timer.stop()
        self._selection_timer = self.set_timer(SELECTION_DELAY_S, self._show_selection)

    def _show_selection(self) -> None:
        if self._closing:
            return
        try:
            log = self.main(LogView)
        except (NoMatches, ScreenStackError):  # a modal is on top, or the app is closing
            return
        if not len(self.model):
            return
        y = min(log.cursor, len(self.model) - 1)
        anomaly = self.model.anomaly_at(y)
        self.main(EvidencePanel).show(anomaly, self.model.where(y), self.model.score(y), self.model.threshold)
        self._mark_metrics(cursor_ts=self.model.ts(y))

    def selection_context(self) -> dict[str, Any]:
        """What goes with a question to the agent: the selected line's id and its anomaly (ids, scores, evidence)."""
        log = self.main(LogView)
        ctx: dict[str, Any] = {"sources": [s.name for s in self.model.sources], "filter": self.filter_text or None}
        if len(self.model):
            y = min(log.cursor, len(self.model) - 1)
            ctx["where"] = self.model.where(y)
            ctx["line"] = self.model.text(y)
            a = self.model.anomaly_at(y)
            if a is not None:
                ctx["anomaly"] = {
                    "id": a.id, "detector": a.detector, "score": a.score, "threshold": a.threshold,
                    "severity": a.severity, "where": a.where, "template": a.template,
                    "evidence": [{"id": e.id, "kind": e.kind, "summary": e.summary, "where": e.where} for e in a.evidence],
                }
        return ctx

    # -- the agent ------------------------------------------------------------------------------------------

    # The agent's work runs in daemon threads, not Textual thread workers: those run in the event loop's
    # executor, which is joined when the app exits, so a model mid-answer (or LangGraph still importing) would
    # keep `q` from quitting for as long as it takes.

    def in_background(self, fn: Callable[..., None], *args: Any) -> threading.Thread:
        """Run `fn(*args)` in a daemon thread; an exception becomes a notification."""

        def run() -> None:
            try:
                fn(*args)
            except Exception as error:  # noqa: BLE001 - shown, never a crash
                self.ui(self.notify, f"agent: {type(error).__name__}: {error}", severity="error", timeout=8)

        thread = threading.Thread(target=run, name=f"sleuth-{fn.__name__}", daemon=True)
        self._background = [t for t in self._background if t.is_alive()] + [thread]
        thread.start()
        return thread

    def ui(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Call `fn` on the UI thread from a background thread; nothing happens once the app is closing."""
        if self._closing:
            return
        try:
            self.call_from_thread(fn, *args, **kwargs)
        except RuntimeError:  # the app stopped meanwhile
            pass

    async def background_idle(self) -> None:
        """Wait until the agent's background threads are done and their messages handled (tests, benchmarks)."""
        import asyncio

        while any(t.is_alive() for t in self._background):
            await asyncio.sleep(0.02)
        await self.workers.wait_for_complete()

    def start_agent(self) -> None:
        """Build the agent off the UI thread (importing LangGraph and opening the session take a while)."""
        self.in_background(self._start_agent)

    def _start_agent(self) -> None:
        agent, note = connect_agent(self.session, self.settings)
        self.ui(self._agent_started, agent, note)

    def _agent_started(self, agent: AgentLike, note: str | None) -> None:
        self.agent = agent
        self.agent_note = note
        if note:
            self.notify(f"agent: {note}; answering from the detectors' evidence", severity="warning", timeout=6)
        self._agent_ready()

    def _agent_ready(self) -> None:
        pane = self.main(AgentPane)
        if self.agent is None:
            return
        if self.result is not None:
            if self.agent.adopts_in_background:
                self.adopt_in_agent(self.result)
                return
            self.agent.adopt(self.result, [s.name for s in self.model.sources])
        pane.show_hypotheses(self.agent.hypotheses())
        self.load_history()

    def load_history(self) -> None:
        """Show a reopened session's earlier questions and answers."""
        self.in_background(self._load_history)

    def _load_history(self) -> None:
        try:
            pairs = self.agent.history() if self.agent is not None else []
        except Exception as error:  # noqa: BLE001
            self.ui(self.notify, f"cannot reopen session {self.session!r}: {error}", severity="error")
            return
        if pairs:
            self.ui(self._show_history, pairs)

    def _show_history(self, pairs: list[tuple[str, str]]) -> None:
        pane = self.main(AgentPane)
        for q, a in pairs:
            pane.begin(q)
            pane.finish(a, citations(a))
        self.notify(f"session {self.session!r} reopened: {len(pairs)} earlier question(s)", timeout=4)

    def adopt_in_agent(self, result: Any) -> None:
        """Hand the audit to the agent (hypotheses and the evidence store), then list the hypotheses."""
        self.in_background(self._adopt_in_agent, result, [s.name for s in self.model.sources])

    def _adopt_in_agent(self, result: Any, names: list[str]) -> None:
        try:
            assert self.agent is not None  # adopt_in_agent runs only once the agent is there
            self.agent.adopt(result, names)
            hyps = self.agent.hypotheses()
        except Exception as error:  # noqa: BLE001
            self.ui(self.notify, f"agent: cannot take the audit: {error}", severity="error")
            return
        self.ui(self._show_hypotheses, hyps)

    def _show_hypotheses(self, hyps: list[dict[str, Any]]) -> None:
        self.main(AgentPane).show_hypotheses(hyps)

    @on(Input.Submitted, "#ask")
    def _ask_submitted(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if not question:
            return
        pane = self.main(AgentPane)
        if pane.busy:
            self.notify("the agent is still answering", timeout=3)
            return
        if self.agent is None:
            self.notify("the agent is still starting; try again in a moment", timeout=3)
            return
        event.input.value = ""
        pane.begin(question)
        self.in_background(self.ask_agent, question, self.selection_context())

    def ask_agent(self, question: str, context: dict[str, Any]) -> None:
        """Stream the agent's reply into the pane (runs in a background thread)."""
        text = ""
        agent = self.agent
        if agent is None:
            return
        try:
            for chunk in agent.ask(question, context):
                if self._closing:
                    return
                text += chunk
                self.post_message(AgentChunk(chunk))
        except Exception as error:  # noqa: BLE001 - the model failing is a notification, never a crash
            self.post_message(AgentDone(text, [], [], error=str(error)))
            return
        final = agent.last_answer or text
        cited = agent.last_citations or citations(final)
        try:
            hyps = agent.hypotheses()
        except Exception:  # noqa: BLE001
            hyps = []
        self.post_message(AgentDone(final, hyps, cited))

    def on_agent_chunk(self, message: AgentChunk) -> None:
        self.main(AgentPane).add_chunk(message.text)

    def on_agent_done(self, message: AgentDone) -> None:
        pane = self.main(AgentPane)
        pane.finish(message.text, message.citations, message.error)
        if message.hypotheses:
            pane.show_hypotheses(message.hypotheses)
        if message.error:
            self.notify(f"agent: {message.error}", severity="error", timeout=8)

    # -- metrics --------------------------------------------------------------------------------------------

    @work(thread=True, group="metrics")
    def load_metrics(self) -> None:
        """Read the metric files off the UI thread and draw them."""
        from tui.metrics import MetricsError, read_metrics

        series = []
        for path in self.metric_paths:
            try:
                series.extend(read_metrics(path))
            except MetricsError as error:
                self.ui(self.notify, str(error), severity="error", timeout=8)
        if series:
            from tui.widgets.metrics import MetricsChart

            def show() -> None:
                chart = self.main(MetricsChart)
                chart.window = self.main(IncidentPanel).window()
                chart.set_series(series)

            self.ui(show)

    def _mark_metrics(self, window: tuple[float, float] | None = None, cursor_ts: float | None = None) -> None:
        """Mark the incident window and the cursor's time on the metric charts (when there are some)."""
        if not self.metric_paths:
            return
        from tui.widgets.metrics import MetricsChart

        try:
            self.main(MetricsChart).mark(window, cursor_ts)
        except NoMatches:
            pass

    # -- follow ---------------------------------------------------------------------------------------------

    def _follow_tick(self) -> None:
        if not self.model.sources or self._closing or not self.screen_stack:
            return
        try:
            log = self.main(LogView)
        except (NoMatches, ScreenStackError):  # closing, or a modal screen is up: catch up on the next tick
            return
        added = self.model.grow()
        if added:
            log.rows_changed()
            if self.search_mask is not None:
                self.search_mask = None
            self.main(Timeline).recompute()
            self.set_status(f"+{added} lines")

    def action_toggle_follow(self) -> None:
        """Follow (tail) the files: new lines appear at the end and the cursor stays on the last line."""
        self.follow = not self.follow
        log = self.main(LogView)
        log.set_tail(self.follow)
        if self.follow:
            if self._follow_timer is None:
                self._follow_timer = self.set_interval(FOLLOW_EVERY_S, self._follow_tick)
            self._follow_timer.resume()
        elif self._follow_timer is not None:
            self._follow_timer.pause()
        self.set_status()

    # -- actions --------------------------------------------------------------------------------------------

    def action_help(self) -> None:
        """Show every key binding."""
        from tui.widgets.agent_pane import CitationList, HypothesisList
        from tui.widgets.evidence import AnomalyList, EvidenceList

        sections = [
            ("app", self.BINDINGS),
            ("log view", LogView.BINDINGS),
            ("timeline", Timeline.BINDINGS),
            ("lists", [Binding("up,down", "", "Move"), Binding("enter", "", "Jump to the line / evidence")]),
            ("palette", [Binding("ctrl+p", "", "Command palette (anomalies, follow, theme…)")]),
            ("inputs", [Binding("enter", "", "Apply / ask"), Binding("escape", "", "Back to the log view")]),
        ]
        del AnomalyList, EvidenceList, CitationList, HypothesisList
        self.push_screen(HelpScreen(sections))

    def focus_now(self, widget: Any) -> None:
        """Focus `widget` before the next key is handled (`Widget.focus` waits a turn, and keys typed fast or
        pasted right after `f` or `/` would land in the log view)."""
        self.screen.set_focus(widget)

    def action_focus_filter(self) -> None:
        """Type a filter."""
        self.focus_now(self.main("#filter", Input))

    def action_focus_search(self) -> None:
        """Type a search pattern."""
        self.focus_now(self.main("#search", Input))

    def action_focus_incident(self) -> None:
        """Focus the incident's chain (enter jumps to a step's line)."""
        self.focus_now(self.main(IncidentPanel))

    def action_focus_log(self) -> None:
        """Back to the log view."""
        self.focus_now(self.main(LogView))

    def action_focus_timeline(self) -> None:
        """Focus the timeline (←/→ pick a bucket, enter jumps)."""
        self.focus_now(self.main(Timeline))

    def action_show_evidence(self) -> None:
        """Show the evidence tab and focus its list."""
        self._ensure_side()
        self.main(TabbedContent).active = "tab-evidence"
        self.focus_now(self.main("#evidence"))

    def action_focus_agent(self) -> None:
        """Show the agent tab and focus the prompt."""
        self._ensure_side()
        self.main(TabbedContent).active = "tab-agent"
        self.focus_now(self.main("#ask", Input))

    def action_show_metrics(self) -> None:
        """Show the metrics tab."""
        if not self.metric_paths:
            self.notify("no metrics: pass --metrics FILE", timeout=3)
            return
        self._ensure_side()
        self.main(TabbedContent).active = "tab-metrics"

    def _ensure_side(self) -> None:
        self.main("#side").display = True

    def action_toggle_side(self) -> None:
        """Hide or show the side panel (more room for the log)."""
        side = self.main("#side")
        side.display = not side.display
        self.main(LogView).rows_changed(keep_base_row=self.main(LogView).current_base_row())

    def action_toggle_theme(self) -> None:
        """Switch between the light and dark themes."""
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def action_context(self) -> None:
        """Show the lines around the selected line in its own file."""
        log = self.main(LogView)
        if not len(self.model):
            return
        source, lines = self.model.context(min(log.cursor, len(self.model) - 1))
        self.push_screen(ContextScreen(source, lines))

    def action_reaudit(self) -> None:
        """Re-run the audit (e.g. after following new lines)."""
        if self.model.sources:
            self.start_audit()
            self.set_status()

    def watch_theme(self) -> None:
        try:
            log = self.main(LogView)
        except Exception:  # noqa: BLE001 - before compose
            return
        log.rows_changed(keep_base_row=log.current_base_row())


def run_triage(paths: Sequence[str], metrics: Sequence[str] = (), follow: bool = False, session: str | None = None,
               *, audit_options: Any = None, settings: Any = None, agent: AgentLike | None = None) -> None:
    """Run the triage dashboard until the user quits (the CLI's `sleuth triage`)."""
    app = TriageApp(paths, metrics, follow=follow, session=session, audit_options=audit_options, settings=settings,
                    agent=agent)
    app.run()
    _leave_promptly(app.return_code or 0)


def _leave_promptly(code: int, grace_s: float = 2.0) -> None:
    """Exit now if a worker thread is still busy (a model mid-answer, an agent building its graph).

    Thread workers cannot be interrupted, and the interpreter would wait for them at exit, so `q` could take as
    long as the model's answer. After `grace_s` the process exits without waiting; the audit's child process
    has already been killed by its worker.
    """
    import os
    import threading

    deadline = time.monotonic() + grace_s
    for thread in threading.enumerate():
        if thread is threading.main_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() and not t.daemon and t is not threading.main_thread() for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m tui.app PATH... [--metrics FILE] [--follow] [--session NAME] [--no-agent]`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tui.app", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--metrics", action="append", default=[])
    parser.add_argument("--follow", action="store_true")
    parser.add_argument("--session")
    parser.add_argument("--no-agent", action="store_true", help="answer from the detectors' evidence only")
    args = parser.parse_args(argv)
    agent = EvidenceAgent("started with --no-agent") if args.no_agent else None
    run_triage(args.paths, args.metrics, args.follow, args.session, agent=agent)


if __name__ == "__main__":
    main()

"""The triage app's widgets: each with its CSS and bindings beside it."""

from tui.widgets.agent_pane import AgentPane
from tui.widgets.evidence import AnomalyList, EvidenceList, EvidencePanel
from tui.widgets.logview import LogView
from tui.widgets.metrics import MetricsChart
from tui.widgets.timeline import Timeline

__all__ = ["AgentPane", "AnomalyList", "EvidenceList", "EvidencePanel", "LogView", "MetricsChart", "Timeline"]

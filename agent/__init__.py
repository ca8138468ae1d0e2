"""The triage agent: LLM back ends, the LangGraph graph, citations, redaction, sessions and the Python API."""

from agent.api import Answer, Sleuth
from agent.backends import make_llm
from agent.citations import EvidenceStore, check_citations
from agent.graph import build_graph
from agent.llm import LLM, ChatModelLLM, LLMError, LLMOutputError, LLMStats, LLMUnavailable
from agent.redact import redact
from agent.sessions import SessionError
from agent.settings import ConfigError, Settings, load_settings

__all__ = [
    "LLM",
    "Answer",
    "ChatModelLLM",
    "ConfigError",
    "EvidenceStore",
    "LLMError",
    "LLMOutputError",
    "LLMStats",
    "LLMUnavailable",
    "SessionError",
    "Settings",
    "Sleuth",
    "build_graph",
    "check_citations",
    "load_settings",
    "make_llm",
    "redact",
]

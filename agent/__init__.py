"""The triage agent: LLM back ends, the LangGraph graph, citations, redaction, sessions and the Python API.

The names below are loaded on first use (PEP 562), so `from agent import load_settings` (what every `sleuth`
command does to read its settings) does not pull in LangGraph and LangChain; `sleuth audit --no-explain` never
loads them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Loaded now (it is light): loading the submodule `agent.redact` binds the package's name `redact` to the module,
# which must stay the function.
from agent.redact import redact

if TYPE_CHECKING:
    from agent.api import Answer, Sleuth
    from agent.backends import make_llm
    from agent.citations import EvidenceStore, check_citations
    from agent.graph import build_graph
    from agent.llm import LLM, ChatModelLLM, LLMError, LLMOutputError, LLMStats, LLMUnavailable
    from agent.sessions import SessionError
    from agent.settings import ConfigError, Settings, load_settings

_WHERE = {
    "Answer": "agent.api", "Sleuth": "agent.api", "make_llm": "agent.backends", "EvidenceStore": "agent.citations",
    "check_citations": "agent.citations", "build_graph": "agent.graph", "LLM": "agent.llm",
    "ChatModelLLM": "agent.llm", "LLMError": "agent.llm", "LLMOutputError": "agent.llm", "LLMStats": "agent.llm",
    "LLMUnavailable": "agent.llm", "SessionError": "agent.sessions",
    "ConfigError": "agent.settings", "Settings": "agent.settings", "load_settings": "agent.settings",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'agent' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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

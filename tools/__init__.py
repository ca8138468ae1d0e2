"""The agent-facing tools: typed, read-only, capped wrappers over detectors/ and the audited data."""

from tools.base import Cited, Tool, ToolArgsError, ToolInputError, ToolOutput
from tools.calm import TOOLS as CALM_TOOLS
from tools.icad import TOOLS as ICAD_TOOLS
from tools.logicl import TOOLS as LOGICL_TOOLS
from tools.logtools import TOOLS as LOG_TOOLS
from tools.workspace import Workspace

TOOLS: tuple[Tool, ...] = (*LOG_TOOLS, *ICAD_TOOLS, *CALM_TOOLS, *LOGICL_TOOLS)
TOOLS_BY_NAME: dict[str, Tool] = {tool.name: tool for tool in TOOLS}


def get_tool(name: str) -> Tool:
    """The tool called `name`.

    Raises:
        ToolInputError: If there is none; the message lists the tools.
    """
    try:
        return TOOLS_BY_NAME[name]
    except KeyError:
        raise ToolInputError(f"there is no tool {name!r}; the tools are: {', '.join(TOOLS_BY_NAME)}") from None


__all__ = ["TOOLS", "TOOLS_BY_NAME", "Cited", "Tool", "ToolArgsError", "ToolInputError", "ToolOutput", "Workspace", "get_tool"]

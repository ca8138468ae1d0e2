"""What every agent tool is: a name, a docstring the model reads, typed arguments, a read-only function, capped output.

Arguments are a pydantic model, so every call is validated before anything runs; a call that does not validate
raises `ToolArgsError`, whose message says which argument is wrong and what is expected. Errors the model can fix
(bad arguments, an unknown template, a pattern that matches nothing) are `ToolInputError`s and go back to it as
text; anything else is a bug and propagates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

if TYPE_CHECKING:
    from tools.workspace import Workspace

# Caps that keep a tool's answer from flooding a small model's context.
MAX_TEXT_CHARS = 2_400  # whole output
MAX_LINE_CHARS = 240  # one log line as shown
MAX_ITEMS = 50  # rows a tool may return, whatever `limit` asks


class ToolInputError(Exception):
    """A tool call the model can fix: the message goes back to it, so it says what to change."""


class ToolArgsError(ToolInputError):
    """The call's arguments do not match the tool's schema; the tool was not run."""


class ToolArgs(BaseModel):
    """Base of every tool's arguments: unknown arguments are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


A = TypeVar("A", bound=ToolArgs)


@dataclass(slots=True)
class Cited:
    """A line or fact in a tool's output that an answer may cite."""

    where: str  # file:line
    summary: str  # the line (clipped) or a one-line fact


@dataclass(slots=True)
class ToolOutput:
    """A tool's answer: capped text for the model, structured data for programs, citable lines."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)
    cited: list[Cited] = field(default_factory=list)
    count: int = 0  # how many results there were before capping

    def __post_init__(self) -> None:
        self.text = cap_text(self.text)


def clip(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """One line, at most `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def cap_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """The text cut at a line boundary before `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit - 60)
    cut = cut if cut > 0 else limit - 60
    rest = text[cut:].count("\n")
    return text[:cut] + f"\n… output capped ({rest} more lines not shown)"


@dataclass(frozen=True, slots=True)
class Tool(Generic[A]):
    """One read-only tool."""

    name: str
    description: str  # what the model reads: when to use it and what it returns
    args: type[A]
    run: Callable[[Workspace, A], ToolOutput]

    def schema(self) -> dict[str, Any]:
        """The JSON schema of the arguments (what the model fills in)."""
        return self.args.model_json_schema()

    def validate(self, raw: Any) -> A:
        """Typed arguments from a model's raw call.

        Raises:
            ToolArgsError: If `raw` is not an object or does not match the schema; nothing has run.
        """
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ToolArgsError(f"{self.name}: arguments must be a JSON object, got {type(raw).__name__} {raw!r:.80}")
        try:
            return self.args.model_validate(raw)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']} (got {e.get('input')!r:.60})"
                for e in error.errors()
            )
            expected = ", ".join(
                f"{k}{'' if k in self.schema().get('required', []) else '?'}" for k in self.schema().get("properties", {})
            )
            raise ToolArgsError(f"invalid arguments for {self.name}: {problems}. It takes: {expected or 'no arguments'}") from None

    def __call__(self, workspace: Workspace, raw: Any) -> ToolOutput:
        """Validate, then run. Only `ToolInputError` is expected; anything else is a bug."""
        return self.run(workspace, self.validate(raw))

"""The agent's settings: one typed object, resolved once (defaults -> config file -> environment -> flags).

The CLI calls `load_settings(flags=...)` and passes the result down; nothing else reads the environment.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from detectors import paths


class ConfigError(Exception):
    """A setting is unknown or has a value of the wrong type; the message names it and where it came from."""


@dataclass(frozen=True)
class Settings:
    """Everything the agent needs to know; every field has a default that works offline on 2 cores."""

    llm_url: str | None = None  # OpenAI-compatible server (vLLM), e.g. http://gpu:8000/v1; None = embedded engine
    model: str | None = None  # served model name for vLLM; a GGUF path for the embedded engine (None = SmolLM2-135M)
    api_key: str = "EMPTY"  # vLLM ignores it unless started with --api-key
    max_tokens: int = 384  # bound on tokens per model call; SmolLM2 writes ~100 tokens/s here
    timeout_s: float = 60.0  # bound on one model call (request timeout / generation deadline)
    retries: int = 2  # retries on connection errors and 5xx, with exponential backoff
    temperature: float = 0.0  # deterministic answers by default
    context_tokens: int = 4096  # the embedded engine's context window
    threads: int = 2  # CPU threads for the embedded engine
    explain: bool = True  # `sleuth audit` asks the model to explain its top anomalies
    redact: bool = True  # mask secrets before text goes to a non-local endpoint (never off unless asked)
    redact_local: bool = False  # mask them for a server on this machine (localhost) too
    redact_pii: bool = False  # also mask e-mail addresses and phone numbers (agent/redact.py's PII class)
    decisions: str = "json"  # how the model picks tools: "json" (schema-constrained decision) or "native" tool calls
    max_steps: int = 4  # extra tool calls a planning model may make per question
    llm: str = "auto"  # auto (a server when llm_url is set, else embedded) | embedded | served | none (no model at all)
    plan: str = "auto"  # whether the model may plan extra tool calls: auto (a served model only) | on | off
    rephrase: bool = True  # let the model rephrase the deterministic answers (its text is vetted)
    explain_top: int = 3  # anomalies shown to the model when explaining an audit (prompt size is the cost on CPU)
    detector: str = "classical"  # detector the agent's audits use
    window: str | None = None  # window spec for the agent's audits (None = the foundation's default)
    data_dir: Path = field(default_factory=paths.data_dir)  # sessions database and other state (XDG, see detectors.paths)
    session_db: Path | None = None  # default: <data_dir>/sessions.sqlite

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())
        if self.session_db is not None:
            object.__setattr__(self, "session_db", Path(self.session_db).expanduser())
        if self.llm not in ("auto", "embedded", "served", "none"):
            raise ConfigError(f"llm must be 'auto', 'embedded', 'served' or 'none', got {self.llm!r}")
        if self.plan not in ("auto", "on", "off"):
            raise ConfigError(f"plan must be 'auto', 'on' or 'off', got {self.plan!r}")
        if self.decisions not in ("json", "native"):
            raise ConfigError(f"decisions must be 'json' or 'native', got {self.decisions!r}")
        if self.max_tokens < 16:
            raise ConfigError(f"max_tokens must be at least 16, got {self.max_tokens}")
        if self.timeout_s <= 0:
            raise ConfigError(f"timeout_s must be positive, got {self.timeout_s}")

    @property
    def sessions_path(self) -> Path:
        """Where saved chat sessions live."""
        return self.session_db or self.data_dir / "sessions.sqlite"

    @property
    def backend(self) -> str:
        """"none" with `llm = none`, "vllm" (any OpenAI-compatible server) when a server URL is set, else "embedded"."""
        if self.llm == "none":
            return "none"
        if self.llm == "embedded":
            return "embedded"
        return "vllm" if self.llm_url else "embedded"

    @property
    def planner(self) -> bool:
        """Whether the model may plan extra tool calls (by default only a served model: a 135M one picks junk)."""
        if self.plan == "auto":
            return self.backend == "vllm"
        return self.plan == "on" and self.backend != "none"


# Environment variables the settings read, and the field each sets.
ENV_VARS: dict[str, str] = {f"SLEUTH_{f.name.upper()}": f.name for f in fields(Settings)}


def _coerce(name: str, value: Any, origin: str) -> Any:
    hint = get_type_hints(Settings)[name]
    text = str(hint)
    if value is None or (isinstance(value, str) and value == "" and "None" in text):
        return None
    try:
        if "bool" in text:
            if isinstance(value, bool):
                return value
            lowered = str(value).strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true/false")
        if "int" in text:
            if isinstance(value, bool):
                raise ValueError("expected a whole number")
            return int(value)
        if "float" in text:
            return float(value)
        if "Path" in text:
            return Path(str(value)).expanduser()
        return str(value)
    except ValueError as error:
        raise ConfigError(f"{origin}: {name} = {value!r} is not valid ({error}); expected {text}") from None


def _apply(settings: Settings, values: Mapping[str, Any], origin: str) -> Settings:
    known = {f.name for f in fields(Settings)}
    unknown = set(values) - known
    if unknown:  # a typo like `max_token` must not be silently ignored
        raise ConfigError(
            f"unknown setting(s) in {origin}: {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
        )
    changes = {name: _coerce(name, value, origin) for name, value in values.items()}
    return replace(settings, **changes)


def load_settings(
    *,
    config_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve the settings: defaults, then the TOML file, then `SLEUTH_*` variables, then CLI flags.

    Args:
        config_path: The TOML file (default <config dir>/config.toml, ~/.config/sleuth by default; a missing default file is fine). Keys sit
            at the top level or under an `[agent]` table.
        env: The environment (default `os.environ`); only the `SLEUTH_<FIELD>` names in `ENV_VARS` are read.
        flags: CLI flag values; entries that are None (flag not given) are skipped.

    Raises:
        ConfigError: If a key is unknown, a value has the wrong type, or the named file cannot be read.
    """
    settings = Settings()
    path = (config_path or paths.config_dir() / "config.toml").expanduser()
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"cannot read config file {str(path)!r}: {error}; fix or remove it") from None
        table = data.pop("agent", {})
        if not isinstance(table, dict):
            raise ConfigError(f"{str(path)!r}: [agent] must be a table")
        settings = _apply(settings, {**data, **table}, f"config file {str(path)!r}")
    elif config_path is not None:
        raise ConfigError(f"config file {str(path)!r} does not exist; create it or drop --config")
    environ = os.environ if env is None else env
    from_env = {ENV_VARS[k]: v for k, v in environ.items() if k in ENV_VARS}
    settings = _apply(settings, from_env, "the environment")
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    return _apply(settings, given, "the command line")

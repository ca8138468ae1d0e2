"""Settings: defaults -> config file -> environment -> flags; unknown keys and bad values are errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.settings import ConfigError, Settings, load_settings


@pytest.fixture
def empty_config(tmp_path: Path) -> Path:
    path = tmp_path / "empty.toml"
    path.write_text("", encoding="utf-8")
    return path


def test_defaults_work_offline(tmp_path: Path, empty_config: Path) -> None:
    s = load_settings(config_path=empty_config, env={}, flags={})
    assert s == Settings()
    assert s.backend == "embedded" and s.redact and s.explain and s.max_tokens > 0
    assert Settings(data_dir=tmp_path).sessions_path == tmp_path / "sessions.sqlite"


def test_precedence_file_then_env_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('llm_url = "http://file:8000/v1"\nmax_tokens = 100\n[agent]\ntimeout_s = 5\n', encoding="utf-8")
    env = {"SLEUTH_MAX_TOKENS": "200", "SLEUTH_REDACT": "false", "SLEUTH_SHARED_DATA": "/ignored", "HOME": "/x"}
    s = load_settings(config_path=config, env=env, flags={"max_tokens": 300, "model": None})
    assert s.llm_url == "http://file:8000/v1" and s.backend == "vllm"
    assert s.timeout_s == 5.0
    assert s.max_tokens == 300  # flag beats env beats file
    assert s.redact is False
    assert s.model is None  # a flag that was not given does not override


def test_unknown_key_in_file_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("max_token = 100\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) in config file .*: max_token; known: .*max_tokens"):
        load_settings(config_path=config, env={})


def test_unknown_flag_and_bad_values_are_errors(empty_config: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(config_path=empty_config, env={}, flags={"llm_uri": "x"})
    with pytest.raises(ConfigError, match=r"the environment: max_tokens = 'lots' is not valid"):
        load_settings(config_path=empty_config, env={"SLEUTH_MAX_TOKENS": "lots"})
    with pytest.raises(ConfigError, match="decisions must be"):
        load_settings(config_path=empty_config, env={}, flags={"decisions": "vibes"})


def test_missing_named_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_path=tmp_path / "missing.toml", env={})


def test_broken_toml_says_which_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("max_tokens = = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(config_path=config, env={})

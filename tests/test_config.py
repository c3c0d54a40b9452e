"""Settings: the YAML file, environment overrides and the report on bad values."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from agentos.config import jwt_signing_key, load_settings, settings_json_schema
from agentos.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_shipped_config_file_is_valid() -> None:
    """The config.yaml at the repository root loads without error."""

    settings = load_settings(REPO / "config.yaml", env={})

    assert settings.port == 8000
    assert settings.embedded


def test_environment_overrides_the_file_including_nested_keys(tmp_path: Path) -> None:
    """AGENTOS_* variables win over the file; __ reaches nested sections."""
    config = tmp_path / "config.yaml"
    config.write_text("port: 8100\nssot:\n  ttl_seconds: 30\n")
    env = {"AGENTOS_PORT": "8200", "AGENTOS_SSOT__WARM_INTERVAL_SECONDS": "2"}

    settings = load_settings(config, env=env)

    assert settings.port == 8200
    assert settings.ssot.ttl_seconds == 30
    assert settings.ssot.warm_interval_seconds == 2


def test_invalid_file_value_names_key_value_and_rule(tmp_path: Path) -> None:
    """A bad value in config.yaml is reported with its key, value and rule."""
    config = tmp_path / "config.yaml"
    config.write_text("port: 70000\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={})

    message = str(caught.value)
    assert "port" in message
    assert "70000" in message
    assert "less than or equal to 65535" in message


def test_invalid_environment_value_names_the_variable(tmp_path: Path) -> None:
    """A bad AGENTOS_* value is reported under its variable name."""

    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "none.yaml", env={"AGENTOS_REDIS_URL": "http://x"})

    assert "AGENTOS_REDIS_URL" in str(caught.value)
    assert "redis://" in str(caught.value)


def test_every_bad_key_is_reported_at_once(tmp_path: Path) -> None:
    """Several mistakes are listed together, not one per attempt."""
    config = tmp_path / "config.yaml"
    config.write_text("workers: 0\nlog_level: LOUD\nno_such_key: 1\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={})

    message = str(caught.value)
    for key in ("workers", "log_level", "no_such_key"):
        assert key in message


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    """A YAML list at the top level is a configuration error, not a crash."""
    config = tmp_path / "config.yaml"
    config.write_text("- port\n")

    with pytest.raises(ConfigError, match="mapping"):
        load_settings(config, env={})


def test_secret_values_are_not_echoed_in_errors(tmp_path: Path) -> None:
    """A rejected JWT secret is shown as hidden, never in clear."""
    env = {"AGENTOS_JWT__SECRET": "[1, 2]"}

    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "none.yaml", env=env)

    assert "<hidden>" in str(caught.value)


def test_development_key_is_made_once_and_kept(tmp_path: Path) -> None:
    """Without a secret, one development key is generated and reused."""
    env = {"AGENTOS_DATA_DIR": str(tmp_path)}
    settings = load_settings(tmp_path / "none.yaml", env=env)

    first, generated = jwt_signing_key(settings)
    second, _ = jwt_signing_key(settings)

    assert generated is True
    assert first == second
    assert len(first) >= 32
    assert (tmp_path / "jwt-dev.key").stat().st_mode & 0o077 == 0


def test_committed_json_schema_matches_the_settings_model() -> None:
    """schemas/config.schema.json is regenerated whenever Settings changes."""
    committed = json.loads((REPO / "schemas" / "config.schema.json").read_text())

    assert committed == settings_json_schema(), "run `make schemas` to regenerate it"


def test_shipped_config_file_validates_against_the_json_schema() -> None:
    """config.yaml passes its own JSON Schema, so editors can check it too."""
    schema = settings_json_schema()
    document = yaml.safe_load((REPO / "config.yaml").read_text())

    jsonschema.validate(document, schema)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("agentos-blue:", "agentos-blue:", id="trailing-colon-stays-text"),
        pytest.param("a: b", "a: b", id="block-mapping-stays-text"),
        pytest.param("- x", "- x", id="block-list-stays-text"),
    ],
)
def test_environment_text_that_looks_like_yaml_blocks_stays_text(
    tmp_path: Path, raw: str, expected: str
) -> None:
    """Only flow syntax ([...] or {...}) turns an environment value into a structure."""

    settings = load_settings(tmp_path / "none.yaml", env={"AGENTOS_REDIS_PREFIX": raw})

    assert settings.redis_prefix == expected


def test_environment_flow_list_becomes_a_list(tmp_path: Path) -> None:
    """A flow list in the environment sets a list setting."""
    env = {"AGENTOS_CORS_ORIGINS": '["https://a.example", "https://b.example"]'}

    settings = load_settings(tmp_path / "none.yaml", env=env)

    assert settings.cors_origins == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize("seconds", [
    pytest.param(59, id="under-a-minute"),
    pytest.param(86_401, id="over-a-day"),
])
def test_the_finalize_grace_is_bounded(tmp_path: Path, seconds: int) -> None:
    """uploads.finalize_grace_seconds outside 60..86400 is refused, by name."""
    config = tmp_path / "config.yaml"
    config.write_text(f"uploads:\n  finalize_grace_seconds: {seconds}\n")

    with pytest.raises(ConfigError, match="finalize_grace_seconds"):
        load_settings(config, env={})

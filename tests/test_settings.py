"""Settings: environment prefix, TOML file, descriptions, masking, and refusing weak production secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from soberana.errors import ConfigurationError
from soberana.settings import Settings, ensure_secret_key, load_settings

STRONG = "k" * 48


def test_every_setting_is_described() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"
        assert len(field.description) > 15, f"{name}: describe it properly"


def test_environment_variables_use_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOBERANA_PORT", "9090")
    monkeypatch.setenv("PORT", "1")
    assert Settings().port == 9090


def test_toml_file_is_read_and_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "soberana.toml"
    config.write_text('port = 7000\nhost = "0.0.0.0"\nlog_level = "debug"\n', encoding="utf-8")
    monkeypatch.setenv("SOBERANA_CONFIG", str(config))
    monkeypatch.setenv("SOBERANA_HOST", "10.0.0.1")
    settings = Settings()
    assert (settings.port, settings.host, settings.log_level) == (7000, "10.0.0.1", "debug")


def test_unknown_keys_in_the_toml_file_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "soberana.toml"
    config.write_text("prot = 7000\n", encoding="utf-8")
    monkeypatch.setenv("SOBERANA_CONFIG", str(config))
    with pytest.raises(ConfigurationError, match="prot"):
        load_settings()


def test_missing_config_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SOBERANA_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigurationError, match="not a readable file"):
        Settings()


@pytest.mark.parametrize("secret", [None, "", "changeme", "CHANGE-ME", "secret", "short-but-not-default"])
def test_production_refuses_missing_default_or_weak_secrets(secret: str | None) -> None:
    with pytest.raises(ValidationError, match="refusing to run in production"):
        Settings(environment="production", secret_key=secret)
    with pytest.raises(ConfigurationError, match="SOBERANA_SECRET_KEY"):
        load_settings(environment="production", secret_key=secret)


def test_production_refuses_a_default_database_password() -> None:
    with pytest.raises(ValidationError, match="database password"):
        Settings(environment="production", secret_key=STRONG, database_url="postgresql://soberana:changeme@db/soberana")


def test_production_refuses_sql_echo() -> None:
    with pytest.raises(ValidationError, match="DB_ECHO"):
        Settings(environment="production", secret_key=STRONG, db_echo=True)


def test_production_starts_with_a_strong_secret(tmp_path: Path) -> None:
    settings = Settings(environment="production", secret_key=STRONG, data_dir=tmp_path)
    assert ensure_secret_key(settings).secret_key_bytes == STRONG.encode()
    assert not (tmp_path / "secret_key").exists()


def test_development_generates_and_keeps_a_secret(tmp_path: Path) -> None:
    first = ensure_secret_key(Settings(data_dir=tmp_path))
    second = ensure_secret_key(Settings(data_dir=tmp_path))
    assert first.secret_key_bytes == second.secret_key_bytes
    assert len(first.secret_key_bytes) >= 48
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_database_urls_are_normalised_to_async_drivers() -> None:
    assert Settings(database_url="postgresql://u:p@h/db").database_url == "postgresql+asyncpg://u:p@h/db"
    assert Settings(database_url="sqlite:////tmp/x.db").database_url == "sqlite+aiosqlite:////tmp/x.db"
    assert Settings(database_url="").database_url is None
    with pytest.raises(ValidationError, match="unsupported database"):
        Settings(database_url="mysql://u@h/db")


def test_default_database_is_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/soberana.db"


def test_public_dict_masks_secrets() -> None:
    values = Settings(
        secret_key="super-secret-value-1234567890abcdef", database_url="postgresql://app:hunter2@db/soberana"
    ).public_dict()
    text = str(values)
    assert "super-secret-value" not in text
    assert "hunter2" not in text
    assert values["secret_key"] == "****"
    assert values["database_url"] == "postgresql+asyncpg://app:***@db/soberana"
    assert set(values) == set(Settings.model_fields)


def test_an_upstream_key_is_read_only_from_a_variable_named_for_it() -> None:
    """A deployment could name any variable (the server's own secret) and send it to any base URL."""
    upstream = {"alias": "m", "provider": "openai_compat", "base_url": "https://attacker.example/v1"}
    with pytest.raises(ValidationError, match="SOBERANA_UPSTREAM_KEY_"):
        Settings(deployments=[{**upstream, "api_key_env": "SOBERANA_SECRET_KEY"}])
    with pytest.raises(ValidationError):
        Settings(deployments=[{**upstream, "api_key_env": "HOME"}])
    allowed = Settings(deployments=[{**upstream, "api_key_env": "SOBERANA_UPSTREAM_KEY_NATIONAL"}])
    assert allowed.deployments[0].api_key_env == "SOBERANA_UPSTREAM_KEY_NATIONAL"


def test_production_refuses_to_parse_uploads_without_limits() -> None:
    with pytest.raises(ValidationError, match="KNOWLEDGE_PARSE_WORKERS=0"):
        Settings(environment="production", secret_key=STRONG, knowledge_parse_workers=0)
    assert Settings(knowledge_parse_workers=0).knowledge_parse_workers == 0  # development: for tests and trials

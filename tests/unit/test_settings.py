from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import SettingsError, load_settings


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("OPENAI_API_KEY", "GATEWAY_JWT_SECRET", "DATABASE_URL", "GATEWAY_PORT"):
        monkeypatch.delenv(name, raising=False)
    s = load_settings(data_dir=tmp_path / "d")
    assert s.port == 8080
    assert s.openai_model == "gpt-4o"
    assert s.effective_analyzer == "offline"
    assert s.analysis_every == 10 and s.analysis_window == 20


def test_env_names_are_the_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PORT", "9001")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("GATEWAY_ALLOWED_ORIGINS", "https://a.example, https://b.example/")
    s = load_settings(data_dir=tmp_path)
    assert s.port == 9001
    assert s.effective_analyzer == "openai"
    assert s.allowed_origins == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATEWAY_PORT", "eighty"),
        ("GATEWAY_PORT", "70000"),
        ("OPENAI_TIMEOUT", "-1"),
        ("GATEWAY_ANALYZER", "magic"),
        ("VOICE_AGENT_PROVIDER", "x"),
    ],
)
def test_bad_value_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings(data_dir=tmp_path)
    assert str(err.value).startswith(f"{name}:")
    assert "\n" not in str(err.value)


def test_short_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="GATEWAY_JWT_SECRET"):
        load_settings(data_dir=tmp_path, jwt_secret="short")


def test_generated_secret_is_kept_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GATEWAY_JWT_SECRET", raising=False)
    first = load_settings(data_dir=tmp_path / "d").secret()
    second = load_settings(data_dir=tmp_path / "d").secret()
    assert first == second and len(first) >= 32
    assert (tmp_path / "d" / "jwt_secret").stat().st_mode & 0o077 == 0
    assert load_settings(data_dir=tmp_path / "other").secret() != first

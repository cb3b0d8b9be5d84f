"""The installation's secret key: written once with owner-only permissions, read by settings,
never a fixed default."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from labeling.exceptions import PrivacyError
from labeling.project.items import pseudonymise
from storage.secret_key import (
    MIN_SECRET_CHARS,
    SecretKeyError,
    ensure_secret_file,
    read_secret_file,
)
from storage.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_env_key(monkeypatch):
    monkeypatch.delenv("WORKBENCH_SECRET_KEY", raising=False)
    monkeypatch.chdir(ROOT / "tests")  # no .env file is read


def test_the_key_file_is_created_owner_only_and_never_replaced(tmp_path):
    path = tmp_path / "data" / "secret.key"
    assert ensure_secret_file(path) is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = read_secret_file(path)
    assert key is not None and re.fullmatch(r"[0-9a-f]{64}", key)
    assert ensure_secret_file(path) is False
    assert read_secret_file(path) == key
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # no temporary left


def test_two_installations_get_different_keys_and_different_pseudonyms(tmp_path):
    first, second = tmp_path / "a" / "secret.key", tmp_path / "b" / "secret.key"
    ensure_secret_file(first)
    ensure_secret_file(second)
    key_a, key_b = read_secret_file(first), read_secret_file(second)
    assert key_a != key_b
    assert pseudonymise("listener-42", key=key_a) != pseudonymise("listener-42", key=key_b)
    assert pseudonymise("listener-42", key=key_a) == pseudonymise("listener-42", key=key_a)


def test_settings_read_the_key_file_when_the_variable_is_unset(tmp_path, no_env_key):
    settings = Settings(data_dir=tmp_path)
    ensure_secret_file(settings.secret_key_file)
    assert settings.require_secret_key() == read_secret_file(tmp_path / "secret.key")


def test_the_variable_wins_over_the_file(tmp_path, no_env_key, monkeypatch):
    ensure_secret_file(tmp_path / "secret.key")
    monkeypatch.setenv("WORKBENCH_SECRET_KEY", "x" * MIN_SECRET_CHARS)
    assert Settings(data_dir=tmp_path).require_secret_key() == "x" * MIN_SECRET_CHARS


def test_a_missing_key_is_refused_with_what_to_do(tmp_path, no_env_key):
    settings = Settings(data_dir=tmp_path)
    assert settings.secret_key is None
    with pytest.raises(SecretKeyError) as refused:
        settings.require_secret_key()
    assert "workbench init" in str(refused.value)
    assert "WORKBENCH_SECRET_KEY" in str(refused.value)
    assert not (tmp_path / "secret.key").exists()  # reading never creates one


def test_a_short_variable_is_refused(tmp_path, no_env_key, monkeypatch):
    monkeypatch.setenv("WORKBENCH_SECRET_KEY", "change-me")
    with pytest.raises(SecretKeyError, match="too short"):
        Settings(data_dir=tmp_path).require_secret_key()


def test_a_key_file_others_can_read_is_refused(tmp_path):
    path = tmp_path / "secret.key"
    ensure_secret_file(path)
    path.chmod(0o644)
    with pytest.raises(SecretKeyError, match="chmod 600"):
        read_secret_file(path)


def test_pseudonymising_without_a_key_is_refused():
    with pytest.raises(PrivacyError, match="workbench init"):
        pseudonymise("listener-42", key="")


def test_no_fixed_default_secret_remains_in_the_code():
    assert Settings.model_fields["secret_key"].default is None
    sources = [p for package in ("app", "routing", "safety", "labeling", "storage")
               for p in (ROOT / package).rglob("*.py")]
    offenders = [str(p.relative_to(ROOT)) for p in sources
                 if re.search(r"change-me|DEFAULT_SECRET|secret_key\s*(:\s*str\s*)?=\s*['\"]",
                              p.read_text(encoding="utf-8"))]
    assert offenders == []

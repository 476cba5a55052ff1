"""Settings: defaults, environment overrides and the one-line error on bad values."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import RoutingPolicy, SettingsError, load_settings, settings_table

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    # A developer's .env or exported variables must not leak into these tests.
    monkeypatch.chdir(tmp_path)
    for var, _, _ in settings_table():
        monkeypatch.delenv(var, raising=False)


def test_defaults_match_the_foundry_local_docs():
    s = load_settings()
    assert s.endpoint == "http://localhost:5273/v1"
    assert s.api_key == "not-needed"
    assert s.draft_model == "phi-4-mini"
    assert s.escalation_model == "gpt-oss-20b"
    assert s.routing_policy is RoutingPolicy.AUTO
    assert s.resolved_index_dir == Path("knowledge/.index")


def test_environment_and_dotenv_override(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("TOP_K=9\nDRAFT_MODEL=tiny\n")
    monkeypatch.setenv("FOUNDRY_LOCAL_ENDPOINT", "http://127.0.0.1:1234/v1/")
    monkeypatch.setenv("ROUTING_POLICY", "never")
    s = load_settings()
    assert s.top_k == 9
    assert s.draft_model == "tiny"
    assert s.endpoint == "http://127.0.0.1:1234/v1"
    assert s.routing_policy is RoutingPolicy.NEVER


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        (
            "CHUNK_TOKENS",
            "abc",
            "Invalid setting CHUNK_TOKENS='abc': Input should be a valid integer",
        ),
        ("TOP_K", "0", "Invalid setting TOP_K='0': Input should be greater than or equal to 1"),
        ("ROUTING_POLICY", "sometimes", "Invalid setting ROUTING_POLICY='sometimes'"),
        ("FOUNDRY_LOCAL_ENDPOINT", "localhost", "must be an http:// or https:// URL"),
        ("CHUNK_OVERLAP", "400", "CHUNK_OVERLAP=400 must be smaller than CHUNK_TOKENS=300"),
        ("ALLOWED_UPLOAD_TYPES", ".exe", "Invalid setting ALLOWED_UPLOAD_TYPES='.exe'"),
        # Valid to pydantic, nonsense to us: each used to start the app and fail every question.
        ("FOUNDRY_LOCAL_ENDPOINT", "http://[::1", "not a valid URL: Invalid IPv6 URL"),
        ("FOUNDRY_LOCAL_ENDPOINT", "http://host:abc/v1", "not a valid URL: Port could not"),
        ("FOUNDRY_LOCAL_ENDPOINT", "http://localhost:99999/v1", "Port out of range"),
        ("FOUNDRY_LOCAL_ENDPOINT", "http:///v1", "no host name"),
        ("READ_TIMEOUT_S", "inf", "READ_TIMEOUT_S='inf': Input should be a finite number"),
        ("CONNECT_TIMEOUT_S", "nan", "Input should be a finite number"),
        ("MIN_RETRIEVAL_SCORE", "inf", "Input should be a finite number"),
        ("ESCALATION_PRICE_OUT_PER_1K", "inf", "Input should be a finite number"),
        ("KNOWLEDGE_REFRESH_S", "-inf", "KNOWLEDGE_REFRESH_S"),
        ("KNOWLEDGE_DIR", "", "KNOWLEDGE_DIR='': must not be empty"),
        ("UPLOAD_DIR", "  ", "must not be empty"),
        ("INDEX_DIR", "", "INDEX_DIR='': must not be empty"),
        ("UPLOAD_DIR", "knowledge/private", "would make private uploads public"),
        ("UPLOAD_DIR", "knowledge", "would make private uploads public"),
        ("UPLOAD_DIR", ".", "KNOWLEDGE_DIR='knowledge' is inside UPLOAD_DIR='.'"),
        ("ALLOWED_ORIGINS", "evil", "'evil' is not an origin"),
        ("ALLOWED_ORIGINS", "https://a.example/path", "is not an origin"),
        ("MAX_QUESTION_CHARS", "10", "MAX_QUESTION_CHARS='10'"),
    ],
)
def test_invalid_value_gives_one_clear_line(monkeypatch, var, value, expected):
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    message = str(err.value)
    assert expected in message
    assert "\n" not in message


def test_cli_check_prints_one_line_and_no_traceback(tmp_path):
    env = {**os.environ, "TOP_K": "lots", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "app.config"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "Invalid setting TOP_K='lots': Input should be a valid integer, "
        "unable to parse string as an integer."
    )
    assert "Traceback" not in proc.stderr


def test_every_setting_is_documented_in_readme_and_env_example():
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    for var, _default, meaning in settings_table():
        assert meaning, f"{var} has no description"
        assert f"`{var}`" in readme, f"{var} missing from README"
        assert f"{var}=" in example, f"{var} missing from .env.example"


def test_allowed_origins_are_normalised_into_a_list(monkeypatch):
    monkeypatch.setenv("ALLOWED_ORIGINS", " https://a.example.com/ , http://b.example:8080 ")
    s = load_settings()
    assert s.allowed_origin_list == ["https://a.example.com", "http://b.example:8080"]
    monkeypatch.setenv("ALLOWED_ORIGINS", "")
    assert load_settings().allowed_origin_list == []

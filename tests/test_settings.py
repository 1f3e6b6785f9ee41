import pytest
from pydantic import ValidationError

from rag.settings import Settings


def test_env_prefix_and_types(monkeypatch, tmp_path):
    monkeypatch.setenv("XS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("XS_TOP_K", "9")
    monkeypatch.setenv("XS_LLM_API_KEY", "sk-secret")
    s = Settings()
    assert s.data_dir == tmp_path and s.top_k == 9
    assert s.store_dir == tmp_path / "store"
    assert "sk-secret" not in repr(s) and s.llm_api_key.get_secret_value() == "sk-secret"


def test_toml_file_is_read_and_env_wins(monkeypatch, tmp_path):
    cfg = tmp_path / "xs.toml"
    cfg.write_text('llm_base_url = "http://127.0.0.1:8000/v1"\nllm_model = "qwen"\ntop_k = 4\n', encoding="utf-8")
    monkeypatch.setenv("XS_CONFIG", str(cfg))
    monkeypatch.setenv("XS_TOP_K", "5")
    s = Settings()
    assert s.llm_configured and s.llm_is_local and s.top_k == 5


def test_unknown_and_invalid_values_are_rejected(monkeypatch, tmp_path):
    cfg = tmp_path / "xs.toml"
    cfg.write_text("no_such_setting = 1\n")
    monkeypatch.setenv("XS_CONFIG", str(cfg))
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.delenv("XS_CONFIG")
    with pytest.raises(ValidationError):
        Settings(chroma_mode="cloud")


def test_remote_endpoint_is_not_local():
    s = Settings(llm_base_url="https://api.deepseek.com/v1", llm_model="deepseek-chat")
    assert s.llm_configured and not s.llm_is_local
    assert not Settings().llm_configured

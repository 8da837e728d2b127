"""The one configuration object of ragchat, read from the environment and `.env`.

Every setting is documented in docs/configuration.md; nothing else in the code base reads
`os.environ`. This module holds and validates values only: it imports nothing from the
project, and what a value comes to (a preset's prompt, a model's folder) is worked out
in `chains.models`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LLMProvider = Literal["local", "huggingface", "endpoint"]
VectorBackend = Literal["local", "pinecone"]
EmbeddingBackend = Literal["onnx-int8", "torch", "torch-bf16"]
PromptStyle = Literal["small", "medium", "large"]
LLMWeights = Literal["auto", "shipped", "q8_0", "f16"]


class Settings(BaseSettings):
    """Server settings. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        # A model-level error would otherwise print every input, secrets included.
        hide_input_in_errors=True,
    )

    # --- LLM --------------------------------------------------------------
    llm_provider: LLMProvider = "local"
    llm_model: str = Field(
        default="",
        description=(
            "a preset (qwen2.5-coder-1.5b, the default for `local`; smollm2-135m) or a GGUF "
            "path for `local`; repo id for `huggingface` (default "
            "meta-llama/Meta-Llama-3-8B-Instruct); for `endpoint`, the preset the server runs."
        ),
    )
    llm_endpoint_url: str = ""
    hf_token: SecretStr | None = None
    max_new_tokens: int = Field(default=256, ge=1, le=4096)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    llm_context_tokens: int = Field(default=4096, ge=512, le=32768)
    llm_threads: int = Field(default=0, ge=0, description="0 = number of cores")
    llm_timeout_seconds: float = Field(default=120.0, gt=0)
    llama_build: Literal["auto", "tuned", "amx", "portable"] = Field(
        default="auto",
        description="local: the llama.cpp build for this CPU's AVX-512 family, the same plus "
        "AMX (CPUs with AMX), or the portable (AVX2) one; auto probes each in a child process "
        "at first start, keeps the fastest that survives",
    )
    llm_prefix_cache_bytes: int = Field(
        default=256 * 1024 * 1024, ge=0, description="RAM for kept prompt states; 0 = none"
    )
    llm_parallel: int = Field(
        default=1,
        ge=1,
        le=16,
        description="local: answers generated together in one llama.cpp batch; 1 = one at a "
        "time (each question waits for the answer before it)",
    )
    llm_prefill_chunk: int = Field(
        default=128,
        ge=16,
        le=512,
        description="local, LLM_PARALLEL > 1: prompt tokens read per step beside the running "
        "answers (smaller: smoother streams and faster cancel, larger: faster first tokens)",
    )
    llm_weights: LLMWeights = Field(
        default="auto",
        description="local: the GGUF as shipped, or converted once to q8_0/f16; auto measures "
        "which evaluates prompts fastest on this machine",
    )

    # --- Answers ----------------------------------------------------------
    prompt_style: PromptStyle | Literal["auto"] = Field(
        default="auto", description="RAG prompt wording; auto: the preset's, else large"
    )
    context_tokens: int | None = Field(
        default=None, ge=16, le=32768, description="passages in the prompt; default: preset's"
    )
    release_context_tokens: int | None = Field(
        default=None,
        ge=16,
        le=32768,
        description="passages in the prompt for a question that asks which release or "
        "version did something, or when; default: the preset's, else CONTEXT_TOKENS",
    )
    follow_up_query: Literal["previous_question", "llm"] = Field(
        default="previous_question",
        description="what a follow-up retrieves with: the previous question and this one, "
        "or an LLM rewrite (one more model call)",
    )

    # --- Server -----------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    frontend_port: int = Field(default=8501, ge=1, le=65535)
    llm_server_port: int = Field(
        default=0, ge=0, le=65535, description="`ragchat stack`'s LLM server; 0 = a free port"
    )
    data_dir: Path = Path("./data")
    max_question_chars: int = Field(default=4000, ge=1)
    max_batch_size: int = Field(default=16, ge=1)
    log_level: str = "info"

    # --- History ----------------------------------------------------------
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means sqlite under DATA_DIR.",
    )
    db_pool_size: int = Field(default=5, ge=1)
    history_max_tokens: int = Field(default=1024, ge=0)

    # --- Retrieval --------------------------------------------------------
    vector_backend: VectorBackend = "local"
    embedding_model: str = Field(
        default="",
        description="Folder of a sentence-transformers model, or all-mpnet-base-v2 (the mpnet "
        "extra); default: bundled MiniLM.",
    )
    embedding_backend: EmbeddingBackend | Literal["auto"] = Field(
        default="auto",
        description="embeds queries (and documents unless overridden); auto: onnx-int8, or "
        "torch for a model whose int8 build drifts (all-mpnet-base-v2)",
    )
    ingest_embedding_backend: EmbeddingBackend | Literal["auto"] = Field(
        default="auto",
        description="embeds documents; auto: the fastest measured here that agrees with queries",
    )
    models_dir: Path | None = Field(
        default=None, description="where built models (ONNX int8) are kept; default DATA_DIR/models"
    )
    embedding_batch_size: int = Field(default=16, ge=1, le=1024)
    chunk_size: int = Field(default=1000, ge=100, le=8000)
    chunk_overlap: int = Field(default=150, ge=0, le=2000)
    retrieval_k: int = Field(default=5, ge=1)
    max_k: int = Field(default=20, ge=1, le=200)
    hybrid_alpha: float = Field(
        default=0.9, ge=0.0, le=1.0, description="dense weight for a question in plain words"
    )
    hybrid_alpha_code: float = Field(
        default=0.4, ge=0.0, le=1.0, description="dense weight for a question that names code"
    )
    max_chunks_per_source: int | None = Field(
        default=None, ge=1, description="at most this many chunks of one page in a top-k"
    )
    max_filter_depth: int = Field(default=4, ge=1)
    max_filter_nodes: int = Field(default=64, ge=1)
    pinecone_api_key: SecretStr | None = None
    pinecone_index: str = "ragchat"
    pinecone_namespace: str = ""
    pinecone_cloud: str = "aws"
    pinecone_region: str = "us-east-1"

    # --- Documents (uploads through the API) ------------------------------
    document_admins: str = Field(
        default="", description="with API_KEYS: who may upload and delete (comma-separated)"
    )
    document_workers: int = Field(
        default=1, ge=0, le=16, description="ingest threads per server process; 0: none"
    )
    job_queue: Literal["auto", "sqlite", "redis"] = Field(
        default="auto", description="where job ids wait; auto: redis if REDIS_URL, else sqlite"
    )
    job_lease_seconds: float = Field(
        default=30.0, gt=0, description="a job whose worker is silent this long runs again"
    )
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_upload_request_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    max_files_per_upload: int = Field(default=50, ge=1)
    max_queued_jobs: int = Field(default=100, ge=1)

    # --- Hardening --------------------------------------------------------
    api_keys: SecretStr | None = Field(default=None, description="user1:key1,user2:key2")
    api_keys_file: Path | None = None
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    rate_limit_per_minute: int = Field(default=120, ge=0, description="0 disables")
    redis_url: str = ""
    metrics_users: str = Field(
        default="", description="with API_KEYS: the users who may read /metrics (comma-separated)"
    )
    max_concurrent_requests: int = Field(default=64, ge=1)
    max_history_messages: int = Field(default=200, ge=1)

    @field_validator("llm_endpoint_url", "llm_model", "database_url", "embedding_model")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator(
        "models_dir",
        "api_keys_file",
        "context_tokens",
        "release_context_tokens",
        "max_chunks_per_source",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `MODELS_DIR=` in a .env means the default, not Path("") (the current directory).
        return None if isinstance(value, str) and not value.strip() else value

    # --- Derived values ---------------------------------------------------
    @property
    def document_admin_names(self) -> frozenset[str]:
        return frozenset(u.strip() for u in self.document_admins.split(",") if u.strip())

    @property
    def auth_enabled(self) -> bool:
        return self.api_keys is not None or self.api_keys_file is not None

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def index_dir(self) -> Path:
        """Where the embedded hybrid index lives."""
        return self.data_dir / "index"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ragchat.sqlite3').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()

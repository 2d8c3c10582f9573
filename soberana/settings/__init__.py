"""Configuration: environment variables (prefix ``SOBERANA_``), an optional TOML file, defaults.

Precedence, highest first: values passed to :class:`Settings` in code, environment variables, the
TOML file named by ``SOBERANA_CONFIG``, the defaults below. Every field has a description; the
settings reference in ``docs/settings.md`` is generated from them (``make docs``) and a test keeps
it in sync.

Nothing is read at import time: call :func:`load_settings` (or build :class:`Settings`) in a
composition root — :func:`soberana.web.app.create_app` or the CLI.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource
from sqlalchemy.engine import make_url

from soberana.errors import ConfigurationError
from soberana.settings.nested import (
    ALL_SOVEREIGNTY,
    DEFAULT_PROTECTED_LABELS,
    AliasConfig,
    ClassificationRule,
    DeploymentConfig,
    PriorityClass,
    PrivacyMode,
    Sovereignty,
    _default_privacy_rules,
)

__all__ = [
    "ALL_SOVEREIGNTY",
    "DEFAULT_PROTECTED_LABELS",
    "AliasConfig",
    "ClassificationRule",
    "DeploymentConfig",
    "PriorityClass",
    "PrivacyMode",
    "Settings",
    "Sovereignty",
    "ensure_secret_key",
    "load_settings",
]

ENV_PREFIX = "SOBERANA_"
CONFIG_ENV_VAR = "SOBERANA_CONFIG"
SECRET_KEY_FILENAME = "secret_key"  # noqa: S105 - a file name, not a secret

#: Values that have appeared in examples and must never protect a production installation.
KNOWN_DEFAULT_SECRETS = frozenset(
    {"", "changeme", "change-me", "change_me", "secret", "soberana", "development", "dev", "insecure"}
)
MIN_SECRET_LENGTH = 32
#: When EU AI Act obligations apply: Annex III and I as the Digital Omnibus moved them (check the Official Journal).
AI_ACT_DATES = {"prohibited": "2025-02-02", "literacy": "2025-02-02", "gpai": "2025-08-02",
                "transparency": "2026-08-02", "annex_iii": "2027-12-02", "annex_i": "2028-08-02"}  # fmt: skip


class Settings(BaseSettings):
    """Every setting of a Soberana installation."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    environment: Literal["development", "production"] = Field(
        "development",
        description="`development` allows a generated secret key and verbose errors in logs; "
        "`production` refuses to start unless every secret is set explicitly and strong.",
    )
    data_dir: Path = Field(
        Path("var"),
        description="Directory for the embedded SQLite database, the generated development secret key "
        "and other local state. Created when missing.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy database URL. Empty means the embedded SQLite database "
        "`<data_dir>/soberana.db` (WAL mode). For the scale-out path use PostgreSQL, e.g. "
        "`postgresql://user:password@host:5432/soberana` (the async driver is chosen automatically).",
    )
    db_pool_size: int = Field(10, ge=1, le=200, description="Connections kept open per process (PostgreSQL only).")
    db_echo: bool = Field(False, description="Log every SQL statement (development aid; never in production).")
    sqlite_busy_timeout_ms: int = Field(
        5000, ge=0, description="How long a SQLite writer waits for another writer's lock before failing."
    )
    host: str = Field("127.0.0.1", description="Interface the HTTP server listens on.")
    port: int = Field(8080, ge=1, le=65535, description="TCP port the HTTP server listens on.")
    workers: int = Field(
        1, ge=1, le=64, description="Server worker processes (keep 1 with SQLite; scale out with PostgreSQL)."
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Comma-separated proxy addresses trusted to set X-Forwarded-For/-Proto "
        "(the reverse proxy in front of Soberana).",
    )
    public_base_url: str | None = Field(
        None, description="External URL of this installation, shown on the landing page and in links."
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Server secret (at least 32 characters) that keys the HMAC-SHA256 digests of API keys "
        "and signs sessions. Required in production. In development, when empty, a random key is "
        "generated once and kept in `<data_dir>/secret_key`. Changing it invalidates every API key.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Level of the server's and CLI's logs (`debug` shows every request's details)."
    )
    docs_enabled: bool = Field(True, description="Serve the interactive OpenAPI documentation at `/docs`.")
    access_log: bool = Field(True, description="Log one line per HTTP request (method, path, status; never bodies).")
    max_request_body_bytes: int = Field(
        2 * 1024 * 1024,
        ge=1024,
        description="Largest request body accepted, in bytes; larger requests get 413 before being read whole.",
    )
    api_key_default_ttl_days: int = Field(
        90, ge=0, description="Lifetime of a new API key when none is given; 0 means keys do not expire by default."
    )
    api_key_max_ttl_days: int = Field(
        365, ge=0, description="Longest lifetime an API key may be given; 0 allows keys that never expire."
    )
    api_key_last_used_resolution_seconds: int = Field(
        60,
        ge=0,
        description="A key's last-used time is written at most this often, so authentication does not "
        "write to the database on every request.",
    )
    audit_refused_authentication: bool = Field(
        True,
        description="Record refused authentications in the audit log: the first of each client address, key "
        "prefix or account and reason in a minute at once, the rest of that minute as one entry with a count.",
    )
    auth_refusals_per_minute: int = Field(
        30,
        ge=1,
        description="Refused authentications one client address may cause per minute; over it the answer is 429 "
        "with Retry-After (counted in the audit log, not written one by one).",
    )
    auth_cache_seconds: float = Field(
        5.0,
        ge=0,
        description="How long a verified API key is remembered in memory, so the model API does not query the "
        "database on every call. A key revoked in this process is forgotten at once; other processes "
        "forget it within this time. 0 disables the cache.",
    )

    # -- model gateway --------------------------------------------------------------------------------
    redis_url: str | None = Field(
        None,
        description="Redis URL (e.g. `redis://127.0.0.1:6379/0`). When set, quota counters live there, so "
        "several gateway processes share one limit; otherwise they live in this process.",
    )
    deployments: list[DeploymentConfig] = Field(
        default_factory=list,
        description="Model deployments (a TOML array of tables `[[deployments]]`, or JSON in the environment). "
        "More can be added in the admin API.",
    )
    model_aliases: list[AliasConfig] = Field(
        default_factory=list, description="Routing strategy and description per public model name."
    )
    demo_models: bool = Field(
        True,
        description="Offer the embedded demo models when their packages are installed: SmolLM2-135M "
        "(`smollm2-135m-demo`, a plumbing model far too small to answer citizens) and multilingual-e5-small "
        "(`multilingual-e5-small`) for embeddings.",
    )
    currency: str = Field("EUR", min_length=3, max_length=3, description="Currency of prices and budgets.")
    upstream_connect_timeout_seconds: float = Field(5.0, gt=0, description="Connecting to an upstream API.")
    upstream_read_timeout_seconds: float = Field(
        120.0, gt=0, description="Waiting for an upstream's next bytes (non-stream: the whole answer)."
    )
    upstream_max_connections: int = Field(512, ge=1, description="Pooled connections to upstream APIs, in all.")
    upstream_retries: int = Field(
        2, ge=0, le=10, description="Extra attempts after a connection error, 429 or 5xx, across deployments."
    )
    upstream_backoff_seconds: float = Field(0.2, ge=0, description="First retry delay; doubles each retry.")
    cooldown_failures: int = Field(
        3, ge=1, description="Consecutive failures after which a deployment is cooled down (taken out of routing)."
    )
    cooldown_seconds: float = Field(30.0, gt=0, description="How long a failing deployment is left out.")
    priority_wait_seconds: float = Field(
        10.0, gt=0, description="Longest a request waits for a free slot on a full deployment before 503."
    )
    priority_queue_limit: int = Field(
        256, ge=1, description="Requests waiting per deployment; beyond it the lowest class (`batch`) is shed first."
    )
    default_priority: PriorityClass = Field("interactive", description="Priority class of keys that name none.")
    usage_flush_seconds: float = Field(1.0, gt=0, description="How often buffered usage records are written.")
    usage_flush_records: int = Field(500, ge=1, description="Write earlier when this many records are waiting.")
    content_logging_orgs: list[str] = Field(
        default_factory=list,
        description="Slugs of organisations whose prompts and responses are stored with their usage records. "
        "Empty: content is never stored.",
    )
    energy_joules_per_flop: float = Field(
        1e-11,
        gt=0,
        description="Energy per floating-point operation for the usage energy estimate (2 × parameters FLOPs "
        "per token); the default (10 pJ/FLOP) is a rough figure for current data-centre GPUs.",
    )

    # -- knowledge collections and grounded answers ----------------------------------------------------
    knowledge_embedding_model: str = Field(
        "multilingual-e5-small",
        description="Model alias (served by the gateway) that embeds passages and questions of new collections. "
        "Any alias with the `embeddings` capability: the embedded model by default, an OpenAI-compatible "
        "endpoint (TEI, vLLM) in production.",
    )
    knowledge_answer_model: str | None = Field(
        None,
        description="Chat model alias that writes grounded answers. Empty: answers are extractive (the most "
        "relevant sentences, quoted, with their citations).",
    )
    knowledge_rerank_model: str | None = Field(
        None,
        description="Model alias with the `rerank` capability (a cross-encoder behind a vLLM, TEI, Jina or "
        "Cohere-compatible `/rerank` API) that re-orders the best fused passages. Empty: no reranking.",
    )
    knowledge_vector_index: Literal["auto", "memory", "pgvector"] = Field(
        "auto",
        description="Where dense vectors are searched: `memory` (an in-process NumPy index loaded from the "
        "database), `pgvector` (PostgreSQL with the vector extension), `auto` (pgvector when available).",
    )
    knowledge_languages: list[str] = Field(
        default_factory=lambda: ["en", "es", "is", "pl", "pt"],
        description="Languages detected in documents and questions (ISO 639-1). Answers use the question's "
        "language; the interface is in English, Spanish and Icelandic.",
    )
    knowledge_chunk_target_words: int = Field(160, ge=20, le=2000, description="Preferred passage size in words.")
    knowledge_chunk_max_words: int = Field(280, ge=40, le=4000, description="Largest passage size in words.")
    knowledge_embed_batch: int = Field(32, ge=1, le=2048, description="Passages per embeddings request while indexing.")
    knowledge_embed_concurrency: int = Field(
        4,
        ge=1,
        le=64,
        description="Embeddings requests in flight while indexing (raise it for a GPU endpoint so it stays busy).",
    )
    knowledge_max_upload_bytes: int = Field(
        50 * 1024 * 1024, ge=1024, description="Largest document accepted by the upload API, in bytes."
    )
    knowledge_parse_workers: int = Field(
        2,
        ge=0,
        le=64,
        description="Worker processes that parse uploaded documents, each file within "
        "`SOBERANA_KNOWLEDGE_PARSE_TIMEOUT_SECONDS` and each worker within `SOBERANA_KNOWLEDGE_PARSE_MEMORY_MB`, "
        "so that a crafted file fails alone instead of the server. Started on the first upload. 0: files are "
        "parsed in the server process itself, without those limits (development only: production refuses it).",
    )
    knowledge_parse_timeout_seconds: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="Longest time one uploaded file may take to parse; past it its worker is killed and the file "
        "is refused, named in the ingestion job's errors.",
    )
    knowledge_parse_memory_mb: int = Field(
        512,
        ge=128,
        le=1024 * 1024,
        description="Address space of each parsing worker, in MiB (the parsing libraries take about 60); a file "
        "that needs more is refused, named in the ingestion job's errors.",
    )
    knowledge_top_k: int = Field(8, ge=1, le=100, description="Passages retrieved for an answer.")
    knowledge_abstain_threshold: float | None = Field(
        None,
        description="Lowest relevance (the best passage's dense similarity) for which an answer is given; below "
        "it the assistant abstains and offers a person. Empty: the threshold calibrated for the embedding model.",
    )
    citizen_questions_per_minute: int = Field(
        20,
        ge=1,
        description="Questions one client address may ask public assistants per minute (anonymous conversations "
        "have no key, so they are limited by address; over it: 429 with Retry-After).",
    )
    citizen_conversations_per_minute: int = Field(
        10, ge=1, description="New citizen conversations one client address may open per minute (over it: 429)."
    )
    citizen_handoffs_per_minute: int = Field(
        3, ge=1, description="Requests to talk to a person one client address may make per minute (over it: 429)."
    )
    citizen_requests_per_minute: int = Field(
        120,
        ge=1,
        description="Other requests one client address may make of its conversations per minute: reading one "
        "(the page polls it while a person is asked for), feedback, erasure (over it: 429).",
    )
    citizen_answer_max_tokens: int = Field(
        800,
        ge=16,
        le=32_000,
        description="Longest generated answer to a citizen, in tokens (the model's `max_tokens`).",
    )
    conversation_retention_days: int = Field(
        30, ge=1, description="How long an anonymous citizen conversation is kept after its last message."
    )
    workspace_retention_days: int = Field(
        90, ge=1, description="How long a staff member's saved conversation with a model is kept after it last changed."
    )

    # -- web application ---------------------------------------------------------------------------------
    web_default_language: Literal["es", "en", "is"] = Field(
        "en", description="Interface language when neither the visitor's choice nor the browser's names one we have."
    )
    web_session_hours: float = Field(8.0, gt=0, description="How long a staff sign-in lasts.")
    web_handoff_poll_seconds: int = Field(
        10,
        ge=2,
        le=300,
        description="While a citizen's hand-off case is open, how often the assistant's page (with JavaScript) "
        "looks for the staff member's reply.",
    )
    web_secure_cookies: bool | None = Field(
        None,
        description="Mark cookies `Secure` (sent over HTTPS only). Empty: yes in production, no in development.",
    )
    sign_in_attempts_per_minute: int = Field(
        5, ge=1, description="Sign-in attempts allowed per client address and per account each minute (then 429)."
    )

    # -- data protection -------------------------------------------------------------------------------
    privacy_classifications: list[str] = Field(
        default_factory=lambda: ["public", "internal", "confidential", "secret"],
        min_length=1,
        description="Data classification levels, least sensitive first. A request is handled at the highest of "
        "its own (`X-Soberana-Classification`), its key's or organisation's default and its collections' levels.",
    )
    privacy_default_classification: str = Field(
        "internal", description="Classification of requests that state none (organisations and keys may set their own)."
    )
    privacy_rules: dict[str, ClassificationRule] = Field(
        default_factory=_default_privacy_rules,
        description="Per classification: the personal-data mode and the deployment sovereignty values allowed "
        "(JSON). Default: `public` detect, any; `internal` pseudonymise, any; `confidential` pseudonymise, "
        "on_premises and national_cloud; `secret` pseudonymise, on_premises only. Organisation and key policies "
        "override these.",
    )
    privacy_labels: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PROTECTED_LABELS),
        description="Kinds of personal data that are pseudonymised, redacted or blocked (labels of "
        "`soberana.privacy.entities`; an organisation's custom detectors add theirs).",
    )
    privacy_detection_cache: int = Field(
        4096,
        ge=0,
        description="Messages whose findings are remembered (by SHA-256), so a long conversation is not scanned "
        "again at every turn. 0 turns the cache off.",
    )
    privacy_max_text_chars: int = Field(
        200_000, ge=1000, description="Longest text scanned for personal data in one request; longer is refused (413)."
    )
    vault_ttl_hours: float = Field(
        24.0, gt=0, description="How long a conversation's placeholders and their values stay in the vault."
    )
    usage_retention_days: int | None = Field(400, ge=1, description="How long usage records are kept. Empty: for ever.")
    retention_purge_minutes: float = Field(
        60.0, gt=0, description="How often the server deletes what is past its retention period."
    )

    # -- governance ------------------------------------------------------------------------------------
    governance_aia_dir: str | None = Field(
        None,
        description="Directory holding Canada's Algorithmic Impact Assessment questionnaire "
        "(`survey-enfr.json`, `en.json`, `fr.json` of canada-ca/aia-eia-js, MIT). Empty: no AIA.",
    )
    governance_ai_act_dates: dict[str, dt.date] = Field(
        default_factory=lambda: {k: dt.date.fromisoformat(v) for k, v in AI_ACT_DATES.items()},
        description="When each group of EU AI Act obligations applies, as JSON; the groups not named keep "
        f"their default. Defaults: {', '.join(f'`{k}` {v}' for k, v in AI_ACT_DATES.items())}.",
    )
    governance_enforcement: Literal["off", "warn", "enforce"] = Field(
        "off",
        description="Run-time enforcement of the register of AI use cases. `off`: traffic is not checked; "
        "`warn`: traffic the register does not allow passes with an `x-soberana-governance` header and an "
        "audit entry; `enforce`: it is refused (403, a `use_case_*` or `model_not_approved` code).",
    )
    transparency_requests_per_minute: int = Field(
        120,
        ge=1,
        description="Requests one client address may make per minute of the public transparency records "
        "(pages, JSON, CSV; no sign-in), over it: 429.",
    )
    governance_check_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="How often each server process checks whether the register changed (a suspended use "
        "case is refused within this time plus a reload; with `redis_url` set, a change is also signalled).",
    )
    governance_audit_seconds: float = Field(
        60.0,
        ge=0,
        description="Refused or warned traffic is audit-logged once per key or assistant, reason and this "
        "many seconds in each process (the count of the others is in the next entry); 0: every request.",
    )

    # -- evaluations -----------------------------------------------------------------------------------
    evaluations_suites_dir: str | None = Field(
        None,
        description="Directory of the installation's own evaluation suites (`*.yaml`, docs/evaluations.md) and, "
        "optionally, its `_gate.yaml` (which suites an approval needs, and their thresholds). Empty: the "
        "project's suites only.",
    )
    evaluations_gate: Literal["off", "warn", "enforce"] = Field(
        "enforce",
        description="Evaluations as approval evidence. `enforce`: a use case is not approved while a suite its "
        "risk requires is missing, stale or below its threshold (409 `evaluation_evidence_missing`), and a "
        "change to a running use case re-runs its suites (a regression opens an incident); `warn`: the gaps "
        "are recorded with the approval; `off`: neither.",
    )
    evaluations_concurrency: int = Field(4, ge=1, le=64, description="Cases of one run asked at the same time.")
    evaluations_case_timeout_seconds: float = Field(
        180.0, gt=0, le=3600, description="A case not answered and scored in this time fails (never passes)."
    )

    # -- training --------------------------------------------------------------------------------------
    training_courses_dir: str | None = Field(
        None,
        description="Directory of the courses administrators imported (`soberana training import`). Empty: "
        "`<data_dir>/courses`.",
    )
    training_gate: Literal["off", "enforce"] = Field(
        "off",
        description="Training as a gateway policy. `enforce`: a person (a signed-in user, or a key owned by a "
        "user) is refused models (403 `training_required`, naming the course and its page) until they hold a "
        "valid completion of the baseline course; service accounts and the platform's own work are exempt.",
    )
    training_baseline_course: str = Field(
        "ai-literacy", description="The course every person completes before using models (`training_gate`)."
    )
    training_oversight_course: str = Field(
        "high-risk-oversight",
        description="The course the people who operate a high-risk use case (or one at AIA level III or IV) complete, "
        "as the register's evidence of trained operators.",
    )
    training_reminder_days: int = Field(
        30, ge=1, le=365, description="How many days before a completion expires its holder is reminded to renew it."
    )
    training_check_seconds: float = Field(
        30.0, ge=0, le=3600, description="How long a process remembers that a person holds the baseline course."
    )
    training_certificate_checks_per_minute: int = Field(
        60, ge=1, description="Certificate checks one client address may make per minute on the public page."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_path = os.environ.get(CONFIG_ENV_VAR)
        if config_path:
            path = Path(config_path)
            if not path.is_file():
                raise ConfigurationError(f"{CONFIG_ENV_VAR} names {path}, which is not a readable file.")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            url = make_url(value)
        except Exception as exc:  # sqlalchemy raises ArgumentError with the URL inside
            raise ValueError("database_url is not a valid database URL") from exc
        backend = url.get_backend_name()
        if backend == "sqlite":
            url = url.set(drivername="sqlite+aiosqlite")
        elif backend == "postgresql":
            url = url.set(drivername="postgresql+asyncpg")
        else:
            raise ValueError(f"database_url: unsupported database {backend!r} (use sqlite or postgresql)")
        return url.render_as_string(hide_password=False)

    @model_validator(mode="after")
    def _check_classifications(self) -> Settings:
        levels = self.privacy_classifications
        if len(set(levels)) != len(levels):
            raise ValueError("privacy_classifications must not repeat a level")
        if self.privacy_default_classification not in levels:
            raise ValueError(f"privacy_default_classification must be one of {levels}")
        unknown = sorted(set(self.privacy_rules) - set(levels))
        if unknown and "privacy_rules" in self.model_fields_set:
            raise ValueError(f"privacy_rules names unknown classifications: {unknown}")
        if unknown:  # the default rules, with levels renamed: keep those that still exist
            object.__setattr__(self, "privacy_rules", {k: v for k, v in self.privacy_rules.items() if k in levels})
        # rules given for some levels keep the defaults of the others (a partial override must not
        # open `confidential` to every deployment)
        defaults = {k: v for k, v in _default_privacy_rules().items() if k in levels}
        missing = {k: v for k, v in defaults.items() if k not in self.privacy_rules}
        if missing:
            object.__setattr__(self, "privacy_rules", {**missing, **self.privacy_rules})
        return self

    @model_validator(mode="after")
    def _refuse_weak_secrets_in_production(self) -> Settings:
        if self.environment != "production":
            return self
        problems = []
        secret = self.secret_key.get_secret_value() if self.secret_key else ""
        if not secret:
            problems.append("SOBERANA_SECRET_KEY is not set")
        elif secret.strip().lower() in KNOWN_DEFAULT_SECRETS:
            problems.append("SOBERANA_SECRET_KEY is a well-known default value")
        elif len(secret) < MIN_SECRET_LENGTH:
            problems.append(f"SOBERANA_SECRET_KEY is shorter than {MIN_SECRET_LENGTH} characters")
        if self.database_url:
            password = make_url(self.database_url).password
            if password is not None and str(password).strip().lower() in KNOWN_DEFAULT_SECRETS | {"postgres"}:
                problems.append("the database password in SOBERANA_DATABASE_URL is a well-known default value")
        if self.db_echo:
            problems.append("SOBERANA_DB_ECHO would write data to the logs")
        if self.knowledge_parse_workers == 0:
            problems.append("SOBERANA_KNOWLEDGE_PARSE_WORKERS=0 would parse uploaded files without limits")
        if problems:
            raise ValueError(
                "refusing to run in production: "
                + "; ".join(problems)
                + ". Generate a secret with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return self

    # -- derived values -------------------------------------------------------------------------

    @property
    def effective_database_url(self) -> str:
        """The database URL in use: ``database_url`` or the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'soberana.db').resolve()}"

    @property
    def secret_key_bytes(self) -> bytes:
        """The server secret as bytes. Call :func:`ensure_secret_key` first in development."""
        if self.secret_key is None:
            raise ConfigurationError("no secret key: call ensure_secret_key(settings) at start-up")
        return self.secret_key.get_secret_value().encode("utf-8")

    def public_dict(self) -> dict[str, Any]:
        """Effective configuration, secrets masked, for `soberana settings` and diagnostics."""
        values: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "****" if value.get_secret_value() else ""
            elif isinstance(value, Path):
                value = str(value)
            values[name] = value
        values["database_url"] = make_url(self.effective_database_url).render_as_string(hide_password=True)
        return values


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment and TOML file; turn validation errors into one message."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{where}: {message}")
        raise ConfigurationError("invalid configuration: " + " | ".join(lines)) from None


def ensure_secret_key(settings: Settings) -> Settings:
    """Return settings with a secret key, generating a persistent one in development if needed."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings
    if settings.environment == "production":  # pragma: no cover - the validator already refused
        raise ConfigurationError("SOBERANA_SECRET_KEY is required in production")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / SECRET_KEY_FILENAME
    if path.exists():
        secret = path.read_text(encoding="utf-8").strip()
    else:
        secret = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secret + "\n")
    return settings.model_copy(update={"secret_key": SecretStr(secret)})

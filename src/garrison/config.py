"""Settings: typed, read once at startup, ``GARRISON_`` prefix, secrets masked.

Precedence: environment > secret files > config file > default. The config file is
TOML, found at ``$GARRISON_CONFIG`` or ``$GARRISON_HOME/garrison.toml``. Secret files
live in ``$GARRISON_SECRETS_DIR`` (a mounted Kubernetes Secret), one per secret
setting, named after it (``database_url``), so that secrets need not pass through
the environment. Every field has a
description; ``docs/reference/settings.md`` is generated from them and a test
checks it is current. The core never reads settings: the composition root
(``garrison.app``) passes plain values to constructors.

This module holds what the settings are (fields and their checks). Where values come
from and how a bad one is reported live in ``garrison._config_sources``; the paths derived
from them (``database``, ``artifacts``, ``keys_dir``, ...) in ``garrison._config_layout``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from garrison._config_layout import HomeLayout
from garrison._config_sources import (
    SECRET_FILE_SETTINGS,
    config_file_path,
    invalid_configuration,
    settings_sources,
)
from garrison._config_sources import default_home as _default_home

__all__ = ["SECRET_FILE_SETTINGS", "Settings", "config_file_path", "load_settings"]


class Settings(HomeLayout, BaseSettings):
    """Every setting of a Garrison installation."""

    model_config = SettingsConfigDict(
        env_prefix="GARRISON_", extra="forbid", frozen=True, validate_default=True
    )

    home: Path = Field(
        default_factory=_default_home,
        description="Directory holding the keyring, the SQLite database, artifacts and the "
        "audit witness file. Created with mode 0700 by `garrison init`.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL of the database: `sqlite:///PATH` (default: "
        "`HOME/garrison.db`) or `postgresql+psycopg://USER:PASSWORD@HOST/DB`. Masked in logs.",
    )
    artifact_store: Literal["local", "s3"] = Field(
        default="local",
        description="Where sealed model artifacts live: `local` (artifact_dir; on Kubernetes "
        "a ReadWriteMany volume every replica mounts) or `s3` (S3-compatible object "
        "storage, the `s3` extra). Artifacts are sealed (AES-256-GCM) either way and "
        "authenticated at every load.",
    )
    artifact_dir: Path | None = Field(
        default=None,
        description="Directory of encrypted model artifacts (default: `HOME/artifacts`).",
    )
    artifact_cache_dir: Path | None = Field(
        default=None,
        description="Local cache of sealed artifacts read from object storage (default: "
        "`HOME/cache/artifacts`). Only blobs that authenticated are cached, and a cached "
        "blob is authenticated again at every load.",
    )
    artifact_cache_max_bytes: int | None = Field(
        default=None, ge=1_048_576,
        description="Bound of the artifact cache in bytes; past it the least recently used "
        "blobs are removed. Unset: no bound (size the volume for every served version).",
    )
    s3_bucket: str | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        description="Bucket of the `s3` artifact store.")
    s3_prefix: str = Field(
        default="artifacts/", pattern=r"^([A-Za-z0-9._-]+/)*$",
        description="Key prefix of artifacts in the bucket (several installations can share "
        "one bucket).")
    s3_endpoint_url: str | None = Field(
        default=None, pattern=r"^https?://",
        description="Endpoint of an S3-compatible service (MinIO, Ceph RGW, ...); unset for "
        "AWS S3.")
    s3_region: str | None = Field(default=None, description="Region of the bucket.")
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto",
        description="Bucket addressing: `path` for most self-hosted S3-compatible services.")
    s3_ca_bundle: Path | None = Field(
        default=None, description="PEM bundle of the CA that signed the endpoint's "
        "certificate (a private CA); unset: the system's trust store.")
    s3_credentials_file: Path | None = Field(
        default=None,
        description="Credentials file (INI, as `~/.aws/credentials`) mounted from a Secret; "
        "held to the key-file mode rule. Unset: boto3's chain (web identity / IRSA, "
        "instance profile, environment).")
    redis_url: SecretStr | None = Field(
        default=None,
        description="Redis URL (`redis://HOST:6379/0`) used to share rate limits, quotas and "
        "caches across workers and replicas. Unset: in-process limits. Masked in logs.",
    )
    key_dir: Path | None = Field(
        default=None,
        description="Directory of the secret key files: master keys (`master-*.key`, "
        "`master-active`), the decision-input and pseudonymization keys (default: "
        "`HOME/keys`). On Kubernetes a Secret mounted read-only. Key files must belong to "
        "the user running Garrison with mode 0600/0400, or to root with mode 0640/0440.",
    )
    signing_key_dir: Path | None = Field(
        default=None,
        description="Directory of the Ed25519 signing keyring (`*.pem` and `active`; "
        "default: `KEY_DIR/signing`). May be the same directory as key_dir.",
    )
    model_signing_key_dir: Path | None = Field(
        default=None,
        description="Directory of Garrison's OpenSSF model-signing keys (ECDSA P-256 `*.pem` "
        "and `active`; default: `KEY_DIR/model-signing`). On Kubernetes a second Secret "
        "mounted read-only (its layout would clash with the signing keyring's in one folder).",
    )
    master_key: SecretStr | None = Field(
        default=None,
        description="Base64 of a 32-byte key that wraps artifact data keys. Unset: the key "
        "files `KEY_DIR/master-*.key` are used (the first one is created on first use). "
        "Prefer key files: an environment variable shows in process dumps. Masked in logs.",
    )
    log_format: Literal["console", "json"] = Field(
        default="console", description="Log output: human `console` or structured `json`."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Minimum level of log records."
    )
    audit_checkpoint_every: int = Field(
        default=1000, ge=1, le=1_000_000,
        description="Keep a signed checkpoint of the audit chain every N events.",
    )
    audit_witness_file: Path | None = Field(
        default=None,
        description="Append-only file that mirrors signed audit checkpoints outside the "
        "database (default: `HOME/audit/witness.jsonl`). Ship it off the host for "
        "truncation evidence that survives a database compromise.",
    )
    decision_window: int = Field(
        default=4096, ge=64, le=1_000_000,
        description="Decision records each gateway worker may have answered but not yet "
        "stored. Numbers are reserved in the audit trail this far ahead; beyond it the "
        "gateway answers 503 rather than serve without a record. After a crash at most this "
        "many answered predictions per worker lack a record, and `audit decisions` says so.",
    )
    decision_lease: float = Field(
        default=60.0, ge=0.05, le=3600.0,
        description="Seconds between the heartbeats of an idle decision log. "
        "`audit decisions` reports a log silent for twice this long, and never closed, as "
        "`unclosed` (its worker stopped without flushing).",
    )
    scan_allow: list[str] = Field(
        default_factory=list,
        description="Extra importable callables the artifact scanner and loader accept, as "
        "`module.name` or `module.*` (JSON list in the environment). Every change of this "
        "list is recorded in the audit trail at startup.",
    )
    smoke_test_timeout: float = Field(
        default=120.0, gt=0, le=3600,
        description="Deadline in seconds for the servability smoke test (load the signed "
        "artifact and predict its reference rows, in a separate process) that runs at "
        "registration and before approve, promote, rollback and a fallback assignment.",
    )
    require_gates: bool = Field(
        default=False,
        description="Refuse to approve or promote any version of a model that has no release-"
        "gate policy (`garrison gate policy set`). Off: a model without a policy is governed "
        "as before (scan, signature, servability, four eyes); a model with one always needs "
        "a passing gate report or an approved override.",
    )
    gate_shadow_min_agreement: float = Field(
        default=0.9, ge=0, le=1,
        description="Minimum shadow agreement (share of mirrored rows on which the shadow "
        "version answered as production) for shadow -> production of a model under a "
        "release-gate policy whose deployment sets no `shadow_min_agreement` of its own.",
    )
    gate_timeout: float = Field(
        default=1800.0, gt=0, le=86400,
        description="Deadline in seconds of one release-gate run (the evaluation runs in a "
        "separate process, killed at the deadline).",
    )
    gate_memory_mb: int = Field(
        default=4096, ge=256, le=1_048_576,
        description="Address-space limit in MiB of the release-gate process (RLIMIT_AS): a "
        "model or data set that needs more fails the run, never the server.",
    )
    model_signing_trusted_keys: list[Path] = Field(
        default_factory=list,
        description="PEM public keys (ECDSA P-256/384/521) of the signers whose OpenSSF "
        "model signatures (`model_signing sign key`) registration accepts (JSON list in the "
        "environment).",
    )
    model_signing_identity: str | None = Field(
        default=None,
        description="A keyless Sigstore signer whose OpenSSF model signatures registration "
        "accepts (an e-mail or workflow URI); needs `model_signing_oidc_issuer` and network "
        "access to Sigstore.",
    )
    model_signing_oidc_issuer: str | None = Field(
        default=None, description="The OIDC issuer of `model_signing_identity`.",
    )
    require_model_signature: bool = Field(
        default=False,
        description="Refuse to register an artifact without an OpenSSF model signature from "
        "a trusted signer.",
    )
    host: str = Field(default="127.0.0.1", description="Address `garrison serve` binds to.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port of the inference gateway.")
    grpc_port: int | None = Field(
        default=None, ge=1, le=65535,
        description="Port of the Open Inference Protocol v2 gRPC service "
        "(`inference.GRPCInferenceService`) in every gateway worker; off when unset. It "
        "binds `host`, uses the gateway's TLS pair when set, and refuses messages over "
        "`max_body_bytes`.",
    )
    workers: int = Field(default=1, ge=1, le=64,
                         description="Gateway worker processes (each loads every model).")
    tls_cert_file: Path | None = Field(
        default=None,
        description="PEM certificate chain: the gateway serves HTTPS only (TLS 1.2 or newer). "
        "Give it with tls_key_file, or neither to terminate TLS at a proxy or ingress.",
    )
    tls_key_file: Path | None = Field(
        default=None,
        description="PEM private key of tls_cert_file; refused unless its mode is 0600 or "
        "stricter.",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, le=256 * 1_048_576,
        description="Largest accepted request body in bytes (413 above it).",
    )
    max_batch_rows: int = Field(default=1000, ge=1, le=100_000,
                                description="Most rows (instances) in one prediction request.")
    max_concurrency: int = Field(
        default=64, ge=1, le=10_000,
        description="Requests served at once by one worker; more are shed with 503 + Retry-After.",
    )
    request_timeout: float = Field(
        default=2.0, gt=0, le=300, description="Deadline in seconds for one model call."
    )
    body_timeout: float = Field(
        default=10.0, gt=0, le=300,
        description="Seconds a client may take to send a request body (slow clients get 422 "
        "slow-body instead of holding a worker).",
    )
    header_timeout: float = Field(
        default=10.0, gt=0, le=300,
        description="Seconds a client may take to send a request's headers, counted from the "
        "connection or the request's first byte (408 and close after; stops slowloris).",
    )
    max_queue_wait: float = Field(
        default=1.0, ge=0, le=300,
        description="Seconds a request may have waited in the kernel before a gateway worker "
        "reads it; an older one is shed at once (503 + Retry-After) so that a worker behind "
        "its load catches up instead of answering late (0: never; Linux only).",
    )
    max_header_bytes: int = Field(
        default=65_536, ge=4096, le=1_048_576,
        description="Largest request header section in bytes (431 and close above it).",
    )
    shutdown_delay: float = Field(
        default=0.0, ge=0, le=300,
        description="Seconds a gateway worker keeps serving after SIGTERM while its readiness "
        "already fails, so that load balancers and Kubernetes endpoints stop routing to it "
        "before it stops accepting (0: stop accepting at once). Set it above the readiness "
        "probe's period; the Helm chart uses 10.",
    )
    drain_timeout: float = Field(
        default=30.0, gt=0, le=600,
        description="Seconds a stopping gateway waits for the requests in flight before it "
        "cancels them; decision records and audit events are flushed after that.",
    )
    worker_healthcheck_timeout: int = Field(
        default=60, ge=5, le=900,
        description="Seconds a gateway worker may leave the supervisor's health check "
        "unanswered before it is killed and replaced (with --workers above 1). A worker "
        "imports its code and loads and verifies every served model before it serves; "
        "set this above that time on the slowest start you expect (the log says how long "
        "each worker's start took).",
    )
    native_threads: int = Field(
        default=1, ge=1, le=256,
        description="Threads each gateway worker lets BLAS / OpenMP use. Workers are the "
        "parallelism; more native threads per worker oversubscribe the cores and spin idle.",
    )
    rate_limit: float = Field(
        default=100.0, gt=0,
        description="Default sustained rows per second per caller and model (each row of a "
        "request costs one token; a request costs at least one).")
    rate_burst: int = Field(
        default=1000, ge=1,
        description="Default bucket size per caller and model, in rows: the most rows a "
        "caller may send at once, so also the largest request its rate limit admits.")
    daily_quota: int | None = Field(
        default=100_000, ge=1,
        description="Default rows a caller may score per model per UTC day (every row is a "
        "query a model-extraction attack needs); "
        "unset for none.",
    )
    drift_window: int = Field(
        default=5000, ge=100, le=1_000_000,
        description="Live input rows per drift window; each full window is compared with the "
        "version's reference profile and a drifted window raises an alert.",
    )
    drift_sample: int = Field(
        default=1000, ge=100, le=1_000_000,
        description="Rows of each drift window the drift tests see: a uniform random sample "
        "(reservoir sampling) of the window's rows, so that a window costs the same CPU "
        "whatever the traffic and the statistics stay unbiased. At or above drift_window, "
        "every row.",
    )
    oidc_issuer: str | None = Field(default=None,
                                    description="OIDC issuer URL; enables JWT bearer tokens.")
    oidc_audience: str | None = Field(default=None, description="Expected JWT audience.")
    oidc_jwks_url: str | None = Field(default=None, description="JWKS URL of the issuer.")
    allow_never_expiring_keys: bool = Field(
        default=False,
        description="Allow admins (and only admins) to create API keys that never expire "
        "(`key create --no-expiry`). Off: every key expires within 3,650 days.",
    )
    oidc_role_map: dict[str, str] = Field(
        default_factory=dict,
        description="Gateway: the identity provider's roles (from the token's `roles` claim) "
        "that count, each mapped to a Garrison role, as JSON (`{\"ml-scorers\": \"client\"}`). "
        "Empty (the default): an OIDC token carries no role, whatever it claims.",
    )
    console_idle_minutes: int = Field(
        default=15, ge=1, le=240,
        description="Web console: a session unused for this many minutes ends for good.",
    )
    console_session_hours: int = Field(
        default=8, ge=1, le=24,
        description="Web console: a session ends this many hours after sign-in, used or not "
        "(and never outlives the API key it was opened with).",
    )
    console_login_failures: int = Field(
        default=5, ge=1, le=100,
        description="Web console: failed sign-ins allowed per client address (and per API "
        "key) within console_login_window seconds before further attempts get 429.",
    )
    console_login_window: int = Field(
        default=900, ge=60, le=86_400,
        description="Web console: seconds over which failed sign-ins are counted.",
    )
    console_public_url: str | None = Field(
        default=None,
        description="Web console: the address people open, such as "
        "`https://garrison.example.com` (no path). Needed behind a TLS proxy (cookies are "
        "then `Secure`) and for OIDC sign-in (the redirect URI is derived from it).",
    )
    console_oidc_client_id: str | None = Field(
        default=None,
        description="Web console: OIDC client id; with oidc_issuer set, enables sign-in with "
        "the identity provider (authorization code flow with PKCE).",
    )
    console_oidc_client_secret: SecretStr | None = Field(
        default=None,
        description="Web console: OIDC client secret for a confidential client (unset for a "
        "public client, which relies on PKCE alone). Masked in logs.",
    )
    console_oidc_principal_claim: str = Field(
        default="preferred_username", min_length=1, max_length=64,
        description="Web console: ID token claim naming the Garrison principal to sign in as; "
        "the principal must exist and be enabled (its roles come from Garrison).",
    )
    console_oidc_scopes: str = Field(
        default="openid profile email", min_length=6, max_length=256,
        description="Web console: scopes requested from the identity provider (must include "
        "`openid`).",
    )
    console_oidc_ca_file: Path | None = Field(
        default=None,
        description="Web console: PEM bundle of the CAs trusted for the identity provider's "
        "HTTPS endpoints (unset: the system's trust store).",
    )
    alert_webhook_url: str | None = Field(
        default=None, description="HTTPS URL that receives alerts as signed JSON POSTs."
    )
    alert_webhook_secret: SecretStr | None = Field(
        default=None,
        description="HMAC-SHA256 key for the `X-Garrison-Signature` header of alert webhooks. "
        "Masked in logs.",
    )
    otel_endpoint: str | None = Field(
        default=None, description="OTLP endpoint; enables OpenTelemetry tracing when set."
    )
    debug: bool = Field(
        default=False,
        description="Show tracebacks in CLI errors. Never enable on a production gateway.",
    )

    @field_validator("home", "artifact_dir", "audit_witness_file", "tls_cert_file",
                     "tls_key_file", "console_oidc_ca_file", "key_dir", "signing_key_dir",
                     "artifact_cache_dir", "s3_ca_bundle", "s3_credentials_file",
                     "model_signing_key_dir", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        return Path(value).expanduser() if isinstance(value, str) and value else value

    @model_validator(mode="after")
    def _complete(self) -> Settings:
        if self.artifact_store == "s3" and not self.s3_bucket:
            raise ValueError("artifact_store = s3 needs s3_bucket")
        return self

    @field_validator("console_public_url")
    @classmethod
    def _origin_only(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
                or parts.fragment or parts.path not in ("", "/") or parts.username:
            raise ValueError("give an origin such as https://garrison.example.com (no path)")
        return f"{parts.scheme}://{parts.netloc}"

    @field_validator("console_oidc_scopes")
    @classmethod
    def _openid_scope(cls, value: str) -> str:
        if "openid" not in value.split():
            raise ValueError("the scopes must include openid")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return settings_sources(settings_cls, init_settings, env_settings)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings once; invalid values stop startup with a clear message."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise invalid_configuration(exc) from None

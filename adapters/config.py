"""Server configuration: a TOML file validated with pydantic, or safe development defaults.

Precedence for where to listen and which database to open: command-line option, then environment
variable, then the file's `[server]` table, then the defaults. Without a file the server serves one
anonymous tenant and a freshly generated development API key, and only on loopback.
"""

from __future__ import annotations

import ipaddress
import secrets
import string
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from session_engine.engine.retention import RetentionPolicy

WEBSOCKET_KEY_LENGTH = 21
KEY_ALPHABET = string.ascii_letters + string.digits


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Retention(Strict):
    """A tenant's retention policy (`[tenants.retention]`; engine `RetentionPolicy`, specs/lifecycle.md).
    Every rule is off unless set; the server applies it every `[server] retain_seconds`."""

    max_idle_days: float | None = Field(default=None, gt=0)
    """Sessions whose last event is older than this go: events and read-model rows."""
    max_closed_days: float | None = Field(default=None, gt=0)
    """Deleted sessions whose last event is older than this go."""
    keep_last: int | None = Field(default=None, ge=1)
    """At most this many events kept per session (the state before them kept as a snapshot)."""
    purge_expired: bool = False
    """Expired values' rows leave the read model."""


class Tenant(Strict):
    """One application served by the server; its credentials map to one engine namespace."""

    name: str = Field(min_length=1, max_length=64)
    namespace: str = Field(min_length=1, max_length=128)
    app_name: str = Field(min_length=1, max_length=128)
    app_version: str = Field(min_length=1, max_length=64)
    api_keys: tuple[str, ...] = ()
    anonymous: bool = False
    bus_secret: str | None = Field(default=None, min_length=16)
    """This tenant's own RPC bus secret (a bus peer signing with it is served in this namespace)."""
    encrypt: bool = False
    """Seal this namespace's payloads with a key per session, so `erase` can destroy a session's
    data (specs/lifecycle.md "Verifiable erasure"). Every process writing the namespace needs it."""
    retention: Retention | None = None

    @field_validator("api_keys")
    @classmethod
    def _keys_not_blank(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        if any(len(key) < 8 for key in keys):
            raise ValueError("every API key needs at least 8 characters")
        return keys


class Bus(Strict):
    """The RPC bus: messages are authenticated with HMAC over this secret."""

    secret: str = Field(default_factory=lambda: secrets.token_urlsafe(32), min_length=16)
    tenant: str | None = None
    """The tenant a peer signing with `secret` is served as; default: the anonymous tenant, else the first."""


class Limits(Strict):
    """Every bound the adapters enforce. Defaults follow the BlazeAuth reference."""

    rate_limit_actions: int = Field(default=60, ge=1)
    rate_limit_window_seconds: float = Field(default=60.0, gt=0)
    max_frame_bytes: int = Field(default=65_536, ge=1024, le=16 * 1024 * 1024)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    """Distri values may be large base64 images: 8 MiB, the durable value limit."""
    initialize_deadline_seconds: float = Field(default=15.0, gt=0)
    max_failed_initialize: int = Field(default=3, ge=1)
    resume_window_seconds: float = Field(default=60.0, ge=0)
    resume_grace_seconds: float = Field(default=2.0, ge=0, le=30)
    """How long a `Resume-Id` not (yet) parked is looked for before 4401: a client that reconnects
    at once through another process arrives before the process it left has parked its session."""
    max_subscriptions: int = Field(default=4, ge=0, le=64)
    history_page_limit: int = Field(default=100, ge=1, le=1000)
    idle_timeout_seconds: float = Field(default=5.0, gt=0)
    """An HTTP connection with no request in progress is closed after this long without a byte."""
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    """A request's headers must be complete this long after its first byte (slowloris)."""
    body_timeout_seconds: float = Field(default=60.0, gt=0)
    """A request's body must be complete this long after its headers: a total, not per read."""
    send_stall_seconds: float = Field(default=30.0, gt=0)
    """A websocket whose write buffer stays full this long (the peer does not read): closed 1008."""
    ping_interval_seconds: float = Field(default=20.0, gt=0)
    """Websockets: the server pings a connection this long after the last ping was answered."""
    ping_timeout_seconds: float = Field(default=20.0, gt=0)
    """Websockets: a ping unanswered this long (the peer does not read, or is gone): closed 1008."""


class Server(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535)
    database: str | None = None
    durability: Literal["full", "normal", "off"] = "full"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    graceful_shutdown_seconds: float = Field(default=10.0, gt=0)
    purge_expired_seconds: float = Field(default=300.0, ge=0)
    """How often expired values' rows are purged from the read model (0: never)."""
    tracing: bool = False
    """OpenTelemetry spans through the global tracer provider (the `otel` extra; specs/operations.md)."""
    snapshot_grid: bool = False
    """Lay a snapshot as each session crosses every 128 versions, so a first time-travel read never
    folds far; it costs the writers CPU (`Engine.open(snapshot_grid=)`, specs/audit.md)."""
    retain_seconds: float = Field(default=3600.0, ge=0)
    """How often the tenants' retention policies are applied (0: never; `session-engine retain`)."""


class ServerConfig(Strict):
    server: Server = Server()
    tenants: tuple[Tenant, ...] = Field(min_length=1)
    bus: Bus = Bus()
    limits: Limits = Limits()
    development: bool = False
    """True when built from defaults (no file): the server then refuses non-loopback hosts."""

    @model_validator(mode="after")
    def _unique(self) -> ServerConfig:
        names = [tenant.name for tenant in self.tenants]
        if len(set(names)) != len(names):
            raise ValueError("tenant names must be unique")
        keys = [key for tenant in self.tenants for key in tenant.api_keys]
        if len(set(keys)) != len(keys):
            raise ValueError("an API key may belong to one tenant only")
        if sum(tenant.anonymous for tenant in self.tenants) > 1:
            raise ValueError("at most one tenant may be anonymous")
        retained = [t.namespace for t in self.tenants if t.retention is not None]
        if len(set(retained)) != len(retained):
            raise ValueError("a namespace may have one retention policy only (two tenants share one)")
        if self.bus.tenant is not None and self.bus.tenant not in names:
            raise ValueError(f"[bus].tenant {self.bus.tenant!r} is not a tenant name")
        bus_secrets = [self.bus.secret, *(t.bus_secret for t in self.tenants if t.bus_secret is not None)]
        if len(set(bus_secrets)) != len(bus_secrets):
            raise ValueError("a bus secret may belong to one tenant only")
        return self

    @property
    def encrypted_namespaces(self) -> frozenset[str]:
        return frozenset(tenant.namespace for tenant in self.tenants if tenant.encrypt)

    def tenant_for_key(self, key: str) -> Tenant | None:
        for tenant in self.tenants:
            if key in tenant.api_keys:
                return tenant
        return None

    @property
    def bus_tenant(self) -> Tenant:
        """The tenant `[bus].secret` serves: `[bus].tenant`, else the anonymous tenant, else the first."""
        named = {tenant.name: tenant for tenant in self.tenants}
        if self.bus.tenant is not None:
            return named[self.bus.tenant]
        return self.anonymous_tenant or self.tenants[0]

    @property
    def anonymous_tenant(self) -> Tenant | None:
        return next((tenant for tenant in self.tenants if tenant.anonymous), None)

    def retention_policies(self) -> list[RetentionPolicy]:
        """The tenants' retention policies, as the engine takes them (one per namespace)."""
        return [
            RetentionPolicy(tenant.namespace, **tenant.retention.model_dump())
            for tenant in self.tenants
            if tenant.retention is not None
        ]

    def with_limits(self, **changes: Any) -> ServerConfig:
        return self.model_copy(update={"limits": self.limits.model_copy(update=changes)})


def generate_api_key(length: int = WEBSOCKET_KEY_LENGTH) -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(length))


def development_config(api_key: str | None = None) -> ServerConfig:
    """No file given: one anonymous tenant `default` with one generated websocket-length key."""
    tenant = Tenant(
        name="default",
        namespace="default",
        app_name="session-engine",
        app_version="dev",
        api_keys=(api_key or generate_api_key(),),
        anonymous=True,
    )
    return ServerConfig(tenants=(tenant,), development=True)


def parse_config(data: dict[str, Any]) -> ServerConfig:
    if "development" in data:
        raise ConfigError("'development' is not a configuration key")
    try:
        return ServerConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"invalid configuration:\n{error}") from None


def load_config(path: str | Path) -> ServerConfig:
    try:
        with Path(path).open("rb") as file:
            data = tomllib.load(file)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    return parse_config(data)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

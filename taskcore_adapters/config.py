"""The configuration: a TOML file, overridden by ``TASKCORE_<SECTION>__<KEY>`` variables.

Everything is validated when loaded, so a bad file fails at start with one line naming the
key, never later. No file means the embedded default: memory store and memory queue.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

ENV_PREFIX = "TASKCORE_"
CONFIG_ENV = "TASKCORE_CONFIG"
METADATA_NETWORKS = ("169.254.0.0/16", "fd00:ec2::254/128")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


@dataclass(frozen=True)
class StoreSettings:
    backend: str = "memory"
    url: str = ""
    pool_size: int = 10
    max_overflow: int = 10
    pool_timeout_s: float = 5.0
    migrate: str = "check"
    count_cache_s: float = 1.0


@dataclass(frozen=True)
class QueueSettings:
    backend: str = "memory"
    url: str = ""
    name: str = "taskcore.tasks"
    prefetch: int = 100
    partitions: int = 1
    group: str = "taskcore-workers"
    session_timeout_ms: int = 6000
    republish_on_start: bool = True


@dataclass(frozen=True)
class CallbackSettings:
    timeout_s: float = 10.0
    connect_timeout_s: float = 3.0
    max_response_bytes: int = 65536
    signing_secrets: list[str] = field(default_factory=list)
    deny_networks: list[str] = field(default_factory=lambda: list(METADATA_NETWORKS))
    allow_networks: list[str] = field(default_factory=list)
    pool_size: int = 32


@dataclass(frozen=True)
class ExecutionSettings:
    workers: int = 16
    backlog: int = 1000
    lease_margin_s: float = 5.0
    report_timeout_s: float = 3600.0
    reaper_interval_s: float = 5.0


@dataclass(frozen=True)
class ApiSettings:
    max_body_bytes: int = 1024 * 1024
    max_json_depth: int = 64
    idempotency_window_s: float = 86400.0


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2
    threads: int = 16
    worker_metrics_port: int = 0


@dataclass(frozen=True)
class LogSettings:
    level: str = "INFO"
    format: str = "json"
    access: bool = False


@dataclass(frozen=True)
class Settings:
    """The whole validated configuration."""

    store: StoreSettings = field(default_factory=StoreSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    callbacks: CallbackSettings = field(default_factory=CallbackSettings)
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    log: LogSettings = field(default_factory=LogSettings)


class _WholeNumber(fields.Integer):
    """An integer, or the text of one (environment overrides); a fraction is refused, not cut."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, float):
            raise self.make_error("invalid", input=value)
        return int(super()._validated(value))


_positive = validate.Range(min=1)
_non_negative = validate.Range(min=0)


class _Section(Schema):
    class Meta:
        unknown = RAISE

    target: type = object

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> Any:
        return self.target(**data)


class _StoreSchema(_Section):
    target = StoreSettings
    backend = fields.String(validate=validate.OneOf(["memory", "sql"]))
    url = fields.String()
    pool_size = _WholeNumber(validate=_positive)
    max_overflow = _WholeNumber(validate=_non_negative)
    pool_timeout_s = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
    migrate = fields.String(validate=validate.OneOf(["check", "auto"]))
    count_cache_s = fields.Float(validate=validate.Range(min=0))


class _QueueSchema(_Section):
    target = QueueSettings
    backend = fields.String(validate=validate.OneOf(["memory", "sql", "rabbitmq", "kafka"]))
    url = fields.String()
    name = fields.String(validate=validate.Length(min=1, max=200))
    prefetch = _WholeNumber(validate=_positive)
    partitions = _WholeNumber(validate=_positive)
    group = fields.String(validate=validate.Length(min=1))
    session_timeout_ms = _WholeNumber(validate=validate.Range(min=1000, max=300000))
    republish_on_start = fields.Boolean()


class _CallbackSchema(_Section):
    target = CallbackSettings
    timeout_s = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
    connect_timeout_s = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
    max_response_bytes = _WholeNumber(validate=_non_negative)
    signing_secrets = fields.List(fields.String(validate=validate.Length(min=16)))
    deny_networks = fields.List(fields.String())
    allow_networks = fields.List(fields.String())
    pool_size = _WholeNumber(validate=_positive)


class _ExecutionSchema(_Section):
    target = ExecutionSettings
    workers = _WholeNumber(validate=_positive)
    backlog = _WholeNumber(validate=_non_negative)
    lease_margin_s = fields.Float(validate=_non_negative)
    report_timeout_s = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
    reaper_interval_s = fields.Float(validate=validate.Range(min=0, min_inclusive=False))


class _ApiSchema(_Section):
    target = ApiSettings
    max_body_bytes = _WholeNumber(validate=_positive)
    max_json_depth = _WholeNumber(validate=_positive)
    idempotency_window_s = fields.Float(validate=validate.Range(min=0, min_inclusive=False))


class _ServerSchema(_Section):
    target = ServerSettings
    host = fields.String(validate=validate.Length(min=1))
    port = _WholeNumber(validate=validate.Range(min=1, max=65535))
    workers = _WholeNumber(validate=_positive)
    threads = _WholeNumber(validate=_positive)
    worker_metrics_port = _WholeNumber(validate=validate.Range(min=0, max=65535))


class _LogSchema(_Section):
    target = LogSettings
    level = fields.String(validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR"]))
    format = fields.String(validate=validate.OneOf(["json", "text"]))
    access = fields.Boolean()


class _SettingsSchema(_Section):
    target = Settings
    store = fields.Nested(_StoreSchema)
    queue = fields.Nested(_QueueSchema)
    callbacks = fields.Nested(_CallbackSchema)
    execution = fields.Nested(_ExecutionSchema)
    api = fields.Nested(_ApiSchema)
    server = fields.Nested(_ServerSchema)
    log = fields.Nested(_LogSchema)


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read ``path`` (or ``$TASKCORE_CONFIG``, or nothing), apply env overrides, validate.

    Raises ``ConfigError`` with one line naming the first bad key.
    """
    env = os.environ if environ is None else environ
    path = path or env.get(CONFIG_ENV) or None
    raw: dict[str, Any] = _read_toml(Path(path)) if path else {}
    _apply_env_overrides(raw, env)
    try:
        settings: Settings = _SettingsSchema().load(raw)
    except ValidationError as exc:
        key, message = _first_error(exc.messages)
        raise ConfigError(f"invalid configuration: {key}: {message}") from None
    _check_consistency(settings)
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None


def _apply_env_overrides(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    list_keys = {"signing_secrets", "deny_networks", "allow_networks"}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        parsed: Any = (
            [v.strip() for v in value.split(",") if v.strip()] if key in list_keys else value
        )
        target = raw.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(f"invalid configuration: {section}: Must be a table.")
        target[key] = parsed


def _first_error(messages: Any, prefix: str = "") -> tuple[str, str]:
    if isinstance(messages, dict):
        key = sorted(messages, key=str)[0]
        name = "" if key == "_schema" else str(key)
        return _first_error(messages[key], f"{prefix}.{name}".strip(".") if name else prefix)
    if isinstance(messages, list) and messages:
        return _first_error(messages[0], prefix)
    text = str(messages)
    if text == "Unknown field.":
        text = "Unknown key."
    return prefix or "(root)", text


def _check_consistency(settings: Settings) -> None:
    if settings.store.backend == "sql" and not settings.store.url:
        raise ConfigError("invalid configuration: store.url: Required when store.backend is 'sql'.")
    if settings.queue.backend in ("rabbitmq", "kafka") and not settings.queue.url:
        raise ConfigError(
            f"invalid configuration: queue.url: Required when queue.backend is "
            f"'{settings.queue.backend}'."
        )
    if settings.queue.backend != "memory" and settings.store.backend != "sql":
        raise ConfigError(
            f"invalid configuration: queue.backend: '{settings.queue.backend}' needs "
            "store.backend 'sql' (the shared store that several processes use)."
        )
    for key in ("deny_networks", "allow_networks"):
        for network in getattr(settings.callbacks, key):
            _check_network(f"callbacks.{key}", network)


def _check_network(key: str, network: str) -> None:
    import ipaddress

    try:
        ipaddress.ip_network(network, strict=False)
    except ValueError:
        raise ConfigError(f"invalid configuration: {key}: {network!r} is not a network.") from None

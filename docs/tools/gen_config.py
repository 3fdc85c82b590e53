"""Write ``docs/configuration.md`` from the config schema in ``taskcore_adapters.config``.

Types, defaults, validation and environment variable names are read from the marshmallow
schema and the ``Settings`` dataclasses; only the meaning of each key is written here, and a
key without one (or a meaning for a key that no longer exists) stops the generator. Run
``python docs/tools/gen_config.py`` after changing the schema; ``--check`` exits 1 when the
committed file is stale.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from docgen import DOCS, run
from marshmallow import Schema, fields, validate

from taskcore_adapters import config

OUTPUT = DOCS / "configuration.md"

SECTIONS = {
    "store": "Where tasks live: in this process, or in a SQL database.",
    "queue": "What carries the order of work between the API and the executors.",
    "callbacks": "How callbacks are made: time limits, signing, and the networks they may reach.",
    "execution": "Background executions, deadlines and the reaper.",
    "api": "Limits on requests to the REST API.",
    "server": "`taskcore serve`: the address and the gunicorn processes and threads; where "
    "`taskcore worker` serves its metrics.",
    "log": "Log lines on standard error.",
}
MEANINGS = {
    "store.backend": "`memory` (one process, lost on exit) or `sql` (any SQLAlchemy database).",
    "store.url": "SQLAlchemy URL, e.g. `postgresql+psycopg://user:password@host:5432/db`, "
    "`mysql+pymysql://user@host:3306/db`, `sqlite:///./taskcore.db`.",
    "store.pool_size": "Connections kept open per process.",
    "store.max_overflow": "Extra connections opened under load, closed when idle.",
    "store.pool_timeout_s": "Seconds to wait for a free connection before answering 503.",
    "store.count_cache_s": "How old the `totalCount` of a listing may be once more than 10,000 "
    "tasks match: counting a million rows costs more than the page, so large totals are "
    "recounted in the background at most this often. Below 10,000 they are always exact; "
    "`0` counts on every listing.",
    "store.migrate": "`check`: refuse to start on a missing or outdated schema (run "
    "`taskcore db upgrade`); `auto`: migrate at start.",
    "queue.backend": "`memory` (in process), `sql` (a table of the store's database), "
    "`rabbitmq` or `kafka`.",
    "queue.url": "AMQP URL (`amqp://user:password@host:5672/%2F`) or Kafka bootstrap servers "
    "(`host:9092`).",
    "queue.name": "RabbitMQ queue or Kafka topic; created on first use.",
    "queue.prefetch": "RabbitMQ: unacknowledged messages a consumer may hold.",
    "queue.partitions": "Kafka: partitions of the topic when taskcore creates it.",
    "queue.group": "Kafka: consumer group shared by all workers.",
    "queue.session_timeout_ms": "Kafka only: the consumer group session timeout; a worker joins "
    "its group faster and a dead one is noticed sooner when it is shorter.",
    "queue.republish_on_start": "RabbitMQ and Kafka: when a worker starts, Queued tasks older "
    "than the outbox settle time (5 s) with no outbox row get one, and the relay publishes "
    "them, so messages a broker lost are restored. Duplicates are skipped when taken.",
    "callbacks.timeout_s": "Total time allowed for one callback (connect, answer and body); "
    "longer is Failed with a timeout.",
    "callbacks.connect_timeout_s": "TCP connect timeout, within `timeout_s`.",
    "callbacks.max_response_bytes": "Bytes of the answer kept in `callbackResult.body`.",
    "callbacks.signing_secrets": "Standard Webhooks secrets (`whsec_<base64>` or plain text); "
    "each signs every callback, so secrets rotate without downtime. Empty: unsigned.",
    "callbacks.deny_networks": "Networks callbacks may never reach, checked on the resolved "
    "address (cloud metadata by default).",
    "callbacks.allow_networks": "When set, the only networks callbacks may reach.",
    "callbacks.pool_size": "Keep-alive connections kept per callback host, and hosts kept.",
    "execution.workers": "Threads running asynchronous executions in an API process.",
    "execution.backlog": "Asynchronous executions that may wait for a thread; more is 503.",
    "execution.lease_margin_s": "Added to `callbacks.timeout_s` for an execution's deadline.",
    "execution.report_timeout_s": "How long a task whose callback answered 202 waits for its "
    "report before it fails.",
    "execution.reaper_interval_s": "How often each process fails executions whose deadline passed.",
    "api.max_body_bytes": "Largest request body; larger is 413.",
    "api.max_json_depth": "Deepest nesting of a request's JSON; deeper is 400.",
    "api.idempotency_window_s": "Seconds an `Idempotency-Key` of `POST /api/v1/tasks` is "
    "remembered: within them the same key and body answer the first task (200), a different "
    "body 409.",
    "server.host": "Address `taskcore serve` binds (`--host` overrides it).",
    "server.port": "Port `taskcore serve` binds (`--port` overrides it).",
    "server.workers": "gunicorn processes; always 1 on the memory store.",
    "server.threads": "Threads per process, each serving one request at a time.",
    "server.worker_metrics_port": "Port on `server.host` where each `taskcore worker` serves "
    "its Prometheus metrics (`--metrics-port` overrides it); 0: none. The API serves its own at "
    "`/metrics` on `server.port`.",
    "log.level": "Lowest level logged.",
    "log.format": "`json` (one object per line) or `text`.",
    "log.access": "One line per HTTP request (logger `taskcore.http.access`, at INFO whatever "
    "`log.level` says); off by default, as gunicorn's access log is: a proxy in front "
    "usually logs requests, and the request metrics count them.",
}
# Rules between keys, checked after the schema: (key, rule, an environment that breaks it).
RULES: list[tuple[str, str, dict[str, str]]] = [
    (
        "store.url",
        "required when `store.backend` is `sql`",
        {"TASKCORE_STORE__BACKEND": "sql"},
    ),
    (
        "queue.url",
        "required when `queue.backend` is `rabbitmq` or `kafka`",
        {"TASKCORE_QUEUE__BACKEND": "rabbitmq"},
    ),
    (
        "queue.backend",
        '`sql` needs `store.backend = "sql"`',
        {"TASKCORE_QUEUE__BACKEND": "sql"},
    ),
    (
        "callbacks.deny_networks",
        "each entry is an IPv4 or IPv6 network such as `10.0.0.0/8`",
        {"TASKCORE_CALLBACKS__DENY_NETWORKS": "not-a-network"},
    ),
    (
        "callbacks.allow_networks",
        "each entry is an IPv4 or IPv6 network",
        {"TASKCORE_CALLBACKS__ALLOW_NETWORKS": "10.0.0.0/33"},
    ),
]

INTRO = """\
# Configuration reference

<!-- Generated by docs/tools/gen_config.py from taskcore_adapters/config.py; do not edit. -->

taskcore reads one TOML file: the one named by `--config`, else by `TASKCORE_CONFIG`, else
none, which means the embedded default (memory store, memory queue). Every key can be
overridden by an environment variable `TASKCORE_<SECTION>__<KEY>` (two underscores between
section and key); list values are comma-separated there. The whole configuration is
validated at start: an invalid value stops the program with one line naming the key, e.g.
`invalid configuration: queue.backend: Must be one of: memory, sql, rabbitmq, kafka.`
Check a file, with the environment applied, with `taskcore config check FILE`. Examples are
in `config/`.
"""


def sections() -> Iterator[tuple[str, Schema, Any]]:
    """Each section's name, schema and default settings, in schema order."""
    defaults = config.Settings()
    for name, nested in config._SettingsSchema().fields.items():
        assert isinstance(nested, fields.Nested)
        yield name, nested.schema, getattr(defaults, name)


def type_name(field: fields.Field) -> str:
    if isinstance(field, fields.List):
        return f"list of {type_name(field.inner)}s"
    if isinstance(field, fields.Integer):
        return "integer"
    if isinstance(field, fields.Float):
        return "number"
    if isinstance(field, fields.Boolean):
        return "boolean"
    return "string"


def _range(rule: validate.Range) -> str:
    low = None if rule.min is None else f"{'≥' if rule.min_inclusive else '>'} {rule.min:g}"
    high = None if rule.max is None else f"{'≤' if rule.max_inclusive else '<'} {rule.max:g}"
    if low and high and rule.min_inclusive and rule.max_inclusive:
        return f"{rule.min:g} to {rule.max:g}"
    return ", ".join(part for part in (low, high) if part)


def _length(rule: validate.Length) -> str:
    if rule.max is None:
        return f"at least {rule.min} character{'s' if rule.min != 1 else ''}"
    return f"{rule.min or 0} to {rule.max} characters"


def allowed(field: fields.Field) -> str:
    """The schema's validation of one key, in words."""
    parts: list[str] = []
    for rule in field.validators:
        if isinstance(rule, validate.OneOf):
            parts.append("one of " + ", ".join(f"`{choice}`" for choice in rule.choices))
        elif isinstance(rule, validate.Range):
            parts.append(_range(rule))
        elif isinstance(rule, validate.Length):
            parts.append(_length(rule))
    if isinstance(field, fields.List) and (inner := allowed(field.inner)) != "any":
        parts.append(f"each {inner}")
    return "; ".join(parts) or "any"


def toml_value(value: Any) -> str:
    """A default as it would be written in the TOML file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def _is_list(field: fields.Field) -> bool:
    return isinstance(field, fields.List)


def env_name(section: str, key: str) -> str:
    return f"{config.ENV_PREFIX}{section.upper()}__{key.upper()}"


def section_table(name: str, schema: Schema, defaults: Any) -> list[str]:
    lines = [f"## `[{name}]`", "", SECTIONS[name], ""]
    lines += ["| key | type | default | allowed | environment variable | meaning |"]
    lines += ["|---|---|---|---|---|---|"]
    for key, field in schema.fields.items():
        default = toml_value(getattr(defaults, key))
        env = f"`{env_name(name, key)}`" + (" (comma-separated)" if _is_list(field) else "")
        lines.append(
            f"| `{key}` | {type_name(field)} | `{default}` | {allowed(field)} "
            f"| {env} | {MEANINGS[f'{name}.{key}']} |"
        )
    return [*lines, ""]


def check_described() -> None:
    """Raises ``SystemExit`` unless every key and section has a meaning, and no other."""
    keys = {f"{name}.{key}" for name, schema, _ in sections() for key in schema.fields}
    names = {name for name, _, _ in sections()}
    missing = sorted(keys - MEANINGS.keys()) + sorted(names - SECTIONS.keys())
    extra = sorted(MEANINGS.keys() - keys) + sorted(SECTIONS.keys() - names)
    if missing or extra:
        raise SystemExit(f"describe these keys in gen_config.py: {missing}; remove: {extra}")


def markdown() -> str:
    """The whole reference."""
    check_described()
    lines = [INTRO]
    for name, schema, defaults in sections():
        lines += section_table(name, schema, defaults)
    lines += ["## Rules between keys", "", "Checked after each key is valid on its own:", ""]
    lines += [f"- `{key}`: {rule}." for key, rule, _ in RULES]
    return "\n".join(lines) + "\n"


def render() -> dict[Path, str]:
    """Every file this generator owns, as it should be now."""
    return {OUTPUT: markdown()}


if __name__ == "__main__":
    raise SystemExit(run(render))

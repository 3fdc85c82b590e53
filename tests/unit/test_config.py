"""Configuration: TOML file, environment overrides, and one clear line for every mistake."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from taskcore_adapters.config import ConfigError, Settings, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "taskcore.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def no_taskcore_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process environment must not leak into tests that read it."""
    import os

    for name in list(os.environ):
        if name.startswith("TASKCORE_"):
            monkeypatch.delenv(name)


def test_no_file_and_no_variables_give_the_memory_defaults() -> None:
    settings = load_settings(environ={})
    assert settings == Settings()
    assert (settings.store.backend, settings.queue.backend) == ("memory", "memory")
    assert settings.callbacks.timeout_s == 10.0
    assert settings.callbacks.deny_networks == ["169.254.0.0/16", "fd00:ec2::254/128"]
    assert settings.api.max_body_bytes == 1024 * 1024
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8080)


def test_a_toml_file_sets_its_keys_and_leaves_the_rest_at_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [store]
        backend = "sql"
        url = "sqlite:///tasks.db"
        [queue]
        name = "jobs"
        [callbacks]
        timeout_s = 3
        signing_secrets = ["0123456789abcdef"]
        allow_networks = ["127.0.0.0/8"]
        """,
    )
    settings = load_settings(path, environ={})
    assert (settings.store.backend, settings.store.url) == ("sql", "sqlite:///tasks.db")
    assert (settings.queue.backend, settings.queue.name) == ("memory", "jobs")
    assert settings.callbacks.timeout_s == 3.0
    assert settings.callbacks.signing_secrets == ["0123456789abcdef"]
    assert settings.callbacks.allow_networks == ["127.0.0.0/8"]
    assert settings.execution == Settings().execution


def test_environment_variables_override_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nport = 9000\n[log]\nlevel = "DEBUG"\n')
    env = {"TASKCORE_SERVER__PORT": "9100", "TASKCORE_EXECUTION__WORKERS": "3"}
    settings = load_settings(path, environ=env)
    assert (settings.server.port, settings.log.level) == (9100, "DEBUG")
    assert settings.execution.workers == 3


def test_list_keys_from_the_environment_are_comma_separated() -> None:
    env = {
        "TASKCORE_CALLBACKS__DENY_NETWORKS": "10.0.0.0/8, 192.168.0.0/16,",
        "TASKCORE_CALLBACKS__ALLOW_NETWORKS": "",
        "TASKCORE_CALLBACKS__SIGNING_SECRETS": "aaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbb",
    }
    callbacks = load_settings(environ=env).callbacks
    assert callbacks.deny_networks == ["10.0.0.0/8", "192.168.0.0/16"]
    assert callbacks.allow_networks == []
    assert callbacks.signing_secrets == ["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"]


def test_variables_without_the_section_separator_are_ignored() -> None:
    assert load_settings(environ={"TASKCORE_DEBUG": "1", "OTHER__X": "1"}) == Settings()


def test_taskcore_config_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[queue]\nname = "from-env-file"\n')
    assert load_settings(environ={"TASKCORE_CONFIG": str(path)}).queue.name == "from-env-file"


def test_an_explicit_path_wins_over_taskcore_config(tmp_path: Path) -> None:
    named = write(tmp_path, '[queue]\nname = "named"\n')
    env = {"TASKCORE_CONFIG": str(tmp_path / "missing.toml")}
    assert load_settings(named, environ=env).queue.name == "named"


def test_the_process_environment_is_read_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKCORE_CONFIG", str(write(tmp_path, "[server]\nport = 7000\n")))
    monkeypatch.setenv("TASKCORE_SERVER__THREADS", "4")
    settings = load_settings()
    assert (settings.server.port, settings.server.threads) == (7000, 4)


INVALID_FILES = [
    pytest.param("[nope]\nx = 1\n", "nope", id="unknown-section"),
    pytest.param("[store]\ncolour = 1\n", "store.colour", id="unknown-key"),
    pytest.param('[server]\nport = "abc"\n', "server.port", id="text-for-integer"),
    pytest.param("[server]\nport = true\n", "server.port", id="bool-for-integer"),
    pytest.param("[server]\nport = 80.5\n", "server.port", id="fractional-integer"),
    pytest.param("[server]\nport = 70000\n", "server.port", id="port-out-of-range"),
    pytest.param("[server]\nhost = 5\n", "server.host", id="integer-for-text"),
    pytest.param("[callbacks]\ntimeout_s = 0\n", "callbacks.timeout_s", id="zero-timeout"),
    pytest.param("[callbacks]\ntimeout_s = true\n", "callbacks.timeout_s", id="bool-for-float"),
    pytest.param(
        '[callbacks]\nsigning_secrets = "x"\n', "callbacks.signing_secrets", id="text-for-list"
    ),
    pytest.param(
        '[callbacks]\nsigning_secrets = ["short"]\n', "callbacks.signing_secrets", id="short-secret"
    ),
    pytest.param("[execution]\nworkers = 0\n", "execution.workers", id="zero-workers"),
    pytest.param("[api]\nmax_body_bytes = -1\n", "api.max_body_bytes", id="negative-body-limit"),
    pytest.param('[store]\nbackend = "redis"\n', "store.backend", id="bad-store-backend"),
    pytest.param('[queue]\nbackend = "sqs"\n', "queue.backend", id="bad-queue-backend"),
    pytest.param('[log]\nlevel = "LOUD"\n', "log.level", id="bad-log-level"),
    pytest.param("store = 1\n", "store", id="section-not-a-table"),
    pytest.param('[store]\nbackend = "sql"\n', "store.url", id="sql-store-without-url"),
    pytest.param('[queue]\nbackend = "rabbitmq"\n', "queue.url", id="rabbitmq-without-url"),
    pytest.param('[queue]\nbackend = "kafka"\n', "queue.url", id="kafka-without-url"),
    pytest.param('[queue]\nbackend = "sql"\n', "queue.backend", id="sql-queue-without-sql-store"),
    pytest.param(
        '[callbacks]\ndeny_networks = ["not-a-network"]\n',
        "callbacks.deny_networks",
        id="bad-deny-network",
    ),
    pytest.param(
        '[callbacks]\nallow_networks = ["10.0.0.0/33"]\n',
        "callbacks.allow_networks",
        id="bad-allow-network",
    ),
]


@pytest.mark.parametrize(("text", "key"), INVALID_FILES)
def test_an_invalid_file_fails_with_one_line_naming_the_key(
    tmp_path: Path, text: str, key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), environ={})
    message = str(caught.value)
    assert "\n" not in message
    assert re.match(rf"invalid configuration: {re.escape(key)}(\.\d+)?: ", message), message


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"TASKCORE_SERVER__PORT": "eighty"}, "server.port"),
        ({"TASKCORE_SERVER__PORT": "80.5"}, "server.port"),
        ({"TASKCORE_CALLBACKS__TIMEOUT_S": "nan"}, "callbacks.timeout_s"),
        ({"TASKCORE_NOPE__X": "1"}, "nope"),
        ({"TASKCORE_STORE__NOPE": "1"}, "store.nope"),
        ({"TASKCORE_QUEUE__BACKEND": "kafka"}, "queue.url"),
    ],
)
def test_an_invalid_variable_fails_with_one_line_naming_the_key(
    env: dict[str, str], key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=env)
    assert str(caught.value).startswith(f"invalid configuration: {key}: ")


def test_a_variable_for_a_section_that_is_not_a_table_names_the_section(tmp_path: Path) -> None:
    path = write(tmp_path, "store = 1\n")
    with pytest.raises(ConfigError, match=r"^invalid configuration: store: "):
        load_settings(path, environ={"TASKCORE_STORE__URL": "x"})


def test_an_unknown_key_is_called_an_unknown_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"store\.colour: Unknown key\.$"):
        load_settings(write(tmp_path, "[store]\ncolour = 1\n"), environ={})


def test_a_missing_file_fails_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError) as caught:
        load_settings(missing, environ={})
    assert str(missing) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_unreadable_file_fails_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_settings(tmp_path, environ={})  # a directory cannot be read as a file


def test_invalid_toml_fails_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[store\nbackend = \n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert str(caught.value).startswith(f"configuration file {path} is not valid TOML")
    assert "\n" not in str(caught.value)

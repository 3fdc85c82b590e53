"""Hostile callback URLs: whatever the spelling, a denied address fails the task with the
guard's error, nothing reaches it (not even a connection attempt), and no redirect is
followed. Every test runs behind the network fence, so nothing leaves this machine.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.hardening.conftest import MakeApp, settings_with
from tests.hardening.fence import NetworkFence
from tests.support.processes import free_port
from tests.support.receiver import CallbackReceiver

TASKS = "/api/v1/tasks"
METADATA = "169.254.169.254"
DENIED = "callback target {} is in a denied network"
DENY_LOOPBACK = ["169.254.0.0/16", "fd00:ec2::254/128", "127.0.0.0/8", "::1/128"]


def run(app: Flask, url: str) -> dict[str, Any]:
    """Create, dequeue and execute a task calling ``url``; return the executed task."""
    client = app.test_client()
    created = client.post(TASKS, json={"name": "job", "callbackUrl": url})
    assert created.status_code == 201, created.json
    task_id = created.json["taskId"]
    assert client.post(f"{TASKS}/{task_id}/dequeue").status_code == 200
    executed = client.post(f"{TASKS}/{task_id}/execute")
    assert executed.status_code == 200, executed.data
    result: dict[str, Any] = executed.json
    return result


def assert_failed(task: dict[str, Any], error: str | None = None) -> None:
    assert task["status"] == "Failed"
    assert task["callbackResult"]["statusCode"] is None
    if error is not None:
        assert task["callbackResult"]["error"] == error


METADATA_SPELLINGS = {
    "dotted": f"http://{METADATA}/latest/meta-data/",
    "decimal": "http://2852039166/",
    "hex": "http://0xa9fea9fe/",
    "octal": "http://0251.0376.0251.0376/",
    "dotted hex": "http://0xA9.0xFE.0xA9.0xFE/",
    "short form": "http://169.254.43518/",
    "mixed octal and decimal": "http://0251.254.169.254/",
    "percent-encoded": "http://%31%36%39.254.169.254/",
    "ipv4-mapped ipv6": f"http://[::ffff:{METADATA}]/",
    "ipv4-mapped ipv6 in hex": "http://[::ffff:a9fe:a9fe]/",
    "explicit port over https": f"https://{METADATA}:443/",
    "a name resolving to it": "http://metadata.internal.test/",
}


@pytest.mark.parametrize("url", METADATA_SPELLINGS.values(), ids=METADATA_SPELLINGS.keys())
def test_the_metadata_address_in_any_spelling_fails_without_being_dialled(
    make_app: MakeApp, fence: NetworkFence, url: str
) -> None:
    fence.names["metadata.internal.test"] = METADATA

    task = run(make_app(), url)

    assert_failed(task, DENIED.format(METADATA))
    assert not fence.dialled(METADATA)


def test_the_ipv6_metadata_address_fails_without_being_dialled(
    make_app: MakeApp, fence: NetworkFence
) -> None:
    task = run(make_app(), "http://[fd00:ec2::254]/latest/")

    assert_failed(task, DENIED.format("fd00:ec2::254"))
    assert not fence.dialled("fd00:ec2::254")


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_to_the_metadata_address_is_not_followed(
    make_app: MakeApp, fence: NetworkFence, receiver: CallbackReceiver, code: int
) -> None:
    target = f"http://{METADATA}/latest/meta-data/"

    task = run(make_app(), receiver.url(f"/redirect/{code}?to={target}"))

    assert task["status"] == "Failed"
    assert task["callbackResult"]["statusCode"] == code
    assert task["callbackResult"]["error"] == f"redirect not followed ({code} to {target})"
    assert not fence.dialled(METADATA)
    assert len(receiver.calls) == 1


LOOPBACK_SPELLINGS = {
    "name": "http://localhost:{port}/ok",
    "name with a trailing dot": "http://localhost.:{port}/ok",
    "name in capitals": "http://LOCALHOST:{port}/ok",
    "dotted": "http://127.0.0.1:{port}/ok",
    "decimal": "http://2130706433:{port}/ok",
    "hex": "http://0x7f000001:{port}/ok",
    "octal": "http://0177.0.0.1:{port}/ok",
    "short form": "http://127.1:{port}/ok",
    "ipv4-mapped ipv6": "http://[::ffff:127.0.0.1]:{port}/ok",
    "unspecified address": "http://0:{port}/ok",
}


@pytest.mark.parametrize("url", LOOPBACK_SPELLINGS.values(), ids=LOOPBACK_SPELLINGS.keys())
def test_a_denied_loopback_in_any_spelling_receives_nothing(
    make_app: MakeApp, receiver: CallbackReceiver, url: str
) -> None:
    app = make_app(settings_with(callbacks={"deny_networks": DENY_LOOPBACK}))

    task = run(app, url.format(port=receiver.port))

    assert_failed(task, DENIED.format("127.0.0.1"))
    assert receiver.calls == []


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "[::1]"], ids=["closed ipv4 port", "closed ipv6 port"]
)
def test_a_denied_address_is_refused_before_connecting_so_its_ports_cannot_be_probed(
    make_app: MakeApp, fence: NetworkFence, host: str
) -> None:
    app = make_app(settings_with(callbacks={"deny_networks": DENY_LOOPBACK}))

    task = run(app, f"http://{host}:{free_port()}/")

    assert_failed(task, DENIED.format(host.strip("[]")))
    assert not fence.dialled(host.strip("[]"))


UNUSUAL_HOSTS = {
    "fullwidth letters": "http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54:{port}/ok",
    "circled letters": "http://\u24db\u24de\u24d2\u24d0\u24db\u24d7\u24de\u24e2\u24e3:{port}/ok",
    "punycode name": "http://xn--80ak6aa92e.test/",
    "NUL in the host": "http://localhost%00.evil.test:{port}/",
    "encoded tab in the host": "http://127.0.0.1%09:{port}/",
}


@pytest.mark.parametrize("url", UNUSUAL_HOSTS.values(), ids=UNUSUAL_HOSTS.keys())
def test_an_unusual_host_fails_the_task_without_leaving_this_machine(
    make_app: MakeApp, fence: NetworkFence, receiver: CallbackReceiver, url: str
) -> None:
    app = make_app(settings_with(callbacks={"deny_networks": DENY_LOOPBACK}))

    task = run(app, url.format(port=receiver.port))

    assert_failed(task)
    assert receiver.calls == []
    assert fence.beyond_loopback() == []

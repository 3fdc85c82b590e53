"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.backends import Backend, selected
from tests.support.clock import SettableClock
from tests.support.receiver import CallbackReceiver


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def receiver(receiver_server: CallbackReceiver) -> Iterator[CallbackReceiver]:
    """The loopback callback receiver, emptied before each test."""
    receiver_server.reset()
    yield receiver_server
    receiver_server.reset()


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture(scope="session", params=selected())
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    """The adapters the API and BDD suites run on, each in turn (``TASKCORE_TEST_BACKENDS``)."""
    chosen = Backend(request.param, tmp_path_factory.mktemp("backend"))
    yield chosen
    chosen.close()

"""A test-side fence: nothing in these tests opens a connection beyond this machine.

The callback client is pointed at hostile URLs on purpose (metadata addresses, random
hosts from the fuzzer). The fence resolves numeric addresses and the names it is given
(``localhost`` by default) without any DNS query, and refuses every connection to an
address beyond this machine before a packet leaves. It records every attempt, so that a
test can also assert that a denied address was never even dialled.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
from typing import Any

import pytest

_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address, with IPv4-mapped IPv6 as plain IPv4; None when ``host`` is no address."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_local(host: str) -> bool:
    """Loopback, or the unspecified address (which connects to this machine)."""
    address = _address(host)
    return address is not None and (address.is_loopback or address.is_unspecified)


class NetworkFence:
    """Records every outbound connection attempt; refuses those that would leave the host."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, int]] = []
        self.names: dict[str, str] = {"localhost": "127.0.0.1"}  # the only names it resolves
        self._lock = threading.Lock()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> NetworkFence:
        monkeypatch.setattr(socket, "getaddrinfo", self._getaddrinfo)
        monkeypatch.setattr(socket.socket, "connect", self._connect_method())
        return self

    def dialled(self, host: str) -> bool:
        """Whether any connection to the address ``host`` was attempted, in any spelling."""
        with self._lock:
            return any(_address(address) == _address(host) for address, _ in self.attempts)

    def beyond_loopback(self) -> list[tuple[str, int]]:
        """The attempts that would have left this machine (all refused)."""
        with self._lock:
            return [attempt for attempt in self.attempts if not is_local(attempt[0])]

    def _getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.lower().rstrip(".") in self.names:
            host = self.names[name.lower().rstrip(".")]
        flags = kwargs.pop("flags", 0)
        if len(args) >= 4:
            args, flags = args[:3], args[3]
        try:
            return _real_getaddrinfo(host, port, *args, flags=flags | socket.AI_NUMERICHOST)
        except socket.gaierror:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None

    def _connect_method(self) -> Any:
        fence = self

        def connect(sock: socket.socket, address: Any) -> None:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                host, port = str(address[0]), int(address[1])
                with fence._lock:
                    fence.attempts.append((host, port))
                if not is_local(host):
                    raise OSError(errno.ENETUNREACH, "Network is unreachable (test fence)")
            _real_connect(sock, address)

        return connect

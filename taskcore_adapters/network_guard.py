"""Which addresses callbacks may reach, checked on the connected socket itself.

A callback URL is chosen by whoever creates the task, so it must not be able to reach the
cloud metadata service or internal networks. Checking the URL text is not enough: DNS names,
decimal/octal/hex IPv4 forms, IPv4-mapped IPv6 and DNS rebinding all hide the real target.
The guard therefore resolves the host itself and dials only an allowed address (a denied
one never even sees a TCP handshake, so the guard cannot be used to probe ports), then
checks the connected peer again before a single byte of the request is sent.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any, ClassVar

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from taskcore_adapters.config import METADATA_NETWORKS

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class DeniedNetwork(Exception):
    """A connection reached an address the policy refuses; nothing was sent to it.

    Deliberately not an ``OSError``: urllib3 would retry or wrap those, while this one must
    reach the callback client unchanged.
    """

    def __init__(self, address: str) -> None:
        super().__init__(f"callback target {address} is in a denied network")
        self.address = address


class NetworkPolicy:
    """Deny networks always win; a non-empty allow list is the only set reachable.

    IPv4-mapped IPv6 addresses (``::ffff:a.b.c.d``) are judged as their IPv4 address too,
    so a dual-stack socket cannot slip past an IPv4 rule.
    """

    def __init__(self, deny: Iterable[str] = METADATA_NETWORKS, allow: Iterable[str] = ()) -> None:
        self.deny: tuple[IpNetwork, ...] = tuple(_network(n) for n in deny)
        self.allow: tuple[IpNetwork, ...] = tuple(_network(n) for n in allow)

    def allows(self, ip: str | IpAddress) -> bool:
        """Whether a connection to ``ip`` may carry a callback."""
        forms = _forms(ip)
        if any(address in network for address in forms for network in self.deny):
            return False
        if not self.allow:
            return True
        return any(address in network for address in forms for network in self.allow)

    def check(self, ip: str | IpAddress) -> None:
        """Raise ``DeniedNetwork`` unless ``ip`` is allowed."""
        if not self.allows(ip):
            raise DeniedNetwork(str(_forms(ip)[-1]))

    def __repr__(self) -> str:
        deny = [str(n) for n in self.deny]
        allow = [str(n) for n in self.allow]
        return f"NetworkPolicy(deny={deny}, allow={allow})"


def _network(text: str) -> IpNetwork:
    return ipaddress.ip_network(text.strip(), strict=False)


def _forms(ip: str | IpAddress) -> list[IpAddress]:
    """The address as given, then its IPv4 form when it is IPv4-mapped IPv6."""
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    forms: list[IpAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        forms.append(ip.ipv4_mapped)
    if forms[-1].is_unspecified:  # 0.0.0.0 and :: reach this machine's own services
        forms.append(ipaddress.ip_address("127.0.0.1" if forms[-1].version == 4 else "::1"))
    return forms


def allowed_address(host: str, port: int, policy: NetworkPolicy) -> str:
    """Resolve ``host`` and return the first allowed address; raise ``DeniedNetwork`` if none.

    Raises ``socket.gaierror`` when the name does not resolve.
    """
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    allowed = [str(info[4][0]) for info in infos if policy.allows(str(info[4][0]))]
    if not allowed:
        raise DeniedNetwork(str(_forms(str(infos[0][4][0]))[-1]))
    return allowed[0]


def check_peer(sock: socket.socket, policy: NetworkPolicy) -> None:
    """Close ``sock`` and raise ``DeniedNetwork`` when its peer is not allowed."""
    peer = sock.getpeername()[0]
    if policy.allows(peer):
        return
    with contextlib.suppress(OSError):
        sock.close()
    raise DeniedNetwork(str(_forms(peer)[-1]))


class _PeerCheck:
    """Mixed into urllib3 connections: dial only an allowed address, then check the peer."""

    policy: ClassVar[NetworkPolicy]
    _dns_host: str
    port: int

    def _new_conn(self) -> socket.socket:
        host = self._dns_host
        self._dns_host = allowed_address(host, self.port, self.policy)
        try:
            sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        finally:
            self._dns_host = host
        check_peer(sock, self.policy)
        return sock


class GuardedHTTPConnection(_PeerCheck, HTTPConnection):
    """A plain HTTP connection that refuses denied peers."""


class GuardedHTTPSConnection(_PeerCheck, HTTPSConnection):
    """A TLS connection that refuses denied peers before the handshake."""


def pool_classes(policy: NetworkPolicy) -> dict[str, type[HTTPConnectionPool]]:
    """Connection pool classes, by scheme, whose connections enforce ``policy``.

    urllib3 builds connections from a class, not a factory, so the policy is bound into
    subclasses made for it.
    """
    http_conn = type("PolicyHTTPConnection", (GuardedHTTPConnection,), {"policy": policy})
    https_conn = type("PolicyHTTPSConnection", (GuardedHTTPSConnection,), {"policy": policy})
    http_pool = type(
        "GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}
    )
    https_pool = type(
        "GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}
    )
    return {"http": http_pool, "https": https_pool}


class GuardedAdapter(HTTPAdapter):
    """A requests transport adapter whose every connection is checked against a policy."""

    __attrs__: list[str] = [*HTTPAdapter.__attrs__, "policy"]  # noqa: RUF012 (typed as in requests)

    def __init__(self, policy: NetworkPolicy, **kwargs: Any) -> None:
        self.policy = policy  # set first: the base constructor builds the pool manager
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = pool_classes(self.policy)

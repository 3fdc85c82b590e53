"""The network policy and the connection-time check of the peer address."""

from __future__ import annotations

import ipaddress
import pickle
import socket
from collections.abc import Iterator

import pytest

from taskcore_adapters.network_guard import (
    DeniedNetwork,
    GuardedAdapter,
    GuardedHTTPConnection,
    GuardedHTTPSConnection,
    NetworkPolicy,
    check_peer,
)


@pytest.mark.parametrize(
    "ip", ["169.254.169.254", "169.254.0.1", "169.254.255.255", "fd00:ec2::254"]
)
def test_cloud_metadata_addresses_are_denied_by_default(ip):
    assert not NetworkPolicy().allows(ip)


@pytest.mark.parametrize("ip", ["127.0.0.1", "::1", "10.0.0.1", "192.0.2.7", "fd00:ec2::253"])
def test_other_addresses_including_loopback_are_allowed_by_default(ip):
    assert NetworkPolicy().allows(ip)


def test_an_ipv4_mapped_ipv6_address_is_judged_as_its_ipv4_address():
    policy = NetworkPolicy()
    assert not policy.allows("::ffff:169.254.169.254")
    assert not policy.allows("::ffff:a9fe:a9fe")
    assert policy.allows("::ffff:127.0.0.1")


def test_an_ipv6_zone_does_not_hide_the_address():
    assert not NetworkPolicy(deny=["fe80::/10"]).allows("fe80::1%eth0")


def test_address_objects_are_accepted_as_well_as_text():
    policy = NetworkPolicy(deny=["10.0.0.0/8"])
    assert not policy.allows(ipaddress.ip_address("10.2.3.4"))
    assert policy.allows(ipaddress.ip_address("2001:db8::1"))


def test_a_non_empty_allow_list_is_the_only_reachable_set():
    policy = NetworkPolicy(allow=["10.0.0.0/8", "2001:db8::/32"])
    assert policy.allows("10.1.2.3")
    assert policy.allows("2001:db8::5")
    assert policy.allows("::ffff:10.9.9.9")
    assert not policy.allows("192.168.1.1")
    assert not policy.allows("127.0.0.1")
    assert not policy.allows("2001:db9::1")


def test_deny_wins_over_allow():
    policy = NetworkPolicy(deny=["10.0.0.0/24"], allow=["10.0.0.0/8"])
    assert not policy.allows("10.0.0.9")
    assert policy.allows("10.0.1.9")


def test_an_empty_deny_list_allows_everything():
    assert NetworkPolicy(deny=[]).allows("169.254.169.254")


def test_check_raises_naming_the_ipv4_form_of_a_mapped_address():
    with pytest.raises(DeniedNetwork) as caught:
        NetworkPolicy().check("::ffff:169.254.169.254")
    assert caught.value.address == "169.254.169.254"
    assert str(caught.value) == "callback target 169.254.169.254 is in a denied network"
    NetworkPolicy().check("127.0.0.1")


def test_a_malformed_network_is_refused():
    with pytest.raises(ValueError):
        NetworkPolicy(deny=["not-a-network"])


def test_the_policy_describes_itself():
    assert repr(NetworkPolicy(deny=["10.0.0.0/8"], allow=[])) == (
        "NetworkPolicy(deny=['10.0.0.0/8'], allow=[])"
    )


@pytest.fixture
def loopback_pair() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        yield client
        client.close()
        accepted.close()


def test_a_socket_connected_to_a_denied_peer_is_closed_and_refused(loopback_pair):
    with pytest.raises(DeniedNetwork, match=r"127\.0\.0\.1"):
        check_peer(loopback_pair, NetworkPolicy(deny=["127.0.0.0/8"]))
    assert loopback_pair.fileno() == -1


def test_a_socket_connected_to_an_allowed_peer_is_kept(loopback_pair):
    check_peer(loopback_pair, NetworkPolicy())
    assert loopback_pair.fileno() != -1


def test_the_adapter_builds_pools_whose_connections_carry_its_policy():
    policy = NetworkPolicy(deny=["10.0.0.0/8"])
    adapter = GuardedAdapter(policy)
    for scheme, base in (("http", GuardedHTTPConnection), ("https", GuardedHTTPSConnection)):
        pool = adapter.poolmanager.connection_from_url(f"{scheme}://127.0.0.1:1/")
        assert issubclass(pool.ConnectionCls, base)
        assert pool.ConnectionCls.policy is policy
    adapter.close()


def test_the_adapter_keeps_its_policy_through_pickling():
    adapter = pickle.loads(pickle.dumps(GuardedAdapter(NetworkPolicy(deny=["10.0.0.0/8"]))))
    assert not adapter.policy.allows("10.0.0.1")
    pool = adapter.poolmanager.connection_from_url("http://127.0.0.1:1/")
    assert pool.ConnectionCls.policy is adapter.policy

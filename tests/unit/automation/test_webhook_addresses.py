"""Which addresses a webhook may reach (automation/webhook_guard.refusal), address by address."""

from __future__ import annotations

import ipaddress

import pytest

from automation.webhook_guard import refusal

REFUSED = {
    "127.0.0.1": "a loopback address",
    "127.255.0.9": "a loopback address",
    "::1": "a loopback address",
    "169.254.169.254": "a link-local address",
    "fe80::1": "a link-local address",
    "10.0.0.1": "a private address",
    "172.16.5.4": "a private address",
    "192.168.1.1": "a private address",
    "100.64.0.1": "a shared (CGNAT) address",
    "100.127.255.254": "a shared (CGNAT) address",
    "fc00::1": "a unique-local address",
    "fdff::1": "a unique-local address",
    "0.0.0.0": "an unspecified address",
    "::": "an unspecified address",
    "224.0.0.1": "a multicast address",
    "239.1.2.3": "a multicast address",
    "ff0e::1": "a multicast address",
    "240.0.0.1": "a reserved address",
    "255.255.255.255": "a reserved address",
    "192.0.0.8": "not a public address",
    "198.18.0.1": "a private address",  # benchmarking
    "::127.0.0.1": "a reserved address",  # the old IPv4-compatible form
    "::ffff:127.0.0.1": "a loopback address (it is 127.0.0.1)",
    "::ffff:169.254.169.254": "a link-local address (it is 169.254.169.254)",
    "::ffff:10.0.0.1": "a private address (it is 10.0.0.1)",
    "64:ff9b::a9fe:a9fe": "a link-local address (it is 169.254.169.254)",  # NAT64
    "2002:7f00:1::": "a 6to4 form of 127.0.0.1, a loopback address",
    "2001:db8::1": "a private address",  # documentation
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize("address", sorted(REFUSED))
def test_refused(address):
    assert refusal(ipaddress.ip_address(address), allowed=[]) == REFUSED[address]


@pytest.mark.parametrize("address", PUBLIC)
def test_public(address):
    assert refusal(ipaddress.ip_address(address), allowed=[]) is None


def test_the_allow_list_lets_its_networks_through_and_nothing_else():
    allowed = [ipaddress.ip_network("192.168.1.0/24"), ipaddress.ip_network("127.0.0.0/8")]
    assert refusal(ipaddress.ip_address("192.168.1.20"), allowed) is None
    assert refusal(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert refusal(ipaddress.ip_address("::ffff:192.168.1.20"), allowed) is None  # the same address
    assert refusal(ipaddress.ip_address("192.168.2.20"), allowed) == "a private address"
    assert refusal(ipaddress.ip_address("169.254.169.254"), allowed) == "a link-local address"
    assert refusal(ipaddress.ip_address("::1"), allowed) == "a loopback address"  # IPv4 nets stay IPv4

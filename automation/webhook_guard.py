"""Where a webhook may go, and the one way it is sent.

A template's webhook URL is typed by a user, and the worker that sends it sits inside the
operator's network: without a rule, `http://169.254.169.254/...` reads cloud credentials and
`http://127.0.0.1:6379/` talks to Redis. So:

- Every address the URL's host resolves to must be public: ipaddress's `is_global`, plus what it
  lets through (multicast, 192.0.0.0/24) and addresses that embed an IPv4 one (::ffff:a.b.c.d,
  64:ff9b::a.b.c.d, 6to4), judged by the embedded address. `NOTIFY_WEBHOOK_ALLOWED_NETWORKS`
  (env LIVCHAT_WEBHOOK_ALLOWED_NETWORKS) lets a receiver on your own LAN or loopback through.
- The host is resolved once and the connection goes to one of those checked addresses: asking
  the resolver again when connecting (what urllib does) could get another answer (DNS rebinding).
  The Host header, TLS SNI and the certificate's name check keep the name from the URL.
- Redirects are never followed (http.client has no redirect logic): a 3xx comes back to the
  caller as an answer, which records it as a failed delivery.
- The process's HTTP(S)_PROXY settings are not used: a proxy would connect to a name we did not
  check.

The save-time check (`literal_refusal`) only judges hosts written as an IP: a name may not resolve
where the template is saved, and what it resolves to can change; names are judged when sending.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

CGNAT = ipaddress.ip_network("100.64.0.0/10")
# IETF protocol assignments: Python 3.11's is_global still calls parts of it global.
IETF_PROTOCOL = ipaddress.ip_network("192.0.0.0/24")
UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
HOW_TO_ALLOW = "webhooks only go to public addresses (allow a network of yours with LIVCHAT_WEBHOOK_ALLOWED_NETWORKS)"


class WebhookRefused(Exception):
    """The URL leads to an address webhooks may not reach. Retrying will not change that."""


def allowed_networks() -> list[Network]:
    return [ipaddress.ip_network(str(n), strict=False) for n in settings.NOTIFY_WEBHOOK_ALLOWED_NETWORKS]


def _embedded_ipv4(ip: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a packet to `ip` really ends up at, for the IPv6 forms that carry one."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped is not None:  # ::ffff:127.0.0.1 is 127.0.0.1 on a dual-stack socket
        return ip.ipv4_mapped
    if ip in NAT64:  # a NAT64 gateway connects to the last 32 bits
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(ip: Address, allowed: Iterable[Network] | None = None) -> str | None:
    """Why a webhook may not go to `ip` ("a loopback address", ...), or None when it may.
    `allowed`: the allow-list (the setting when None)."""
    allowed = allowed_networks() if allowed is None else list(allowed)
    if any(ip in net for net in allowed):  # `in` is False across IPv4/IPv6
        return None
    inner = _embedded_ipv4(ip)
    if inner is not None:
        # Its verdict is the embedded address's (::ffff:8.8.8.8 is fine; the outer form is
        # "reserved" to ipaddress, which would wrongly refuse it).
        why = refusal(inner, allowed)
        return f"{why} (it is {inner})" if why else None
    if ip.version == 6 and ip.sixtofour is not None:  # 2002:7f00:1:: tunnels to 127.0.0.1
        why = refusal(ip.sixtofour, allowed)
        if why:
            return f"a 6to4 form of {ip.sixtofour}, {why}"
    kinds = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip in CGNAT, "a shared (CGNAT) address"),
        (ip in UNIQUE_LOCAL, "a unique-local address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (ip in IETF_PROTOCOL or not ip.is_global, "not a public address"),
    )
    return next((label for hit, label in kinds if hit), None)


def _refused_message(host: str, ip: Address, why: str) -> str:
    try:
        literal = ipaddress.ip_address(host) == ip  # the URL's own spelling of the address
    except ValueError:
        literal = False  # a name, or a shorthand only the resolver reads (127.1)
    where = f"{host} is" if literal else f"{host} resolves to {ip},"
    return f"{where} {why}; {HOW_TO_ALLOW}"


def _addresses(infos: list[tuple]) -> list[Address]:
    seen: dict[Address, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        seen[ipaddress.ip_address(sockaddr[0].split("%", 1)[0])] = None  # drop an IPv6 scope (%eth0)
    return list(seen)


def literal_refusal(host: str) -> str | None:
    """At save time: why a host written as an IP is refused (any spelling the resolver reads as one:
    127.1, 2130706433, ::1); None for names and allowed addresses."""
    try:
        infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)  # never asks DNS
    except (socket.gaierror, UnicodeError, ValueError):
        return None  # a name: judged when a webhook is sent
    for ip in _addresses(infos):
        why = refusal(ip)
        if why:
            return _refused_message(host, ip, why)
    return None


def resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to, each one checked: one refused address refuses the URL
    (WebhookRefused), so an answer that mixes a public and a private address gets nowhere."""
    addresses = _addresses(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    allowed = allowed_networks()
    for ip in addresses:
        why = refusal(ip, allowed)
        if why:
            raise WebhookRefused(_refused_message(host, ip, why))
    return addresses


def _connect(addresses: list[Address], port: int, timeout: float) -> socket.socket:
    """A TCP connection to the first checked address that answers (no second lookup)."""
    error: OSError | None = None
    for ip in addresses:
        try:
            return socket.create_connection((str(ip), port), timeout)
        except OSError as exc:
            error = exc
    raise error or OSError("no address to connect to")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, addresses: list[Address], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.addresses = addresses

    def connect(self) -> None:
        self.sock = _connect(self.addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, addresses: list[Address], timeout: float) -> None:
        self.tls = ssl.create_default_context()  # verifies the chain and the name
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.addresses = addresses

    def connect(self) -> None:
        raw = _connect(self.addresses, self.port, self.timeout)
        try:
            # SNI and the certificate check use the URL's name, not the address we dialled.
            self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, str]:
    """POST `body` to `url` and return the answer's (status, reason); a 3xx is returned, not
    followed. Raises WebhookRefused, OSError (resolving, connecting, TLS), ValueError (a bad
    URL) or http.client.HTTPException (a broken answer)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the webhook URL is not an http:// or https:// URL")
    host = parts.hostname.encode("idna").decode("ascii")  # the Host header and SNI are ASCII
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(host, port)
    pinned = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = pinned(host, port, addresses, timeout)
    try:
        connection.request("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), body, headers)
        response = connection.getresponse()
        return response.status, response.reason
    finally:
        connection.close()

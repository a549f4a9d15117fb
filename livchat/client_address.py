"""The client address that login throttling counts (django-axes' AXES_CLIENT_IP_CALLABLE).

REMOTE_ADDR is the peer that opened the connection. Behind a reverse proxy that peer is the
proxy, for every client, so settings.TRUSTED_PROXIES (LIVCHAT_TRUSTED_PROXIES) names the
proxies whose word is taken. Only when the peer is one of them is X-Forwarded-For read, from
the right: each proxy appends the address it saw, so the right-most address that is not a
trusted proxy is the client. A client can write anything into the header it sends, but not
what a trusted proxy appends after it, and the header of a peer that is not a trusted proxy
is ignored, so a forged header never picks which lock a login counts against.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_address(request: HttpRequest) -> str | None:
    peer_text = request.META.get("REMOTE_ADDR")
    peer = _parse(peer_text or "")
    if peer is None:
        return peer_text or None
    if not _trusted(peer):
        return str(peer)
    hops = [h for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            break  # not written by a proxy we trust: keep the last address one of them vouched for
        peer = address
        if not _trusted(address):
            break
    return str(peer)


def _trusted(address: Address) -> bool:
    return any(address in ipaddress.ip_network(net) for net in settings.TRUSTED_PROXIES)


def _parse(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("["):  # "[2001:db8::1]:443", as some proxies write it
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # "192.0.2.1:443"
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d; count them as a.b.c.d.
    return (address.ipv4_mapped or address) if address.version == 6 else address

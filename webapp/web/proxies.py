"""The client's real address and scheme behind a reverse proxy, trusted only from the proxy.

`X-Forwarded-For` and `X-Forwarded-Proto` are headers like any other: a client can send them.
Daphne's `--proxy-headers` believes them from anyone, which let a forged address slip past
the sign-in lockout (django-axes keys on the address). So daphne runs without it, and this
ASGI middleware rewrites `scope["client"]` and `scope["scheme"]` only when the connection
comes from an address in `TRUSTED_PROXIES` (`BOTTEGA_TRUSTED_PROXIES`, addresses or networks;
empty by default: the socket's peer is the client and forwarding headers are ignored).

The address: walking `X-Forwarded-For` from its right end, each hop that is a trusted proxy
hands over to the address it names, and the first hop that is not a trusted proxy is the
client. A proxy that overwrites the header (the recommended setting) names the client
directly; one that appends puts the client's claim on the left, which is never reached past
the real address. The scheme: the last `X-Forwarded-Proto` value, `http` or `https`, from a
trusted peer, whether or not `X-Forwarded-For` came with it (daphne read it only with the
address header, so a proxy sending only the proto was redirected to https in a loop).
Forwarding headers from a peer that is not trusted are logged once per process: a proxy
left out of the setting shows up in the log, not only as a redirect loop.
See docs/architecture.md, "Security".
"""

from __future__ import annotations

import ipaddress
import logging
from functools import lru_cache
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)
_told = False  # whether forwarding headers from an untrusted peer were logged yet

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SCHEMES = {"http": ("http", "ws"), "https": ("https", "wss")}  # per scope type


def parse_networks(raw: str) -> list[str]:
    """`BOTTEGA_TRUSTED_PROXIES` as normalised networks; ValueError names a bad entry."""
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(
                f"{item!r} is not an IP address or network (e.g. 10.0.0.0/8)"
            ) from None
    return networks


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(n) for n in trusted)


def _trusted(address: str | None, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _header_values(scope: dict[str, Any], name: bytes) -> list[str]:
    """Every comma-separated value of a header, across its repetitions, in order."""
    values = [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == name]
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def real_client(peer: str | None, forwarded_for: list[str], networks: tuple[Network, ...]) -> str:
    """The client's address: `peer`, or while that is a trusted proxy, the hop it names."""
    client = peer or ""
    for hop in reversed(forwarded_for):
        if not _trusted(client, networks):
            break
        try:
            client = str(ipaddress.ip_address(hop))
        except ValueError:  # a proxy that names no address: the last real hop stands
            break
    return client


def forwarded(scope: dict[str, Any], networks: tuple[Network, ...]) -> dict[str, Any]:
    """`scope` with the real client and scheme when its peer is a trusted proxy."""
    peer = (scope.get("client") or [None])[0]
    if not networks or not _trusted(peer, networks):
        _tell_ignored(scope, peer)
        return scope
    scope = dict(scope)
    client = real_client(peer, _header_values(scope, b"x-forwarded-for"), networks)
    if client != peer:
        scope["client"] = (client, 0)
    proto = _header_values(scope, b"x-forwarded-proto")
    if proto and proto[-1].lower() in SCHEMES:
        scope["scheme"] = SCHEMES[proto[-1].lower()][scope["type"] == "websocket"]
    return scope


def _tell_ignored(scope: dict[str, Any], peer: str | None) -> None:
    global _told
    if _told or not any(k in (b"x-forwarded-for", b"x-forwarded-proto") for k, _ in
                        scope.get("headers", [])):  # fmt: skip
        return
    _told = True
    logger.warning("X-Forwarded-For/X-Forwarded-Proto from %s ignored: it is not in "
                   "BOTTEGA_TRUSTED_PROXIES (README, Production); said once", peer)  # fmt: skip


def behind_proxies(app: Any) -> Any:
    """Wrap an ASGI app so HTTP and websocket scopes carry the client as the proxy saw it."""

    async def wrapped(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = forwarded(scope, _networks(tuple(settings.TRUSTED_PROXIES)))
        await app(scope, receive, send)

    return wrapped

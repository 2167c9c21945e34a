"""IP networks, and the client's address: the socket peer, or ``X-Forwarded-For`` behind
trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str | Network]) -> list[Network]:
    """``values`` (``10.0.0.0/8``, ``::1``; host bits allowed) as networks; ``ValueError``
    naming the first that is not one."""
    return [ipaddress.ip_network(value, strict=False) for value in values]


def is_trusted(address: str | None, trusted: Sequence[Network]) -> bool:
    """Whether ``address`` is an IP address inside one of the ``trusted`` networks."""
    if address is None:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_ip(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]
) -> str | None:
    """The address the request came from.

    ``X-Forwarded-For`` counts only when the peer is a trusted proxy; then the rightmost
    address that is not itself a trusted proxy is the client (the left part of the header
    is whatever the client chose to send, and is never believed).
    """
    if peer is None or not forwarded_for or not is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage where an address should be: believe the socket
    return hops[0] if hops else peer

"""Which network addresses a webhook may be sent to: only public ones.

An address is public when Python calls it global (`ipaddress.ip_address(...).is_global`) and it
is neither multicast nor IPv6 site-local. IPv6 forms that carry an IPv4 address inside them are
judged by that IPv4 address too, because a gateway on the path turns them back into it:

    ::ffff:a.b.c.d       IPv4-mapped             refused (all of ::/8 is reserved)
    ::a.b.c.d            IPv4-compatible         refused (all of ::/8 is reserved)
    64:ff9b::a.b.c.d     NAT64, well-known       public only if a.b.c.d is
    64:ff9b:1::/48       NAT64, local use        refused (inside ::/8)
    2002:AABB:CCDD::     6to4                    public only if AA.BB.CC.DD is
    2001:0::/32          Teredo                  public only if server and client are

Python's own tables differ between versions (3.11 calls 6to4 and NAT64 global, 3.13 calls
6to4 private); this module is written so the answer is safe on either.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv6Address

NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")


def is_public_address(text: str) -> bool:
    """True when `text` is an IP address a webhook may be delivered to."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return _public(address)


def _public(address: IPv4Address | IPv6Address) -> bool:
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, IPv4Address):
        return True
    if address.scope_id or address.is_site_local:
        return False
    if address.is_reserved and address not in NAT64_WELL_KNOWN:
        return False
    return all(_public(inner) for inner in embedded_ipv4(address))


def embedded_ipv4(address: IPv6Address) -> list[IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, NAT64, 6to4, Teredo), if any."""
    if address in NAT64_WELL_KNOWN:
        return [IPv4Address(int(address) & 0xFFFF_FFFF)]
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        server, client = address.teredo
        return [server, client]
    return []

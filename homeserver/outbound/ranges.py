"""Which IP addresses the server may connect to when it makes a request a user (or a remote
server) had a say in: push gateways, URL previews, and later federation, application services
and Web Push.

A policy is a blacklist of ranges with a whitelist that allows some of them back. The unspecified
addresses `0.0.0.0` and `::` are refused whatever the lists say (on Linux a connection to them
reaches the local host). An IPv6 address that carries an IPv4 address inside it (IPv4-mapped,
NAT64, 6to4, IPv4-compatible) is checked as that IPv4 address too: for IPv4-mapped ones the IPv4
address is the real destination, so only it counts; for the others both must be allowed."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Not reachable from the public Internet, or not a unicast destination at all. Sources: the IANA
# special-purpose address registries (RFC 6890 and its updates).
DEFAULT_IP_RANGE_BLACKLIST: tuple[str, ...] = (
    # IPv4
    "0.0.0.0/8",           # "this network"
    "10.0.0.0/8",          # private (RFC 1918)
    "100.64.0.0/10",       # carrier-grade NAT (RFC 6598)
    "127.0.0.0/8",         # loopback
    "169.254.0.0/16",      # link-local (cloud metadata services live here)
    "172.16.0.0/12",       # private (RFC 1918)
    "192.0.0.0/24",        # IETF protocol assignments
    "192.0.2.0/24",        # documentation (TEST-NET-1)
    "192.88.99.0/24",      # 6to4 relay anycast
    "192.168.0.0/16",      # private (RFC 1918)
    "198.18.0.0/15",       # benchmarking
    "198.51.100.0/24",     # documentation (TEST-NET-2)
    "203.0.113.0/24",      # documentation (TEST-NET-3)
    "224.0.0.0/4",         # multicast
    "240.0.0.0/4",         # reserved, and 255.255.255.255 broadcast
    # IPv6
    "::1/128",             # loopback
    "::/96",               # unspecified and IPv4-compatible (deprecated)
    "::ffff:0:0/96",       # IPv4-mapped
    "64:ff9b::/96",        # NAT64 (well-known prefix)
    "64:ff9b:1::/48",      # NAT64 (local-use prefix)
    "100::/64",            # discard-only
    "2001:db8::/32",       # documentation
    "2002::/16",           # 6to4
    "fc00::/7",            # unique local
    "fe80::/10",           # link-local
    "fec0::/10",           # site-local (deprecated)
    "ff00::/8",            # multicast
)

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"),)
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_UNSPECIFIED = (ipaddress.ip_address("0.0.0.0"), ipaddress.ip_address("::"))


class InvalidRange(ValueError):
    pass


def parse_networks(values: Iterable[str], key: str) -> tuple[IPNetwork, ...]:
    """CIDR strings as networks; InvalidRange names the config key and the entry."""
    networks = []
    for i, value in enumerate(values):
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise InvalidRange(f"{key}[{i}]: {value!r} is not an IP range (CIDR)") from None
    return tuple(networks)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, IPv4-compatible), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in net for net in _NAT64) or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class IpRangePolicy:
    """`blacklist` minus `whitelist`, and never the unspecified addresses."""

    blacklist: tuple[IPNetwork, ...]
    whitelist: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_strings(cls, blacklist: Iterable[str], whitelist: Iterable[str] = (),
                     blacklist_key: str = "ip_range_blacklist",
                     whitelist_key: str = "ip_range_whitelist") -> IpRangePolicy:
        return cls(parse_networks(blacklist, blacklist_key), parse_networks(whitelist, whitelist_key))

    @classmethod
    def default(cls) -> IpRangePolicy:
        return cls.from_strings(DEFAULT_IP_RANGE_BLACKLIST)

    def allows(self, address: IPAddress | str) -> bool:
        if isinstance(address, str):
            address = ipaddress.ip_address(address)
        if address in _UNSPECIFIED:
            return False
        inner = embedded_ipv4(address)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            # ::ffff:a.b.c.d is a.b.c.d on a dual-stack socket: judge it as that address.
            return self.allows(address.ipv4_mapped)
        if inner is not None and not self.allows(inner):
            return False
        if any(address in net for net in self.whitelist):
            return True
        return not any(address in net for net in self.blacklist)

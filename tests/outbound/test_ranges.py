"""The IP range policy: every default range refused, the IPv6 forms that carry an IPv4 address
judged by it, the whitelist, and the unspecified addresses refused whatever the lists say."""

from __future__ import annotations

import ipaddress

from twisted.trial import unittest

from homeserver.config.loader import config_schema
from homeserver.outbound.ranges import DEFAULT_IP_RANGE_BLACKLIST, InvalidRange, IpRangePolicy, embedded_ipv4

# One address inside each default range, and what it is.
INSIDE_DEFAULT_RANGES = {
    "0.1.2.3": "this network", "10.1.2.3": "RFC 1918", "172.16.0.1": "RFC 1918", "172.31.255.254": "RFC 1918",
    "192.168.1.1": "RFC 1918", "100.64.0.1": "CGNAT", "100.127.255.254": "CGNAT", "127.0.0.1": "loopback",
    "127.255.255.254": "loopback", "169.254.169.254": "link-local / cloud metadata", "192.0.0.8": "IETF",
    "192.0.2.1": "TEST-NET-1", "192.88.99.1": "6to4 relay", "198.18.0.1": "benchmarking",
    "198.19.255.254": "benchmarking", "198.51.100.7": "TEST-NET-2", "203.0.113.9": "TEST-NET-3",
    "224.0.0.1": "multicast", "239.255.255.250": "multicast (SSDP)", "240.0.0.1": "reserved",
    "255.255.255.255": "broadcast", "::1": "loopback", "::ffff:10.0.0.1": "IPv4-mapped",
    "64:ff9b::808:808": "NAT64", "64:ff9b:1::1": "local NAT64", "100::1": "discard", "2001:db8::1": "documentation",
    "2002:808:808::1": "6to4", "fc00::1": "ULA", "fd12:3456::1": "ULA", "fe80::1": "link-local",
    "fec0::1": "site-local", "ff02::1": "multicast", "::10.0.0.1": "IPv4-compatible",
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e",
          "::ffff:8.8.8.8", "100.128.0.1", "172.32.0.1", "11.0.0.1", "223.255.255.254"]


class DefaultPolicyTest(unittest.TestCase):
    policy = IpRangePolicy.default()

    def test_each_default_range_is_refused(self) -> None:
        for address, what in INSIDE_DEFAULT_RANGES.items():
            self.assertFalse(self.policy.allows(address), f"{address} ({what}) allowed")
        # and every listed range, at its first and last address
        for cidr in DEFAULT_IP_RANGE_BLACKLIST:
            net = ipaddress.ip_network(cidr)
            self.assertFalse(self.policy.allows(net[0]), cidr)
            self.assertFalse(self.policy.allows(net[-1]), cidr)

    def test_public_addresses_are_allowed(self) -> None:
        for address in PUBLIC:
            self.assertTrue(self.policy.allows(address), address)

    def test_unspecified_addresses_are_always_refused(self) -> None:
        everything = IpRangePolicy.from_strings([], ["0.0.0.0/0", "::/0"])
        for address in ("0.0.0.0", "::", "::ffff:0.0.0.0"):
            self.assertFalse(everything.allows(address), address)
            self.assertFalse(IpRangePolicy.from_strings([]).allows(address), address)
        self.assertTrue(everything.allows("10.0.0.1"))

    def test_the_config_default_is_the_built_in_list(self) -> None:
        default = config_schema()["properties"]["ip_range_blacklist"]["default"]
        self.assertEqual(tuple(default), DEFAULT_IP_RANGE_BLACKLIST)


class WrappedIpv4Test(unittest.TestCase):
    def test_embedded_addresses(self) -> None:
        cases = {"::ffff:127.0.0.1": "127.0.0.1", "64:ff9b::7f00:1": "127.0.0.1", "2002:7f00:1::1": "127.0.0.1",
                 "::10.0.0.1": "10.0.0.1", "2606:4700::1": None, "::1": None, "8.8.8.8": None}
        for v6, v4 in cases.items():
            inner = embedded_ipv4(ipaddress.ip_address(v6))
            self.assertEqual(str(inner) if inner else None, v4, v6)

    def test_mapped_addresses_are_judged_as_their_ipv4_address(self) -> None:
        policy = IpRangePolicy.from_strings(DEFAULT_IP_RANGE_BLACKLIST, ["127.0.0.1/32"])
        self.assertTrue(policy.allows("::ffff:127.0.0.1"))
        self.assertFalse(policy.allows("::ffff:127.0.0.2"))
        self.assertTrue(IpRangePolicy.from_strings([]).allows("::ffff:10.0.0.1"))

    def test_whitelisting_nat64_or_6to4_still_checks_the_ipv4_inside(self) -> None:
        # An operator on an IPv6-only network with NAT64 allows the prefix back; what it
        # translates to must still be a public address.
        policy = IpRangePolicy.from_strings(DEFAULT_IP_RANGE_BLACKLIST, ["64:ff9b::/96", "2002::/16"])
        self.assertTrue(policy.allows("64:ff9b::808:808"))
        self.assertTrue(policy.allows("2002:808:808::1"))
        for address in ("64:ff9b::a00:1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "2002:a00:1::1",
                        "2002:c0a8:101::1", "64:ff9b::"):
            self.assertFalse(policy.allows(address), address)

    def test_a_blacklist_without_the_wrapping_ranges_still_checks_the_inside(self) -> None:
        policy = IpRangePolicy.from_strings(["10.0.0.0/8"])
        self.assertFalse(policy.allows("64:ff9b::a00:1"))
        self.assertFalse(policy.allows("2002:a00:1::1"))
        self.assertFalse(policy.allows("::ffff:10.0.0.1"))
        self.assertTrue(policy.allows("64:ff9b::808:808"))


class WhitelistTest(unittest.TestCase):
    def test_whitelist_allows_back_part_of_a_range(self) -> None:
        policy = IpRangePolicy.from_strings(DEFAULT_IP_RANGE_BLACKLIST, ["10.1.2.3/32", "fd00::/64"])
        self.assertTrue(policy.allows("10.1.2.3"))
        self.assertFalse(policy.allows("10.1.2.4"))
        self.assertTrue(policy.allows("fd00::5"))
        self.assertFalse(policy.allows("fd00:0:0:1::5"))

    def test_bad_ranges_name_the_key(self) -> None:
        with self.assertRaises(InvalidRange) as e:
            IpRangePolicy.from_strings(["10.0.0.0/8", "nonsense"], blacklist_key="url_preview_ip_range_blacklist")
        self.assertIn("url_preview_ip_range_blacklist[1]", str(e.exception))

"""Server discovery, rule by rule (spec: server-server "Resolving server names"), with a fake
`.well-known` fetcher, a table of SRV records and a fake clock: no DNS, no sockets."""

from __future__ import annotations

import random
from typing import Any

from twisted.internet import defer, task
from twisted.trial import unittest
from twisted.web.http_headers import Headers

from homeserver.clock import Clock
from homeserver.federation.discovery import (
    Destination,
    DiscoveryError,
    InvalidServerName,
    ServerDiscovery,
    SrvRecord,
    order_srv,
    parse_server_name,
)
from homeserver.outbound import OutboundResponse, RequestTimedOut
from homeserver.outbound.endpoint import Route
from tests.outbound.fakes import StaticSrvResolver

HOUR = 3600.0


class FakeWellKnown:
    """Answers `https://<host>/.well-known/matrix/server` from a table: (code, body, headers) or
    an exception."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.fetched: list[str] = []
        self.gate: defer.Deferred[None] | None = None

    def set(self, host: str, body: bytes | str = b"", code: int = 200, headers: dict[str, str] | None = None,
            final_url: str | None = None) -> None:
        self.answers[host] = (code, body.encode() if isinstance(body, str) else body, headers or {}, final_url)

    async def __call__(self, url: str) -> OutboundResponse:
        self.fetched.append(url)
        if self.gate is not None:
            await self.gate
        host = url.removeprefix("https://").split("/")[0]
        answer = self.answers.get(host, (404, b"", {}, None))
        if isinstance(answer, Exception):
            raise answer
        code, body, headers, final_url = answer
        return OutboundResponse(code, Headers({k: [v] for k, v in headers.items()}), body, final_url or url)


def route(host_header: str, tls_name: str, *targets: tuple[str, int]) -> Destination:
    return Destination(host_header, Route(tuple(targets), tls_name))


class DiscoveryTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.time = task.Clock()
        self.time.advance(1_700_000_000)
        self.well_known = FakeWellKnown()
        self.srv = StaticSrvResolver()
        self.discovery = ServerDiscovery(Clock(self.time), self.well_known, self.srv, random.Random(1))


class ServerNameTest(unittest.TestCase):
    def test_valid_names(self) -> None:
        cases = {
            "example.org": ("example.org", None, False),
            "example.org:8448": ("example.org", 8448, False),
            "1.2.3.4": ("1.2.3.4", None, True),
            "1.2.3.4:1234": ("1.2.3.4", 1234, True),
            "[1234:5678::abcd]": ("1234:5678::abcd", None, True),
            "[1234:5678::abcd]:5678": ("1234:5678::abcd", 5678, True),
            "localhost": ("localhost", None, False),
            "a-b.c-d.example:1": ("a-b.c-d.example", 1, False),
        }
        for name, (host, port, is_ip) in cases.items():
            parsed = parse_server_name(name)
            self.assertEqual((parsed.host, parsed.port, parsed.ip is not None), (host, port, is_ip), name)

    def test_invalid_names(self) -> None:
        for name in ("", "example.org:", "example.org:0", "example.org:65536", "example.org:80:80", "exa mple.org",
                     "[1234:5678::abcd", "[not-ipv6]", "[::1]x", "under_score.org", "example..org", ".example.org",
                     "example.org.", "ex@mple.org", "example.org:-1", "example.org:123456", "a" * 300,
                     "example.org/path", "user@example.org", "example.org\n", "example.org:8448\n"):
            with self.assertRaises(InvalidServerName, msg=name):
                parse_server_name(name)


class DirectRulesTest(DiscoveryTestCase):
    async def test_ip_literals_connect_directly(self) -> None:
        cases = {
            "1.2.3.4": route("1.2.3.4", "1.2.3.4", ("1.2.3.4", 8448)),
            "1.2.3.4:1234": route("1.2.3.4:1234", "1.2.3.4", ("1.2.3.4", 1234)),
            "[2001:db8::1]": route("[2001:db8::1]", "2001:db8::1", ("2001:db8::1", 8448)),
            "[2001:db8::1]:443": route("[2001:db8::1]:443", "2001:db8::1", ("2001:db8::1", 443)),
        }
        for name, expected in cases.items():
            self.assertEqual(await self.discovery.resolve(name), expected, name)
        self.assertEqual((self.well_known.fetched, self.srv.lookups), ([], []))

    async def test_explicit_port_connects_directly(self) -> None:
        self.srv.records["_matrix-fed._tcp.example.org"] = [SrvRecord(0, 0, 1111, "elsewhere.org")]
        self.well_known.set("example.org", '{"m.server": "delegated.org:443"}')
        self.assertEqual(await self.discovery.resolve("example.org:8448"),
                         route("example.org:8448", "example.org", ("example.org", 8448)))
        self.assertEqual((self.well_known.fetched, self.srv.lookups), ([], []))

    async def test_invalid_names_are_refused(self) -> None:
        with self.assertRaises(InvalidServerName):
            await self.discovery.resolve("bad name")


class WellKnownRulesTest(DiscoveryTestCase):
    async def test_delegation_to_an_ip_literal(self) -> None:
        self.well_known.set("example.org", '{"m.server": "5.6.7.8"}')
        self.well_known.set("v6.org", '{"m.server": "[2001:db8::9]:9000"}')
        self.assertEqual(await self.discovery.resolve("example.org"), route("5.6.7.8", "5.6.7.8", ("5.6.7.8", 8448)))
        self.assertEqual(await self.discovery.resolve("v6.org"),
                         route("[2001:db8::9]:9000", "2001:db8::9", ("2001:db8::9", 9000)))
        self.assertEqual(self.srv.lookups, [])
        self.assertEqual(self.well_known.fetched, ["https://example.org/.well-known/matrix/server",
                                                   "https://v6.org/.well-known/matrix/server"])

    async def test_delegation_with_a_port(self) -> None:
        self.well_known.set("example.org", '{"m.server": "matrix.example.org:443"}')
        self.srv.records["_matrix-fed._tcp.matrix.example.org"] = [SrvRecord(0, 0, 1111, "elsewhere.org")]
        self.assertEqual(await self.discovery.resolve("example.org"),
                         route("matrix.example.org:443", "matrix.example.org", ("matrix.example.org", 443)))
        self.assertEqual(self.srv.lookups, [])

    async def test_delegation_without_a_port_uses_srv_of_the_delegated_name(self) -> None:
        self.well_known.set("example.org", '{"m.server": "matrix.example.org"}')
        self.srv.records["_matrix-fed._tcp.matrix.example.org"] = [SrvRecord(10, 0, 8443, "srv-target.net.")]
        self.srv.records["_matrix-fed._tcp.example.org"] = [SrvRecord(10, 0, 1, "wrong.net")]
        # The certificate and the Host header are for the delegated name, never the SRV target.
        self.assertEqual(await self.discovery.resolve("example.org"),
                         route("matrix.example.org", "matrix.example.org", ("srv-target.net", 8443)))
        self.assertEqual(self.srv.lookups, ["_matrix-fed._tcp.matrix.example.org"])

    async def test_delegation_falls_back_to_the_deprecated_srv_then_8448(self) -> None:
        self.well_known.set("example.org", '{"m.server": "matrix.example.org"}')
        self.srv.records["_matrix._tcp.matrix.example.org"] = [SrvRecord(0, 0, 7000, "old-style.net")]
        self.assertEqual(await self.discovery.resolve("example.org"),
                         route("matrix.example.org", "matrix.example.org", ("old-style.net", 7000)))
        self.assertEqual(self.srv.lookups, ["_matrix-fed._tcp.matrix.example.org",
                                            "_matrix._tcp.matrix.example.org"])
        del self.srv.records["_matrix._tcp.matrix.example.org"]
        self.assertEqual(await self.discovery.resolve("example.org"),
                         route("matrix.example.org", "matrix.example.org", ("matrix.example.org", 8448)))

    async def test_invalid_well_known_answers_fall_back_to_the_server_name(self) -> None:
        self.srv.records["_matrix-fed._tcp.example.org"] = [SrvRecord(0, 0, 8000, "fed.example.net")]
        expected = route("example.org", "example.org", ("fed.example.net", 8000))
        for body, code in [("not json", 200), ("[]", 200), ('{"m.server": 12}', 200), ("{}", 200),
                           ('{"m.server": "bad name"}', 200), ('{"m.server": "x.org:99999"}', 200),
                           ('{"m.server": "x.org"}', 404), ('{"m.server": "x.org"}', 302),
                           ('{"m.server": "x.org"}', 500)]:
            self.discovery = ServerDiscovery(Clock(self.time), self.well_known, self.srv)
            self.well_known.set("example.org", body, code)
            self.assertEqual(await self.discovery.resolve("example.org"), expected, (body, code))

    async def test_a_redirect_to_plain_http_is_not_believed(self) -> None:
        self.well_known.set("example.org", '{"m.server": "evil.example:443"}',
                            final_url="http://example.org/.well-known/matrix/server")
        self.assertEqual(await self.discovery.resolve("example.org"),
                         route("example.org", "example.org", ("example.org", 8448)))
        self.well_known.set("other.org", '{"m.server": "m.other.org:443"}',
                            final_url="https://www.other.org/.well-known/matrix/server")
        self.assertEqual((await self.discovery.resolve("other.org")).host_header, "m.other.org:443")

    async def test_no_delegation_and_no_srv_is_port_8448(self) -> None:
        self.assertEqual(await self.discovery.resolve("example.org"),
                         route("example.org", "example.org", ("example.org", 8448)))
        self.assertEqual(self.srv.lookups, ["_matrix-fed._tcp.example.org", "_matrix._tcp.example.org"])

    async def test_matrix_fed_is_preferred_over_the_deprecated_record(self) -> None:
        self.srv.records["_matrix-fed._tcp.example.org"] = [SrvRecord(0, 0, 1, "new.net")]
        self.srv.records["_matrix._tcp.example.org"] = [SrvRecord(0, 0, 2, "old.net")]
        self.assertEqual((await self.discovery.resolve("example.org")).route.targets, (("new.net", 1),))
        self.assertEqual(self.srv.lookups, ["_matrix-fed._tcp.example.org"])

    async def test_srv_saying_no_service_is_an_error(self) -> None:
        self.srv.records["_matrix-fed._tcp.example.org"] = [SrvRecord(0, 0, 0, ".")]
        with self.assertRaises(DiscoveryError):
            await self.discovery.resolve("example.org")

    async def test_a_failing_srv_lookup_counts_as_no_record(self) -> None:
        class Broken:
            async def lookup_srv(self, name: str) -> list[SrvRecord]:
                raise OSError("SERVFAIL")

        discovery = ServerDiscovery(Clock(self.time), self.well_known, Broken())
        self.assertEqual(await discovery.resolve("example.org"),
                         route("example.org", "example.org", ("example.org", 8448)))


class SrvOrderTest(unittest.TestCase):
    def test_priority_first_then_weighted(self) -> None:
        records = [SrvRecord(20, 0, 1, "c.net"), SrvRecord(10, 1, 2, "a.net"), SrvRecord(10, 99, 3, "b.net"),
                   SrvRecord(30, 5, 4, "d.net.")]
        firsts = {}
        for seed in range(200):
            order = order_srv(records, random.Random(seed))
            self.assertEqual(set(order[:2]), {("a.net", 2), ("b.net", 3)})
            self.assertEqual(order[2:], [("c.net", 1), ("d.net", 4)])
            firsts[order[0]] = firsts.get(order[0], 0) + 1
        self.assertGreater(firsts[("b.net", 3)], 150)  # the heavy one is usually first


class WellKnownCacheTest(DiscoveryTestCase):
    async def fetches_after(self, seconds: float) -> int:
        self.time.advance(seconds)
        await self.discovery.well_known("example.org")
        return len(self.well_known.fetched)

    async def test_success_is_cached_for_24_hours_by_default(self) -> None:
        self.well_known.set("example.org", '{"m.server": "m.example.org:443"}')
        self.assertEqual(await self.fetches_after(0), 1)
        self.assertEqual(await self.fetches_after(24 * HOUR - 1), 1)
        self.assertEqual(await self.fetches_after(2), 2)

    async def test_cache_control_is_respected_within_bounds(self) -> None:
        self.well_known.set("example.org", '{"m.server": "m.example.org:443"}', headers={
            "Cache-Control": "public, max-age=7200"})
        self.assertEqual(await self.fetches_after(0), 1)
        self.assertEqual(await self.fetches_after(2 * HOUR - 1), 1)
        self.assertEqual(await self.fetches_after(2), 2)
        self.well_known.set("example.org", '{"m.server": "m.example.org:443"}', headers={
            "Cache-Control": "max-age=31536000"})  # a year: capped at 48 hours
        self.assertEqual(await self.fetches_after(2 * HOUR + 1), 3)
        self.assertEqual(await self.fetches_after(48 * HOUR - 1), 3)
        self.assertEqual(await self.fetches_after(2), 4)
        self.well_known.set("example.org", '{"m.server": "m.example.org:443"}', headers={
            "Cache-Control": "no-store"})  # not kept, but not fetched more than once a minute
        self.assertEqual(await self.fetches_after(48 * HOUR + 1), 5)
        self.assertEqual(await self.fetches_after(59), 5)
        self.assertEqual(await self.fetches_after(2), 6)

    async def test_expires_header(self) -> None:
        from email.utils import formatdate
        self.well_known.set("example.org", '{"m.server": "m.example.org:443"}', headers={
            "Expires": formatdate(self.time.seconds() + 3 * HOUR, usegmt=True)})
        self.assertEqual(await self.fetches_after(0), 1)
        self.assertEqual(await self.fetches_after(3 * HOUR - 5), 1)
        self.assertEqual(await self.fetches_after(10), 2)

    async def test_errors_are_cached_with_growing_periods_up_to_an_hour(self) -> None:
        self.assertEqual(await self.fetches_after(0), 1)  # 404
        self.assertEqual(await self.fetches_after(119), 1)
        self.assertEqual(await self.fetches_after(2), 2)
        self.assertEqual(await self.fetches_after(239), 2)  # 4 minutes after a second error
        self.assertEqual(await self.fetches_after(2), 3)
        for _ in range(10):
            await self.fetches_after(HOUR + 1)
        count = len(self.well_known.fetched)
        self.assertEqual(await self.fetches_after(HOUR - 1), count)
        self.assertEqual(await self.fetches_after(2), count + 1)
        # A success resets it.
        self.well_known.set("example.org", '{"m.server": "m.example.org:443"}')
        self.assertEqual(await self.fetches_after(HOUR + 1), count + 2)
        self.assertEqual(await self.discovery.well_known("example.org"), "m.example.org:443")

    async def test_an_outage_keeps_the_old_delegation_but_a_404_drops_it(self) -> None:
        self.well_known.set("example.org", '{"m.server": "m.example.org:443"}')
        self.assertEqual(await self.discovery.well_known("example.org"), "m.example.org:443")
        self.time.advance(24 * HOUR + 1)
        self.well_known.answers["example.org"] = RequestTimedOut("no answer")
        self.assertEqual(await self.discovery.well_known("example.org"), "m.example.org:443")
        self.time.advance(121)
        self.well_known.set("example.org", "oops", 503)
        self.assertEqual(await self.discovery.well_known("example.org"), "m.example.org:443")
        self.time.advance(241)
        self.well_known.set("example.org", "", 404)
        self.assertIsNone(await self.discovery.well_known("example.org"))
        self.assertEqual((await self.discovery.resolve("example.org")).host_header, "example.org")

    async def test_the_old_delegation_is_not_kept_past_48_hours(self) -> None:
        self.well_known.set("example.org", '{"m.server": "m.example.org:443"}')
        await self.discovery.well_known("example.org")
        self.time.advance(24 * HOUR + 1)
        self.well_known.answers["example.org"] = RequestTimedOut("no answer")
        for _ in range(30):
            delegated = await self.discovery.well_known("example.org")
            self.time.advance(HOUR + 1)
        self.assertIsNone(delegated)

    async def test_concurrent_lookups_share_one_fetch(self) -> None:
        self.well_known.set("example.org", '{"m.server": "m.example.org:443"}')
        self.well_known.gate = defer.Deferred()
        first = defer.ensureDeferred(self.discovery.resolve("example.org"))
        second = defer.ensureDeferred(self.discovery.resolve("example.org"))
        self.well_known.gate.callback(None)
        self.assertEqual((await first).host_header, "m.example.org:443")
        self.assertEqual((await second).host_header, "m.example.org:443")
        self.assertEqual(len(self.well_known.fetched), 1)


class DnsSrvResolverTest(unittest.TestCase):
    """The production SRV resolver's reading of twisted.names answers (a fake resolver: no DNS)."""

    async def test_answers_are_read_and_missing_names_are_no_records(self) -> None:
        from twisted.names import dns, error

        from homeserver.federation.discovery import DnsSrvResolver

        class FakeNames:
            async def lookupService(self, name: str) -> Any:  # noqa: N802 - twisted.names' name
                if name == "_matrix-fed._tcp.missing.org":
                    raise error.DNSNameError(name)
                srv = dns.RRHeader(name, dns.SRV, payload=dns.Record_SRV(10, 5, 8448, b"fed.example.org"))
                other = dns.RRHeader(name, dns.CNAME, payload=dns.Record_CNAME(b"x.example.org"))
                return [srv, other], [], []

        resolver = DnsSrvResolver(None)
        resolver._resolver = FakeNames()
        self.assertEqual(await resolver.lookup_srv("_matrix-fed._tcp.example.org"),
                         [SrvRecord(10, 5, 8448, "fed.example.org")])
        self.assertEqual(await resolver.lookup_srv("_matrix-fed._tcp.missing.org"), [])

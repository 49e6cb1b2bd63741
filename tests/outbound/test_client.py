"""The guarded client against a real loopback web server: refusals happen before any connection
(IP literals, names a fake resolver maps to private addresses, redirects to either), the address
connected to is the one checked, the size and time bounds, and extra CA certificates for TLS."""

from __future__ import annotations

import tempfile
from typing import Any

from twisted.internet import defer, reactor, ssl, task
from twisted.trial import unittest
from twisted.web import resource, server

from homeserver.outbound import (
    DEFAULT_IP_RANGE_BLACKLIST,
    AddressRefused,
    InvalidUrl,
    IpRangePolicy,
    OutboundError,
    OutboundHttp,
    RequestTimedOut,
    ResponseTooLarge,
    TlsSettings,
    TooManyRedirects,
)
from tests.outbound.certs import make_ca_and_server_cert
from tests.outbound.fakes import StaticResolver

LOOPBACK_ALLOWED = IpRangePolicy.from_strings(DEFAULT_IP_RANGE_BLACKLIST, ["127.0.0.1/32"])


class _Site(resource.Resource):
    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.hits: list[bytes] = []
        self.arrived: defer.Deferred[None] = defer.Deferred()
        self.hanging: list[server.Request] = []

    def render(self, request: server.Request) -> Any:
        self.hits.append(request.path)
        path = request.path
        if path == b"/ok":
            return b"hello"
        if path == b"/echo":
            return request.content.read()
        if path == b"/redirect":
            request.redirect(request.args[b"to"][0])
            return b""
        if path == b"/loop":
            request.redirect(b"/loop")
            return b""
        if path == b"/declared-big":
            return b"x" * 5000
        if path == b"/streamed-big":
            request.write(b"x" * 3000)  # no Content-Length: chunked, the bound applies as it arrives
            request.write(b"x" * 3000)
            request.finish()
            return server.NOT_DONE_YET
        if path == b"/hang":
            self.hanging.append(request)
            self.arrived.callback(None)
            return server.NOT_DONE_YET
        request.setResponseCode(404)
        return b"no"


class OutboundTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.site = _Site()
        web = server.Site(self.site)
        web.timeOut = None
        self.port = reactor.listenTCP(0, web, interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.portnum = self.port.getHost().port
        self.resolver = StaticResolver({"loopback.test": ["127.0.0.1"], "internal.test": ["10.0.0.7"],
                                        "mixed.test": ["127.0.0.1", "10.0.0.7"], "other-loopback.test": ["127.0.0.2"]})
        self.clock = task.Clock()
        self.outbound = OutboundHttp(reactor, resolver=self.resolver, time=self.clock)
        self.addCleanup(lambda: defer.ensureDeferred(self.outbound.close()))

    def client(self, policy: IpRangePolicy = LOOPBACK_ALLOWED, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout_s", 30)
        kwargs.setdefault("max_response_size", 4000)
        return self.outbound.client(policy=policy, **kwargs)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.portnum}{path}"


class RefusalTest(OutboundTestCase):
    async def test_blacklisted_ip_literals_are_refused_before_connecting(self) -> None:
        client = self.client(IpRangePolicy.default())
        for host in ("127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0", "[::]", "10.0.0.1", "169.254.169.254",
                     "[64:ff9b::7f00:1]", "[2002:7f00:1::1]"):
            with self.assertRaises(AddressRefused, msg=host):
                await client.get(self.url("/ok", host))
        self.assertEqual(self.site.hits, [])

    async def test_a_name_resolving_to_a_private_address_is_refused(self) -> None:
        client = self.client()
        for host in ("internal.test", "mixed.test", "other-loopback.test"):
            with self.assertRaises(AddressRefused, msg=host):
                await client.get(self.url("/ok", host))
        self.assertEqual(self.site.hits, [])
        with self.assertRaises(OutboundError):  # resolves to nothing
            await client.get(self.url("/ok", "unknown.test"))

    async def test_the_address_connected_to_is_the_checked_one(self) -> None:
        # The system resolver knows nothing of loopback.test: the connection went to the address
        # our (fake) resolver answered and the policy checked.
        response = await self.client().get(self.url("/ok", "loopback.test"))
        self.assertEqual((response.code, response.body), (200, b"hello"))
        self.assertEqual(self.resolver.lookups, ["loopback.test"])

    async def test_unspecified_address_refused_even_when_whitelisted(self) -> None:
        client = self.client(IpRangePolicy.from_strings([], ["0.0.0.0/0", "::/0"]))
        for host in ("0.0.0.0", "[::]"):
            with self.assertRaises(AddressRefused):
                await client.get(self.url("/ok", host))
        self.assertEqual((await client.get(self.url("/ok"))).body, b"hello")

    async def test_only_http_and_https(self) -> None:
        for url in ("file:///etc/passwd", "gopher://127.0.0.1/", "http:///nohost", "http://127.0.0.1:99999/"):
            with self.assertRaises(InvalidUrl, msg=url):
                await self.client().get(url)

    async def test_post_with_body(self) -> None:
        response = await self.client().post(self.url("/echo"), b'{"a": 1}',
                                            headers={"Content-Type": "application/json"})
        self.assertEqual(response.body, b'{"a": 1}')


class RedirectTest(OutboundTestCase):
    def redirect(self, to: str) -> str:
        from urllib.parse import quote
        return self.url("/redirect?to=" + quote(to, safe=""))

    async def test_redirects_are_followed_and_each_hop_checked(self) -> None:
        client = self.client(max_redirects=5)
        response = await client.get(self.redirect(self.url("/ok", "loopback.test")))
        self.assertEqual((response.code, response.body, response.url), (200, b"hello", self.url("/ok", "loopback.test")))
        for target in ("http://10.1.2.3/secret", "http://169.254.169.254/latest/meta-data",
                       self.url("/ok", "internal.test"), self.url("/ok", "other-loopback.test"),
                       "http://[::1]/", "http://0.0.0.0/"):
            self.site.hits.clear()
            with self.assertRaises(AddressRefused, msg=target):
                await client.get(self.redirect(target))
            self.assertEqual(self.site.hits, [b"/redirect"])

    async def test_redirects_to_other_schemes_are_refused(self) -> None:
        with self.assertRaises(InvalidUrl):
            await self.client(max_redirects=5).get(self.redirect("file:///etc/passwd"))

    async def test_at_most_five(self) -> None:
        with self.assertRaises(TooManyRedirects):
            await self.client(max_redirects=5).get(self.url("/loop"))
        self.assertEqual(len(self.site.hits), 6)

    async def test_not_followed_without_max_redirects_nor_for_post(self) -> None:
        response = await self.client().get(self.redirect("http://10.1.2.3/"))
        self.assertEqual(response.code, 302)
        response = await self.client(max_redirects=5).post(self.redirect("http://10.1.2.3/"), b"")
        self.assertEqual(response.code, 302)


class BoundsTest(OutboundTestCase):
    async def test_declared_too_large(self) -> None:
        with self.assertRaises(ResponseTooLarge):
            await self.client().get(self.url("/declared-big"))
        self.assertEqual(len((await self.client(max_response_size=5000).get(self.url("/declared-big"))).body), 5000)

    async def test_streamed_too_large(self) -> None:
        with self.assertRaises(ResponseTooLarge):
            await self.client().get(self.url("/streamed-big"))
        with self.assertRaises(ResponseTooLarge):  # a per-request bound below the client's
            await self.client(max_response_size=10_000).get(self.url("/streamed-big"), max_size=100)

    async def test_total_timeout(self) -> None:
        pending = defer.ensureDeferred(self.client(timeout_s=10).get(self.url("/hang")))
        await self.site.arrived
        self.clock.advance(9)
        self.assertNoResult(pending)
        self.clock.advance(1)
        self.failureResultOf(pending, RequestTimedOut)
        for request in self.site.hanging:
            if not request.finished and not request._disconnected:
                request.finish()


class ExtraCaTest(OutboundTestCase):
    def setUp(self) -> None:
        super().setUp()
        directory = tempfile.mkdtemp(prefix="outbound-tls-")
        self.ca_path, cert_path, key_path = make_ca_and_server_cert(directory, "gateway.test")
        with open(cert_path, "rb") as c, open(key_path, "rb") as k:
            certificate = ssl.PrivateCertificate.loadPEM(c.read() + k.read())
        web = server.Site(self.site)
        web.timeOut = None
        tls_port = reactor.listenSSL(0, web, certificate.options(), interface="127.0.0.1")
        self.addCleanup(tls_port.stopListening)
        self.resolver = StaticResolver({"gateway.test": ["127.0.0.1"], "wrong-name.test": ["127.0.0.1"]})
        self.outbound.resolver = self.resolver
        self.tls_url = f"https://gateway.test:{tls_port.getHost().port}/ok"
        self.tls_portnum = tls_port.getHost().port

    async def test_a_private_ca_is_not_trusted_by_default(self) -> None:
        with self.assertRaises(OutboundError):
            await self.client().get(self.tls_url)
        self.assertEqual(self.site.hits, [])

    async def test_extra_ca_certificates_are_trusted(self) -> None:
        client = self.client(tls=TlsSettings.with_extra_ca_files([self.ca_path]))
        response = await client.get(self.tls_url)
        self.assertEqual((response.code, response.body), (200, b"hello"))

    async def test_the_hostname_is_still_verified(self) -> None:
        client = self.client(tls=TlsSettings.with_extra_ca_files([self.ca_path]))
        with self.assertRaises(OutboundError):
            await client.get(f"https://wrong-name.test:{self.tls_portnum}/ok")
        self.assertEqual(self.site.hits, [])

"""The outgoing federation client against in-process peers (tests/federation/network.py): each
request is signed (checked by the receiving resource with request_auth), goes where discovery
says with the right Host header and certificate name, and is refused before any connection
when the whitelist, the server name or the IP range policy says so; failures back off."""

from __future__ import annotations

import json
from typing import Any

from signedjson.key import generate_signing_key, get_verify_key
from twisted.internet import defer, reactor, task
from twisted.trial import unittest
from twisted.web import resource, server

from homeserver.clock import Clock
from homeserver.federation.client import (
    DestinationBackedOff,
    DestinationRefused,
    FederationError,
    FederationHttpClient,
    FederationUnreachable,
    InvalidResponse,
)
from homeserver.federation.discovery import SrvRecord
from homeserver.federation.request_auth import parse_authorization_header, verify_request
from homeserver.federation.tls import FederationTls
from homeserver.outbound import DEFAULT_IP_RANGE_BLACKLIST, IpRangePolicy, OutboundHttp
from tests.federation.network import Connection, InProcessNetwork
from tests.outbound.fakes import StaticResolver, StaticSrvResolver

ORIGIN = "origin.test"


class FakePeer(resource.Resource):
    """A remote server's resource tree: checks the X-Matrix signature of every request (with the
    origin's known key), records it, and answers from `answers` (path -> (code, body))."""

    isLeaf = True

    def __init__(self, name: str, origin_key: Any, origin: str = ORIGIN):
        super().__init__()
        self.name = name
        self.origin = origin
        self.origin_key = origin_key
        self.requests: list[dict[str, Any]] = []
        self.answers: dict[str, tuple[int, bytes]] = {}
        self.hanging: list[server.Request] = []
        self.hang_paths: set[str] = set()

    def render(self, request: server.Request) -> Any:
        body = request.content.read()
        content = json.loads(body) if body else None
        uri = request.uri.decode("ascii")
        header = request.getHeader("authorization")
        auth = parse_authorization_header(header) if header else None
        valid = (auth is not None and auth.origin == self.origin and auth.destination == self.name
                 and verify_request(auth, self.origin_key, self.name, request.method.decode(), uri, content))
        self.requests.append({"method": request.method.decode(), "uri": uri, "host": request.getHeader("host"),
                              "content": content, "signed": valid, "secure": request.isSecure(),
                              "content_type": request.getHeader("content-type")})
        path = request.path.decode()
        if path == "/hang" or path in self.hang_paths:
            self.hanging.append(request)
            return server.NOT_DONE_YET
        if not valid and not path.startswith("/.well-known/"):
            request.setResponseCode(401)
            return b'{"errcode": "M_UNAUTHORIZED", "error": "bad signature"}'
        code, answer = self.answers.get(path, (200, json.dumps({"path": path, "content": content}).encode()))
        request.setResponseCode(code)
        request.setHeader("Content-Type", "application/json")
        return answer


class ClientTestCase(unittest.TestCase):
    whitelist: frozenset[str] | None = None

    def setUp(self) -> None:
        self.time = task.Clock()
        self.time.advance(1_700_000_000)
        self.key = generate_signing_key("k1")
        self.network = InProcessNetwork()
        self.addCleanup(self.network.close)
        self.resolver = StaticResolver({
            "remote.test": ["203.0.113.10"], "delegated.test": ["198.51.100.20"], "srv-target.test": ["192.0.2.30"],
            "internal.test": ["10.1.2.3"], "mixed.test": ["192.0.2.40", "127.0.0.1"],
        })
        self.srv = StaticSrvResolver()
        self.outbound = OutboundHttp(reactor, resolver=self.resolver, time=self.time, connector=self.network)
        self.addCleanup(lambda: defer.ensureDeferred(self.outbound.close()))
        # Documentation ranges stand for public addresses here: take them out of the blacklist.
        self.policy = IpRangePolicy.from_strings(
            [r for r in DEFAULT_IP_RANGE_BLACKLIST if r not in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")])
        self.client = self.make_client()

    def make_client(self, **kwargs: Any) -> FederationHttpClient:
        return FederationHttpClient(ORIGIN, self.key, Clock(self.time), self.outbound, kwargs.pop("policy", self.policy),
                                    FederationTls(), self.srv, self.whitelist, **kwargs)

    def peer(self, name: str, address: str, port: int) -> FakePeer:
        peer = FakePeer(name, get_verify_key(self.key))
        self.network.listen(address, port, server.Site(peer))
        return peer


class SigningTest(ClientTestCase):
    async def test_get_is_signed_and_sent_to_the_server_name(self) -> None:
        peer = self.peer("remote.test:8448", "203.0.113.10", 8448)
        answer = await self.client.get_json("remote.test:8448", "/_matrix/federation/v1/query/profile",
                                            query={"user_id": "@a:remote.test", "field": ["displayname", "x y"]})
        self.assertEqual(answer["path"], "/_matrix/federation/v1/query/profile")
        [request] = peer.requests
        self.assertTrue(request["signed"], request)
        self.assertEqual(request["uri"], "/_matrix/federation/v1/query/profile?user_id=%40a%3Aremote.test"
                                         "&field=displayname&field=x+y")
        self.assertEqual((request["host"], request["secure"], request["content"]), ("remote.test:8448", True, None))
        self.assertEqual(self.network.connections, [Connection("203.0.113.10", 8448, "remote.test", True)])

    async def test_put_and_post_bodies_are_signed(self) -> None:
        peer = self.peer("remote.test:8448", "203.0.113.10", 8448)
        body = {"pdus": [{"a": "ü"}], "edus": []}
        answer = await self.client.put_json("remote.test:8448", "/_matrix/federation/v1/send/t1", body)
        self.assertEqual(answer["content"], body)
        await self.client.post_json("remote.test:8448", "/_matrix/key/v2/query", {"server_keys": {}})
        await self.client.request_json("POST", "remote.test:8448", "/_matrix/federation/v1/empty")
        self.assertEqual([(r["method"], r["signed"], r["content"], r["content_type"]) for r in peer.requests], [
            ("PUT", True, body, "application/json"), ("POST", True, {"server_keys": {}}, "application/json"),
            ("POST", True, {}, "application/json")])

    async def test_a_signature_for_another_destination_is_refused_by_the_peer(self) -> None:
        # The peer at that address calls itself other.test: the signed destination does not match.
        peer = FakePeer("other.test", get_verify_key(self.key))
        self.network.listen("203.0.113.10", 8448, server.Site(peer))
        with self.assertRaises(FederationError) as caught:
            await self.client.get_json("remote.test:8448", "/_matrix/federation/v1/version")
        self.assertEqual((caught.exception.code, caught.exception.errcode), (401, "M_UNAUTHORIZED"))
        self.assertFalse(peer.requests[0]["signed"])

    async def test_delegation_routes_host_header_and_certificate_name(self) -> None:
        wk = FakePeer("remote.test", get_verify_key(self.key))
        wk.answers["/.well-known/matrix/server"] = (200, b'{"m.server": "delegated.test"}')
        self.network.listen("203.0.113.10", 443, server.Site(wk))
        self.srv.records["_matrix-fed._tcp.delegated.test"] = [SrvRecord(1, 1, 8000, "srv-target.test")]
        peer = self.peer("remote.test", "192.0.2.30", 8000)
        await self.client.get_json("remote.test", "/_matrix/federation/v1/version")
        self.assertEqual(wk.requests[0]["host"], "remote.test")
        [request] = peer.requests
        self.assertTrue(request["signed"])  # destination: the server name, not the delegated one
        self.assertEqual(request["host"], "delegated.test")
        self.assertEqual(self.network.connections, [
            Connection("203.0.113.10", 443, "remote.test", True),  # the well-known fetch
            Connection("192.0.2.30", 8000, "delegated.test", True),  # the SRV target, checked as delegated.test
        ])
        await self.client.get_json("remote.test", "/_matrix/federation/v1/version")
        self.assertEqual(len(wk.requests), 1)  # cached

    async def test_ip_literal_certificate_is_for_the_address_without_sni(self) -> None:
        peer = self.peer("[2001:db8::5]", "2001:db8::5", 8448)
        policy = IpRangePolicy.from_strings([r for r in DEFAULT_IP_RANGE_BLACKLIST if r != "2001:db8::/32"])
        client = self.make_client(policy=policy)
        await client.get_json("[2001:db8::5]", "/_matrix/federation/v1/version")
        self.assertEqual(peer.requests[0]["host"], "[2001:db8::5]")
        self.assertEqual(self.network.connections, [Connection("2001:db8::5", 8448, "2001:db8::5", False)])


class RefusalTest(ClientTestCase):
    whitelist = frozenset({"remote.test:8448", "internal.test:8448", "127.0.0.1:8448", "mixed.test:8448"})

    async def test_outside_the_whitelist_nothing_is_sent(self) -> None:
        self.peer("other.test", "203.0.113.10", 8448)
        with self.assertRaises(DestinationRefused):
            await self.client.get_json("other.test", "/_matrix/federation/v1/version")
        self.assertEqual((self.resolver.lookups, self.network.connections), ([], []))

    async def test_an_empty_whitelist_refuses_everything(self) -> None:
        client = FederationHttpClient(ORIGIN, self.key, Clock(self.time), self.outbound, self.policy, FederationTls(),
                                      self.srv, frozenset())
        with self.assertRaises(DestinationRefused):
            await client.get_json("remote.test:8448", "/_matrix/federation/v1/version")
        self.assertEqual(self.network.connections, [])

    async def test_invalid_server_names_are_refused(self) -> None:
        client = FederationHttpClient(ORIGIN, self.key, Clock(self.time), self.outbound, self.policy, FederationTls(),
                                      self.srv, None)
        for name in ("bad name", "a:b:c", "x.test/evil", "x.test:0"):
            with self.assertRaises(DestinationRefused, msg=name):
                await client.get_json(name, "/_matrix/federation/v1/version")
        self.assertEqual(self.network.connections, [])

    async def test_blacklisted_addresses_are_never_connected_to(self) -> None:
        self.peer("internal.test:8448", "10.1.2.3", 8448)
        self.peer("127.0.0.1:8448", "127.0.0.1", 8448)
        for name in ("internal.test:8448", "127.0.0.1:8448", "mixed.test:8448"):
            with self.assertRaises(DestinationRefused, msg=name):
                await self.client.get_json(name, "/_matrix/federation/v1/version")
        self.assertEqual(self.network.connections, [])

    async def test_the_ip_range_whitelist_lets_an_address_back(self) -> None:
        peer = self.peer("internal.test:8448", "10.1.2.3", 8448)
        client = self.make_client(policy=IpRangePolicy.from_strings(DEFAULT_IP_RANGE_BLACKLIST, ["10.1.2.3/32"]))
        await client.get_json("internal.test:8448", "/_matrix/federation/v1/version")
        self.assertTrue(peer.requests[0]["signed"])

    async def test_paths_must_be_plain(self) -> None:
        for path in ("relative", "/a?b=c", "/a#b", "/a b", "/é"):
            with self.assertRaises(ValueError, msg=path):
                await self.client.get_json("remote.test:8448", path)


class AnswerTest(ClientTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.remote = self.peer("remote.test:8448", "203.0.113.10", 8448)

    async def test_matrix_errors_carry_the_errcode(self) -> None:
        self.remote.answers["/x"] = (404, b'{"errcode": "M_NOT_FOUND", "error": "no such event"}')
        with self.assertRaises(FederationError) as caught:
            await self.client.get_json("remote.test:8448", "/x")
        e = caught.exception
        self.assertEqual((e.code, e.errcode, e.error, e.destination), (404, "M_NOT_FOUND", "no such event",
                                                                       "remote.test:8448"))
        self.assertIsNone(self.client.backoff.retry_at("remote.test:8448"))  # it answered: alive

    async def test_non_json_success_is_an_invalid_response(self) -> None:
        self.remote.answers["/x"] = (200, b"<html>hello</html>")
        with self.assertRaises(InvalidResponse):
            await self.client.get_json("remote.test:8448", "/x")

    async def test_any_json_value_is_returned(self) -> None:
        self.remote.answers["/x"] = (200, b'[200, {"state": []}]')
        self.assertEqual(await self.client.get_json("remote.test:8448", "/x"), [200, {"state": []}])

    async def test_answers_are_bounded_in_size(self) -> None:
        self.remote.answers["/big"] = (200, json.dumps({"x": "y" * 5000}).encode())
        client = self.make_client(max_response_size=4096)
        with self.assertRaises(FederationUnreachable):
            await client.get_json("remote.test:8448", "/big")
        self.assertEqual(await self.client.get_json("remote.test:8448", "/big", max_response_size=10_000),
                         {"x": "y" * 5000})

    async def test_requests_time_out(self) -> None:
        work = defer.ensureDeferred(self.client.get_json("remote.test:8448", "/hang", timeout_s=5))
        for _ in range(50):
            if self.remote.hanging:
                break
            await task.deferLater(reactor, 0, lambda: None)
        self.assertEqual(len(self.remote.hanging), 1)
        self.time.advance(5)
        with self.assertRaises(FederationUnreachable):
            await work


class BackoffTest(ClientTestCase):
    async def test_a_dead_server_is_not_tried_again_until_its_backoff_passes(self) -> None:
        dest = "remote.test:8448"
        with self.assertRaises(FederationUnreachable):
            await self.client.get_json(dest, "/x")  # nothing listens there
        self.assertEqual(len(self.network.connections), 1)
        with self.assertRaises(DestinationBackedOff):
            await self.client.get_json(dest, "/x")
        self.assertEqual(len(self.network.connections), 1)  # failed at once: no DNS, no connection
        self.time.advance(10)
        with self.assertRaises(FederationUnreachable):
            await self.client.get_json(dest, "/x")
        self.assertEqual(self.client.backoff.state(dest).interval_ms, 20_000)  # doubled
        self.time.advance(10)
        with self.assertRaises(DestinationBackedOff):
            await self.client.get_json(dest, "/x")
        peer = self.peer(dest, "203.0.113.10", 8448)
        self.assertEqual((await self.client.get_json(dest, "/x", ignore_backoff=True))["path"], "/x")
        self.assertIsNone(self.client.backoff.state(dest))  # reset by the answer
        await self.client.get_json(dest, "/x")
        self.assertEqual(len(peer.requests), 2)

    async def test_backoff_is_capped(self) -> None:
        dest = "remote.test:8448"
        for _ in range(20):
            self.time.advance(7200)
            with self.assertRaises(FederationUnreachable):
                await self.client.get_json(dest, "/x")
        self.assertEqual(self.client.backoff.state(dest).interval_ms, 3600_000)

    async def test_server_errors_count_as_failures(self) -> None:
        peer = self.peer("remote.test:8448", "203.0.113.10", 8448)
        peer.answers["/x"] = (502, b"Bad gateway")
        with self.assertRaises(FederationError) as caught:
            await self.client.get_json("remote.test:8448", "/x")
        self.assertEqual((caught.exception.code, caught.exception.errcode), (502, None))
        with self.assertRaises(DestinationBackedOff):
            await self.client.get_json("remote.test:8448", "/x")

    async def test_one_dead_server_does_not_hold_up_another(self) -> None:
        with self.assertRaises(FederationUnreachable):
            await self.client.get_json("delegated.test:8448", "/x")
        peer = self.peer("remote.test:8448", "203.0.113.10", 8448)
        await self.client.get_json("remote.test:8448", "/x")
        self.assertEqual(len(peer.requests), 1)


class RawGetTest(ClientTestCase):
    """get_raw: media answers are not JSON; too large is the caller's limit, not a broken peer."""

    async def test_raw_answer_with_headers(self) -> None:
        peer = self.peer("remote.test:8448", "203.0.113.10", 8448)
        peer.answers["/_matrix/federation/v1/media/download/m"] = (200, b"\x00binary\xff")
        response = await self.client.get_raw("remote.test:8448", "/_matrix/federation/v1/media/download/m",
                                             {"timeout_ms": "5"}, max_response_size=100)
        self.assertEqual((response.code, response.body), (200, b"\x00binary\xff"))
        self.assertEqual(response.header("Content-Type"), "application/json")  # the fake peer's label
        self.assertTrue(peer.requests[0]["signed"])
        self.assertEqual(peer.requests[0]["uri"], "/_matrix/federation/v1/media/download/m?timeout_ms=5")

    async def test_too_large_does_not_back_off_and_errors_are_federation_errors(self) -> None:
        from homeserver.federation.client import AnswerTooLarge

        peer = self.peer("remote.test:8448", "203.0.113.10", 8448)
        peer.answers["/big"] = (200, b"x" * 1000)
        peer.answers["/missing"] = (404, b'{"errcode": "M_NOT_FOUND", "error": "no"}')
        with self.assertRaises(AnswerTooLarge):
            await self.client.get_raw("remote.test:8448", "/big", max_response_size=999)
        self.assertIsNone(self.client.backoff.retry_at("remote.test:8448"))
        with self.assertRaises(FederationError) as caught:
            await self.client.get_raw("remote.test:8448", "/missing", max_response_size=999)
        self.assertEqual((caught.exception.code, caught.exception.errcode), (404, "M_NOT_FOUND"))
        self.assertEqual(len((await self.client.get_raw("remote.test:8448", "/big", max_response_size=1000)).body),
                         1000)


class RemoteMediaFetchTest(ClientTestCase):
    """The remote media fetcher over the real signed client: slow and oversized peers."""

    def setUp(self) -> None:
        super().setUp()
        from homeserver.federation.api import FederationApi
        from homeserver.handlers.media.remote import RemoteMediaFetcher

        self.remote = self.peer("remote.test:8448", "203.0.113.10", 8448)
        location_client = self.outbound.client(policy=self.policy, timeout_s=5, max_response_size=1000)
        self.fetcher = RemoteMediaFetcher(FederationApi(self.client), location_client, 1000)

    async def test_a_slow_peer_is_a_bad_gateway(self) -> None:
        from homeserver.api.errors import MatrixError

        self.remote.hang_paths.add("/_matrix/federation/v1/media/download/m")
        work = defer.ensureDeferred(self.fetcher.fetch("remote.test:8448", "m", None))
        for _ in range(50):
            if self.remote.hanging:
                break
            await task.deferLater(reactor, 0, lambda: None)
        self.assertEqual(len(self.remote.hanging), 1)
        self.time.advance(60)
        with self.assertRaises(MatrixError) as caught:
            await work
        self.assertEqual((caught.exception.code, caught.exception.errcode), (502, "M_UNKNOWN"))

    async def test_an_oversized_answer_is_cut_off(self) -> None:
        from homeserver.api.errors import MatrixError

        self.remote.answers["/_matrix/federation/v1/media/download/m"] = (200, b"x" * 200_000)
        with self.assertRaises(MatrixError) as caught:
            await self.fetcher.fetch("remote.test:8448", "m", None)
        # treq's body collector clears its Deferred only after the error has run through us: let
        # it, before the test's cleanup drops the connection.
        await task.deferLater(reactor, 0, lambda: None)
        self.assertEqual((caught.exception.code, caught.exception.errcode), (502, "M_TOO_LARGE"))
        self.assertIsNone(self.client.backoff.retry_at("remote.test:8448"))

    async def test_wrong_content_type_is_a_bad_gateway(self) -> None:
        from homeserver.api.errors import MatrixError

        self.remote.answers["/_matrix/federation/v1/media/download/m"] = (200, b'{"not": "multipart"}')
        with self.assertRaises(MatrixError) as caught:
            await self.fetcher.fetch("remote.test:8448", "m", None)
        self.assertEqual((caught.exception.code, caught.exception.errcode), (502, "M_UNKNOWN"))

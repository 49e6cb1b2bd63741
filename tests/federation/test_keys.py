"""Server keys: ours at /_matrix/key/v2/server, other servers' through the key ring (fetched,
checked, stored, refetched when expired, through notaries when the server cannot be reached), the
notary API, and X-Matrix authentication of incoming requests with those keys."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from signedjson.key import generate_signing_key, get_verify_key
from signedjson.sign import sign_json, verify_signed_json

from homeserver.clock import Clock
from homeserver.federation.keys import NOTARY_QUERY_PATH, SERVER_KEYS_PATH, Notary, ServerKeys
from homeserver.federation.request_auth import authorization_header
from homeserver.federation.transport.server import FederationServlet, federation_patterns
from homeserver.rest.http import MatrixResource, MatrixSite
from tests.server import HomeserverTestCase

REMOTE = "remote.test:8448"
NOTARY = "notary.test"
DAY = 86_400_000


class FakePeers:
    """What other servers answer: each named server's key response, or an error."""

    def __init__(self, test: HomeserverTestCase):
        self.test = test
        self.keys: dict[str, ServerKeys] = {}
        self.down: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        self.tamper: Any = None
        self.notary_answer: Any = None

    def add(self, name: str, key_version: str = "k1", validity_ms: int = DAY, old: dict | None = None) -> ServerKeys:
        keys = ServerKeys(name, generate_signing_key(key_version), old or {}, Clock(self.test.fake_time), validity_ms)
        self.keys[name] = keys
        return keys

    async def get_json(self, destination: str, path: str, query: dict | None = None) -> Any:
        self.requests.append((destination, path))
        if destination in self.down or destination not in self.keys:
            raise ConnectionError(f"{destination} is down")
        assert path == SERVER_KEYS_PATH
        response = self.keys[destination].response()
        return self.tamper(response) if self.tamper else response

    async def post_json(self, destination: str, path: str, body: Any) -> Any:
        self.requests.append((destination, path))
        assert destination == NOTARY and path == NOTARY_QUERY_PATH
        if self.notary_answer is not None:
            return self.notary_answer(body)
        notary = self.keys[NOTARY]
        out = []
        for server in body["server_keys"]:
            if server in self.keys:
                out.append(notary.sign(self.keys[server].response()))
        return {"server_keys": out}


class KeysTestCase(HomeserverTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.peers = FakePeers(self)
        self.hs.keyring.set_fetcher(self.peers)

    def now(self) -> int:
        return self.hs.clock.time_msec()


class OurKeysTest(KeysTestCase):
    config_overrides = {"old_signing_keys": {"ed25519:old": {
        "key": "l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ", "expired_ts": 1_600_000_000_000}}}

    async def test_server_keys_are_self_signed(self) -> None:
        for path in ("/_matrix/key/v2/server", "/_matrix/key/v2/server/ed25519:whatever"):
            r = await self.get(path)
            self.assertEqual(r.code, 200, r.json)
            body = r.json
            self.assertEqual(body["server_name"], self.hs.config.server_name)
            self.assertEqual(body["valid_until_ts"], self.now() + DAY)
            self.assertEqual(list(body["verify_keys"]), [self.hs.server_keys.key_id])
            self.assertEqual(body["old_verify_keys"]["ed25519:old"]["expired_ts"], 1_600_000_000_000)
            verify_signed_json(body, self.hs.config.server_name, self.hs.server_keys.verify_key)

    async def test_version(self) -> None:
        r = await self.get("/_matrix/federation/v1/version")
        self.assertEqual(r.code, 200)
        self.assertEqual(set(r.json["server"]), {"name", "version"})

    async def test_client_only_listener_serves_no_federation(self) -> None:
        self.site = self.hs.build_site(resources=["client"])
        self.site.timeOut = None
        self.assert_error(await self.get("/_matrix/key/v2/server"), 404, "M_UNRECOGNIZED")
        self.site = self.hs.build_site(resources=["keys"])
        self.site.timeOut = None
        self.assertEqual((await self.get("/_matrix/key/v2/server")).code, 200)
        self.assert_error(await self.get("/_matrix/federation/v1/version"), 404, "M_UNRECOGNIZED")
        self.assert_error(await self.get("/_matrix/client/versions"), 404, "M_UNRECOGNIZED")


class KeyRingTest(KeysTestCase):
    async def test_fetched_once_and_stored(self) -> None:
        remote = self.peers.add(REMOTE)
        keys = await self.hs.keyring.verify_keys(REMOTE, ["ed25519:k1"], self.now())
        self.assertEqual(keys["ed25519:k1"].encode(), remote.verify_key.encode())
        again = await self.hs.keyring.verify_keys(REMOTE, ["ed25519:k1"], self.now())
        self.assertEqual(list(again), ["ed25519:k1"])
        self.assertEqual(self.peers.requests, [(REMOTE, SERVER_KEYS_PATH)])
        self.assertEqual(await self.hs.keyring.verify_keys(REMOTE, ["ed25519:unknown"], self.now()), {})

    async def test_refetched_when_expired_and_validity_capped(self) -> None:
        self.peers.add(REMOTE, validity_ms=30 * DAY)
        await self.hs.keyring.verify_keys(REMOTE, ["ed25519:k1"], self.now())
        stored = await self.hs.server_keys_store.get_keys(REMOTE)
        self.assertEqual(stored["ed25519:k1"].valid_until_ts, self.now() + 7 * DAY)  # the spec's cap
        self.advance(8 * DAY / 1000)
        await self.hs.keyring.verify_keys(REMOTE, ["ed25519:k1"], self.now())
        self.assertEqual(len(self.peers.requests), 2)
        # A signature from the past is checked with the key valid then, without a fetch.
        keys = await self.hs.keyring.verify_keys(REMOTE, ["ed25519:k1"], self.now() - 8 * DAY)
        self.assertIn("ed25519:k1", keys)
        self.assertEqual(len(self.peers.requests), 2)

    async def test_old_keys_verify_only_before_they_expired(self) -> None:
        old_key = generate_signing_key("old")
        old = {"ed25519:old": {"key": _b64(old_key), "expired_ts": self.now() - 1000}}
        self.peers.add(REMOTE, old=old)
        self.assertIn("ed25519:old", await self.hs.keyring.verify_keys(REMOTE, ["ed25519:old"], self.now() - 5000))
        self.assertNotIn("ed25519:old", await self.hs.keyring.verify_keys(REMOTE, ["ed25519:old"], self.now()))
        self.assertIn("ed25519:old", await self.hs.keyring.verify_keys(REMOTE, ["ed25519:old"], None))

    async def test_responses_that_cannot_be_believed(self) -> None:
        self.peers.add(REMOTE)
        intruder = generate_signing_key("k1")
        for tamper in (
            lambda r: {**r, "server_name": "evil.test"},
            lambda r: sign_json({k: v for k, v in r.items() if k != "signatures"}, REMOTE, intruder),
            lambda r: {**r, "valid_until_ts": r["valid_until_ts"] + 1},  # no longer what was signed
            lambda r: {**r, "verify_keys": {}},
            lambda r: {**r, "verify_keys": {"ed25519:k1": {"key": "!!"}}},
            lambda r: [r],
        ):
            self.peers.tamper = tamper
            self.hs.keyring._failed_until.clear()
            self.assertEqual(await self.hs.keyring.verify_keys(REMOTE, ["ed25519:k1"], self.now()), {})
        self.assertEqual(await self.hs.server_keys_store.get_keys(REMOTE), {})

    async def test_a_server_that_fails_is_not_asked_again_at_once(self) -> None:
        self.peers.add(REMOTE)
        self.peers.down.add(REMOTE)
        self.assertEqual(await self.hs.keyring.verify_keys(REMOTE, ["ed25519:k1"], self.now()), {})
        self.assertEqual(await self.hs.keyring.verify_keys(REMOTE, ["ed25519:k1"], self.now()), {})
        self.assertEqual(len(self.peers.requests), 1)
        self.peers.down.clear()
        self.advance(61)
        self.assertIn("ed25519:k1", await self.hs.keyring.verify_keys(REMOTE, ["ed25519:k1"], self.now()))

    async def test_notary_when_the_server_is_down(self) -> None:
        notary = self.peers.add(NOTARY)
        self.peers.add(REMOTE)
        self.peers.down.add(REMOTE)
        self.hs.keyring._notaries = [Notary(NOTARY, {notary.key_id: notary.verify_key})]
        self.assertIn("ed25519:k1", await self.hs.keyring.verify_keys(REMOTE, ["ed25519:k1"], self.now()))
        self.assertEqual(self.peers.requests, [(REMOTE, SERVER_KEYS_PATH), (NOTARY, NOTARY_QUERY_PATH)])

    async def test_notary_answers_without_its_signature_are_refused(self) -> None:
        notary = self.peers.add(NOTARY)
        remote = self.peers.add(REMOTE)
        self.peers.down.add(REMOTE)
        self.hs.keyring._notaries = [Notary(NOTARY, {notary.key_id: notary.verify_key})]
        self.peers.notary_answer = lambda body: {"server_keys": [remote.response()]}
        self.assertEqual(await self.hs.keyring.verify_keys(REMOTE, ["ed25519:k1"], self.now()), {})


class NotaryApiTest(KeysTestCase):
    async def test_query_signs_what_the_server_said(self) -> None:
        remote = self.peers.add(REMOTE)
        r = await self.get(f"/_matrix/key/v2/query/{quote(REMOTE)}")
        self.assertEqual(r.code, 200, r.json)
        (response,) = r.json["server_keys"]
        verify_signed_json(response, REMOTE, remote.verify_key)
        verify_signed_json(response, self.hs.config.server_name, self.hs.server_keys.verify_key)
        r = await self.post("/_matrix/key/v2/query", {"server_keys": {
            REMOTE: {"ed25519:k1": {"minimum_valid_until_ts": self.now()}},
            self.hs.config.server_name: {},
            "down.test": {}}})
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(sorted(x["server_name"] for x in r.json["server_keys"]),
                         sorted([REMOTE, self.hs.config.server_name]))
        self.assertEqual(self.peers.requests.count((REMOTE, SERVER_KEYS_PATH)), 1)  # the second answer was stored

    async def test_bad_queries(self) -> None:
        for body in ({}, {"server_keys": []}, {"server_keys": {"a": []}},
                     {"server_keys": {f"s{i}.test": {} for i in range(101)}}):
            r = await self.post("/_matrix/key/v2/query", body)
            self.assertEqual(r.code, 400, r.json)


class WhoAmIServlet(FederationServlet):
    PATTERNS = federation_patterns("/test_whoami")

    async def on_GET(self, request):
        return 200, {"origin": await self.authenticate(request)}

    async def on_PUT(self, request):
        return 200, {"origin": await self.authenticate(request)}


class RequestAuthenticationTest(KeysTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        router = self.hs.build_router()
        router.register(WhoAmIServlet(self.hs))
        self.site = MatrixSite(MatrixResource(router, self.hs.cpu_pool), 1_000_000, 1_000_000)
        self.site.timeOut = None
        self.remote = self.peers.add(REMOTE)

    async def signed(self, method: str, uri: str, body: Any = None, origin: str = REMOTE, key: Any = None,
                     destination: str | None = None, sent_body: Any = "same") -> Any:
        header = authorization_header(origin, key or self.remote.signing_key,
                                      destination or self.hs.config.server_name, method, uri, body)
        raw = None if body is None else json.dumps(body if sent_body == "same" else sent_body).encode()
        return await self.request(method, uri, headers={"Authorization": header}, raw_body=raw)

    async def test_a_signed_request_names_its_origin(self) -> None:
        r = await self.signed("GET", "/_matrix/federation/v1/test_whoami?a=b")
        self.assertEqual((r.code, r.json), (200, {"origin": REMOTE}))
        r = await self.signed("PUT", "/_matrix/federation/v1/test_whoami", {"x": [1, 2]})
        self.assertEqual((r.code, r.json), (200, {"origin": REMOTE}))

    async def test_refusals(self) -> None:
        uri = "/_matrix/federation/v1/test_whoami"
        self.assert_error(await self.get(uri), 401, "M_UNAUTHORIZED")
        self.assert_error(await self.request("GET", uri, headers={"Authorization": "Bearer x"}), 401,
                          "M_UNAUTHORIZED")
        self.assert_error(await self.signed("GET", uri, destination="other.test"), 401, "M_UNAUTHORIZED")
        self.assert_error(await self.signed("GET", uri, key=generate_signing_key("k1")), 401, "M_UNAUTHORIZED")
        self.assert_error(await self.signed("GET", uri, key=generate_signing_key("k9")), 401, "M_UNAUTHORIZED")
        self.assert_error(await self.signed("PUT", uri, {"x": 1}, sent_body={"x": 2}), 401, "M_UNAUTHORIZED")
        signed_for_other_uri = authorization_header(REMOTE, self.remote.signing_key, self.hs.config.server_name,
                                                    "GET", uri + "?a=1")
        r = await self.request("GET", uri + "?a=2", headers={"Authorization": signed_for_other_uri})
        self.assert_error(r, 401, "M_UNAUTHORIZED")
        self.assert_error(await self.signed("GET", uri, origin="unknown.test"), 401, "M_UNAUTHORIZED")

    async def test_federation_domain_whitelist(self) -> None:
        self.hs.config.federation_domain_whitelist = frozenset({"friend.test"})
        self.assert_error(await self.signed("GET", "/_matrix/federation/v1/test_whoami"), 403, "M_FORBIDDEN")
        r = await self.get(f"/_matrix/key/v2/query/{quote(REMOTE)}")
        self.assertEqual(r.json["server_keys"], [])


def _b64(signing_key: Any) -> str:
    from signedjson.key import encode_verify_key_base64
    return encode_verify_key_base64(get_verify_key(signing_key))

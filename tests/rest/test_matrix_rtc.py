"""MatrixRTC server side (issue 14): `matrix_rtc.transports` at /rtc/transports (v1 and MSC4143's
unstable path) and as `org.matrix.msc4143.rtc_foci` in /.well-known/matrix/client, the /versions
flags Element Call and matrix-js-sdk look for, and the OpenID userinfo endpoint lk-jwt-service
calls, on every kind of listener and with federation switched off."""

import tempfile
from urllib.parse import quote

from twisted.trial import unittest

from homeserver.config import Config, ConfigError
from tests.server import HomeserverTestCase, test_config

STABLE = "/_matrix/client/v1/rtc/transports"
UNSTABLE = "/_matrix/client/unstable/org.matrix.msc4143/rtc/transports"
WELL_KNOWN = "/.well-known/matrix/client"
USERINFO = "/_matrix/federation/v1/openid/userinfo"
RTC_FOCI = "org.matrix.msc4143.rtc_foci"
LIVEKIT = {"type": "livekit", "livekit_service_url": "https://rtc.example.com/livekit/jwt"}
# Any other type is passed through as written, extra keys and all.
OTHER = {"type": "org.example.sfu", "url": "https://sfu.example.com", "regions": ["eu", "us"], "weight": 2}


class NoTransportsTest(HomeserverTestCase):
    async def test_empty_list_and_no_foci(self) -> None:
        token = (await self.register("alice"))["access_token"]
        for path in (STABLE, UNSTABLE):
            r = await self.get(path, token=token)
            self.assertEqual((r.code, r.json), (200, {"rtc_transports": []}), path)
            self.assert_error(await self.get(path), 401, "M_MISSING_TOKEN")
            self.assert_error(await self.get(path, token="bogus"), 401, "M_UNKNOWN_TOKEN")
        r = await self.get(WELL_KNOWN)
        self.assertEqual(r.json, {"m.homeserver": {"base_url": "https://matrix.test/"}})

    async def test_versions_flags(self) -> None:
        r = await self.get("/_matrix/client/versions")
        features = r.json["unstable_features"]
        # msc4143: transports; msc3266: js-sdk uses /v1/room_summary only with it (or v1.15);
        # msc4222: state_after, which js-sdk 43 always asks for.
        for flag in ("org.matrix.msc4143", "org.matrix.msc3266", "org.matrix.msc4222"):
            self.assertIs(features.get(flag), True, flag)
        # The flags describe what is served: the stable room summary path answers.
        token = (await self.register("alice"))["access_token"]
        room_id = (await self.post("/_matrix/client/v3/createRoom", {}, token=token)).json["room_id"]
        r = await self.get(f"/_matrix/client/v1/room_summary/{quote(room_id)}", token=token)
        self.assertEqual((r.code, r.json["room_id"]), (200, room_id))


class CallMemberStateTest(HomeserverTestCase):
    """Element Call's membership state (the digest's §3): `org.matrix.msc3401.call.member` with a
    state key `_{userId}_{deviceId}_m.call`, which the leading `_` keeps out of the rule that
    `@`-prefixed state keys must be the sender's own ID; members may send it once the room's
    power levels give it level 0, as Element Call sets them."""

    async def test_member_sends_underscore_keyed_membership(self) -> None:
        alice = (await self.register("alice"))["access_token"]
        bob = (await self.register("bob"))["access_token"]
        room_id = (await self.post("/_matrix/client/v3/createRoom", {
            "preset": "public_chat", "power_level_content_override": {
                "events": {"org.matrix.msc3401.call.member": 0}}}, token=alice)).json["room_id"]
        self.assertEqual((await self.post(f"/_matrix/client/v3/rooms/{quote(room_id)}/join", {}, token=bob)).code, 200)
        base = f"/_matrix/client/v3/rooms/{quote(room_id)}/state/org.matrix.msc3401.call.member"
        content = {"application": "m.call", "call_id": "", "scope": "m.room", "device_id": "BOBDEVICE",
                   "focus_active": {"type": "livekit", "focus_selection": "multi_sfu"},
                   "foci_preferred": [LIVEKIT], "created_ts": 1, "expires": 14400000}
        r = await self.request("PUT", f"{base}/{quote('_@bob:test_BOBDEVICE_m.call', safe='')}", content, token=bob)
        self.assertEqual(r.code, 200, r.json)
        r = await self.get(f"{base}/{quote('_@bob:test_BOBDEVICE_m.call', safe='')}", token=alice)
        self.assertEqual((r.code, r.json), (200, content))
        # Leaving the call: empty content.
        r = await self.request("PUT", f"{base}/{quote('_@bob:test_BOBDEVICE_m.call', safe='')}", {}, token=bob)
        self.assertEqual(r.code, 200, r.json)
        # Without the leading underscore, a key that starts with @ must be the sender's own ID.
        r = await self.request("PUT", f"{base}/{quote('@bob:test_BOBDEVICE', safe='')}", content, token=bob)
        self.assert_error(r, 403, "M_FORBIDDEN")

    async def test_msc4195_get_token_is_unrecognized(self) -> None:
        """matrix-js-sdk tries MSC4195's get_token on the homeserver; 404 M_UNRECOGNIZED sends it to
        lk-jwt-service instead."""
        token = (await self.register("alice"))["access_token"]
        r = await self.post("/_matrix/client/unstable/io.element.msc4195/rtc/livekit/get_token", {}, token=token)
        self.assert_error(r, 404, "M_UNRECOGNIZED")


class TransportsTest(HomeserverTestCase):
    config_overrides = {"matrix_rtc": {"transports": [LIVEKIT, OTHER]}, "allow_guest_access": True}

    async def test_served_as_configured(self) -> None:
        token = (await self.register("alice"))["access_token"]
        for path in (STABLE, UNSTABLE):
            r = await self.get(path, token=token)
            self.assertEqual((r.code, r.json), (200, {"rtc_transports": [LIVEKIT, OTHER]}), path)
            self.assertEqual(r.headers["access-control-allow-origin"], "*")
        # Guests join calls too.
        r = await self.post("/_matrix/client/v3/register?kind=guest", {})
        self.assertEqual(r.code, 200, r.json)
        r = await self.get(STABLE, token=r.json["access_token"])
        self.assertEqual((r.code, r.json), (200, {"rtc_transports": [LIVEKIT, OTHER]}))

    async def test_well_known_rtc_foci_with_cors(self) -> None:
        r = await self.get(WELL_KNOWN)
        self.assertEqual(r.code, 200)
        self.assertEqual(r.json, {"m.homeserver": {"base_url": "https://matrix.test/"}, RTC_FOCI: [LIVEKIT, OTHER]})
        # Element Web and Element Call fetch it from another origin.
        self.assertEqual(r.headers["access-control-allow-origin"], "*")
        preflight = await self.request("OPTIONS", WELL_KNOWN, headers={
            "Origin": "https://call.example.com", "Access-Control-Request-Method": "GET"})
        self.assertEqual(preflight.code, 200)
        self.assertEqual(preflight.headers["access-control-allow-origin"], "*")
        self.assertIn("GET", preflight.headers["access-control-allow-methods"])

    async def test_answers_are_copies(self) -> None:
        """A caller changing one answer does not change the next (nor the config)."""
        token = (await self.register("alice"))["access_token"]
        first = await self.get(STABLE, token=token)
        first.json["rtc_transports"][0]["type"] = "changed"
        self.assertEqual((await self.get(STABLE, token=token)).json["rtc_transports"][0], LIVEKIT)
        self.assertEqual(self.hs.config.matrix_rtc_transports, [LIVEKIT, OTHER])


class OperatorFociWinTest(HomeserverTestCase):
    """An operator who writes rtc_foci into extra_well_known_client_content keeps their value."""

    own = [{"type": "livekit", "livekit_service_url": "https://elsewhere.example.com/jwt"}]
    config_overrides = {"matrix_rtc": {"transports": [LIVEKIT]},
                        "extra_well_known_client_content": {RTC_FOCI: own}}

    async def test_extra_content_wins(self) -> None:
        self.assertEqual((await self.get(WELL_KNOWN)).json[RTC_FOCI], self.own)
        token = (await self.register("alice"))["access_token"]
        self.assertEqual((await self.get(STABLE, token=token)).json, {"rtc_transports": [LIVEKIT]})


class TransportsConfigTest(unittest.TestCase):
    def setUp(self) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="hs-rtc-")

    def config(self, matrix_rtc: object) -> Config:
        return Config(test_config(self.data_dir, matrix_rtc=matrix_rtc), self.data_dir)

    def test_good(self) -> None:
        self.assertEqual(self.config({"transports": [LIVEKIT, OTHER]}).matrix_rtc_transports, [LIVEKIT, OTHER])
        self.assertEqual(self.config({}).matrix_rtc_transports, [])
        self.assertEqual(Config(test_config(self.data_dir), self.data_dir).matrix_rtc_transports, [])
        http = {"type": "livekit", "livekit_service_url": "http://127.0.0.1:8080"}
        self.assertEqual(self.config({"transports": [http]}).matrix_rtc_transports, [http])

    def test_bad_is_a_config_error_naming_the_key(self) -> None:
        cases = [
            ({"transports": LIVEKIT}, "matrix_rtc.transports"),  # not a list
            ({"transports": ["livekit"]}, "matrix_rtc.transports[0]"),  # not an object
            ({"transports": [{"livekit_service_url": "https://x"}]}, "matrix_rtc.transports[0]"),  # no type
            ({"transports": [LIVEKIT, {"type": 1}]}, "matrix_rtc.transports[1].type"),
            ({"transports": [{"type": ""}]}, "matrix_rtc.transports[0].type"),
            ({"transports": [{"type": "livekit"}]}, "matrix_rtc.transports[0]"),  # livekit needs its URL
            ({"transports": [{"type": "livekit", "livekit_service_url": "rtc.example.com/jwt"}]},
             "matrix_rtc.transports[0].livekit_service_url"),
            ({"transports": [{"type": "livekit", "livekit_service_url": 5}]},
             "matrix_rtc.transports[0].livekit_service_url"),
            ({"transport": [LIVEKIT]}, "matrix_rtc"),  # unknown key
            ([LIVEKIT], "matrix_rtc"),
        ]
        for matrix_rtc, where in cases:
            with self.assertRaises(ConfigError, msg=repr(matrix_rtc)) as caught:
                self.config(matrix_rtc)
            self.assertIn(f"Config error at {where}:", str(caught.exception), matrix_rtc)
        with self.assertRaises(ConfigError) as caught:
            self.config({"transports": [{"type": "livekit"}]})
        self.assertIn("livekit_service_url", str(caught.exception))


class UserInfoWithoutFederationTest(HomeserverTestCase):
    """lk-jwt-service checks the OpenID token at the federation userinfo path: it must answer on a
    server that does not federate (`federation_domain_whitelist: []`), on a client-only listener,
    on a federation listener and on an `openid` one."""

    config_overrides = {"federation_domain_whitelist": [], "web_client": {"enabled": False}}

    async def openid_token(self) -> str:
        alice = (await self.register("alice"))["access_token"]
        r = await self.post(f"/_matrix/client/v3/user/{quote('@alice:test')}/openid/request_token", {}, token=alice)
        self.assertEqual(r.code, 200, r.json)
        return r.json["access_token"]

    def use_listener(self, *names: str) -> None:
        self.site = self.hs.build_site(resources=names)
        self.site.timeOut = None

    async def test_every_listener_kind(self) -> None:
        self.use_listener("client")
        token = await self.openid_token()
        for names in (("client",), ("federation",), ("openid",), ("client", "federation"), ("federation", "openid")):
            self.use_listener(*names)
            r = await self.get(f"{USERINFO}?access_token={quote(token)}")
            self.assertEqual((r.code, r.json), (200, {"sub": "@alice:test"}), names)
            self.assert_error(await self.get(f"{USERINFO}?access_token=made-up"), 401, "M_UNKNOWN_TOKEN")
            self.assert_error(await self.get(USERINFO), 400, "M_MISSING_PARAM")

    async def test_openid_listener_serves_only_userinfo(self) -> None:
        self.use_listener("client")
        token = await self.openid_token()
        self.use_listener("openid")
        self.assert_error(await self.get("/_matrix/client/versions"), 404, "M_UNRECOGNIZED")
        self.assert_error(await self.get("/_matrix/federation/v1/version"), 404, "M_UNRECOGNIZED")
        r = await self.post(f"/_matrix/client/v3/user/{quote('@alice:test')}/openid/request_token", {},
                            token=token)
        self.assert_error(r, 404, "M_UNRECOGNIZED")
        # A keys-only listener does not serve it.
        self.use_listener("keys")
        self.assert_error(await self.get(f"{USERINFO}?access_token={quote(token)}"), 404, "M_UNRECOGNIZED")

    async def test_other_federation_endpoints_still_need_signatures(self) -> None:
        """Only the userinfo endpoint answers without a signed request."""
        self.use_listener("federation")
        r = await self.get(f"/_matrix/federation/v1/state_ids/{quote('!room:test')}?event_id={quote('$e')}")
        self.assert_error(r, 401, "M_UNAUTHORIZED")

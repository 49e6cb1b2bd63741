"""GET /voip/turnServer: TURN REST API credentials from a shared secret, fixed ones, or none."""

import base64
import hashlib
import hmac
import tempfile

from twisted.trial import unittest

from homeserver.api.errors import MatrixError
from homeserver.clock import Clock
from homeserver.config import Config, ConfigError
from homeserver.handlers.voip import TurnHandler
from tests.server import START_TIME, HomeserverTestCase, test_config

V3 = "/_matrix/client/v3"
URIS = ["turn:turn.test:3478?transport=udp", "turns:turn.test:5349?transport=tcp"]


class TurnWithSecretTest(HomeserverTestCase):
    config_overrides = {"turn_uris": URIS, "turn_shared_secret": "s3cret", "turn_user_lifetime": "2h",
                        # the secret wins over fixed credentials
                        "turn_username": "fixed", "turn_password": "fixed-pw"}

    async def test_time_limited_credentials(self) -> None:
        token = (await self.register("alice"))["access_token"]
        self.advance(10)
        r = await self.get(f"{V3}/voip/turnServer", token=token)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(set(r.json), {"uris", "username", "password", "ttl"})
        self.assertEqual((r.json["uris"], r.json["ttl"]), (URIS, 7200))
        expiry = int(START_TIME) + 10 + 7200
        self.assertEqual(r.json["username"], f"{expiry}:@alice:test")
        mac = hmac.new(b"s3cret", r.json["username"].encode(), hashlib.sha1).digest()
        self.assertEqual(r.json["password"], base64.b64encode(mac).decode())
        self.assert_error(await self.get(f"{V3}/voip/turnServer"), 401, "M_MISSING_TOKEN")


class TurnWithFixedCredentialsTest(HomeserverTestCase):
    config_overrides = {"turn_uris": URIS[:1], "turn_username": "fixed", "turn_password": "fixed-pw"}

    async def test_fixed_credentials(self) -> None:
        token = (await self.register("alice"))["access_token"]
        r = await self.get(f"{V3}/voip/turnServer", token=token)
        self.assertEqual((r.code, r.json), (200, {"uris": URIS[:1], "username": "fixed", "password": "fixed-pw",
                                                  "ttl": 3600}))


class NoTurnTest(HomeserverTestCase):
    async def test_nothing_configured(self) -> None:
        token = (await self.register("alice"))["access_token"]
        r = await self.get(f"{V3}/voip/turnServer", token=token)
        self.assertEqual((r.code, r.json), (200, {}))


class TurnUrisWithoutCredentialsTest(HomeserverTestCase):
    config_overrides = {"turn_uris": URIS, "turn_username": "only-a-name"}

    async def test_uris_but_no_credentials(self) -> None:
        token = (await self.register("alice"))["access_token"]
        r = await self.get(f"{V3}/voip/turnServer", token=token)
        self.assertEqual((r.code, r.json), (200, {}))


class TurnHandlerTest(unittest.TestCase):
    def handler(self, **overrides) -> TurnHandler:
        data_dir = tempfile.mkdtemp(prefix="hs-turn-")
        config = Config(test_config(data_dir, turn_uris=URIS, turn_shared_secret="s3cret", **overrides), data_dir)
        return TurnHandler(config, Clock(_FixedReactor()))

    def test_guests(self) -> None:
        with self.assertRaises(MatrixError) as caught:
            self.handler(turn_allow_guests=False).get_credentials("@guest:test", is_guest=True)
        self.assertEqual((caught.exception.code, caught.exception.errcode), (403, "M_FORBIDDEN"))
        self.assertEqual(self.handler().get_credentials("@guest:test", is_guest=True)["ttl"], 3600)

    def test_config_checks(self) -> None:
        data_dir = tempfile.mkdtemp(prefix="hs-turn-")
        for bad in ({"turn_uris": ["turn.test:3478"]}, {"turn_user_lifetime": "500ms"}):
            with self.assertRaises(ConfigError):
                Config(test_config(data_dir, **bad), data_dir)


class TurnStartupWarningTest(unittest.TestCase):
    """turn_uris with no way to make credentials is said at start-up, naming what is missing."""

    def build(self, **overrides) -> None:
        data_dir = tempfile.mkdtemp(prefix="hs-turn-")
        TurnHandler(Config(test_config(data_dir, **overrides), data_dir), Clock(_FixedReactor()))

    def test_warned(self) -> None:
        for overrides, missing in (
                ({"turn_uris": URIS}, "neither turn_shared_secret nor turn_username/turn_password is set"),
                ({"turn_uris": URIS, "turn_username": "u"}, "turn_password is not set"),
                ({"turn_uris": URIS, "turn_password": "p"}, "turn_username is not set"),
                ({"turn_uris": URIS, "turn_shared_secret": ""}, "neither turn_shared_secret")):
            with self.assertLogs("homeserver.handlers.voip", "WARNING") as logs:
                self.build(**overrides)
            self.assertEqual(len(logs.records), 1, overrides)
            message = logs.records[0].getMessage()
            self.assertIn("turn_uris is set but", message)
            self.assertIn(missing, message)
            self.assertIn("turn_shared_secret", message)

    def test_not_warned(self) -> None:
        for overrides in ({}, {"turn_uris": URIS, "turn_shared_secret": "s"},
                          {"turn_uris": URIS, "turn_username": "u", "turn_password": "p"},
                          {"turn_shared_secret": "s"}):
            with self.assertNoLogs("homeserver.handlers.voip", "WARNING"):
                self.build(**overrides)


class TurnWarningAtServerStartTest(HomeserverTestCase):
    """The real server logs it once while it is built (after logging is set up)."""

    config_overrides = {"turn_uris": URIS}

    async def _set_up(self) -> None:
        with self.assertLogs("homeserver.handlers.voip", "WARNING") as self.logs:
            await super()._set_up()

    async def test_logged_and_endpoint_empty(self) -> None:
        self.assertEqual([r.levelname for r in self.logs.records], ["WARNING"])
        self.assertIn("turn_uris is set but neither turn_shared_secret", self.logs.records[0].getMessage())
        token = (await self.register("alice"))["access_token"]
        r = await self.get(f"{V3}/voip/turnServer", token=token)
        self.assertEqual((r.code, r.json), (200, {}))


class _FixedReactor:
    def seconds(self) -> float:
        return START_TIME

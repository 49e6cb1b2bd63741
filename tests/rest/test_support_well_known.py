"""GET /.well-known/matrix/support: the configured contacts and support page, or 404."""

from twisted.trial import unittest

from homeserver.config import Config, ConfigError
from tests.server import HomeserverTestCase

SUPPORT = "/.well-known/matrix/support"


class NoSupportConfiguredTest(HomeserverTestCase):
    async def test_not_found(self) -> None:
        self.assert_error(await self.get(SUPPORT), 404, "M_NOT_FOUND")


class SupportConfiguredTest(HomeserverTestCase):
    config_overrides = {"server_support": {
        "contacts": [{"role": "m.role.admin", "matrix_id": "@admin:example.org", "email_address": "admin@example.org"},
                     {"role": "m.role.security", "email_address": "security@example.org"}],
        "support_page": "https://example.org/support.html",
    }}

    async def test_contacts_and_page(self) -> None:
        r = await self.get(SUPPORT)
        self.assertEqual(r.code, 200)
        self.assertEqual(r.json, self.config_overrides["server_support"])


class SupportPageOnlyTest(HomeserverTestCase):
    config_overrides = {"server_support": {"support_page": "https://example.org/help"}}

    async def test_page_only(self) -> None:
        self.assertEqual((await self.get(SUPPORT)).json, {"support_page": "https://example.org/help"})


class SupportConfigTest(unittest.TestCase):
    def test_bad_contacts_are_config_errors(self) -> None:
        for support in ({"contacts": [{"matrix_id": "@a:b"}]},  # no role
                        {"contacts": [{"role": "m.role.admin"}]},  # neither matrix_id nor email_address
                        {"contacts": [{"role": "m.role.admin", "matrix_id": "admin"}]},
                        {"support_page": "example.org"},
                        {"contact": []}):
            with self.assertRaises(ConfigError, msg=support) as cm:
                Config({"server_name": "x", "server_support": support}, "/tmp")
            self.assertIn("server_support", str(cm.exception))

"""Guest access with the real matrix-js-sdk against the real server process (the scenario
tests/clients/js/scenarios/guest_access.js): registerGuest, peeking, a guest's sync, join and
message, the upgrade to a full account."""

from __future__ import annotations

from twisted.trial import unittest

from tests.clients import test_js_sdk
from tests.clients.nio_support import OPEN_REGISTRATION
from tests.clients.server_process import SQLITE_PASS_ONLY


class JsSdkGuestAccessTest(unittest.TestCase):
    skip = SQLITE_PASS_ONLY
    # Imported as a module: a test class imported by name would run here too.
    run_scenario = test_js_sdk.JsSdkEncryptionTest.run_scenario

    def test_guest_previews_joins_and_upgrades(self):
        self.run_scenario("guest_access", {**OPEN_REGISTRATION, "allow_guest_access": True})

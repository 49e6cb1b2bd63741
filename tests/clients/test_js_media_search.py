"""Media, message search and the user directory with the real matrix-js-sdk against the real server
process (the scenario tests/clients/js/scenarios/media_search.js)."""

from __future__ import annotations

from twisted.trial import unittest

from tests.clients import test_js_sdk
from tests.clients.server_process import SQLITE_PASS_ONLY


class JsSdkMediaSearchTest(unittest.TestCase):
    skip = SQLITE_PASS_ONLY
    # Imported as a module: a test class imported by name would run here too.
    run_scenario = test_js_sdk.JsSdkEncryptionTest.run_scenario

    def test_media_search_and_user_directory(self):
        self.run_scenario("media_search")

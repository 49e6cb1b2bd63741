"""Simplified sliding sync (MSC4186) with the real matrix-js-sdk (its SlidingSync class) against
the real server process: the scenario tests/clients/js/scenarios/sliding_sync.js."""

from __future__ import annotations

from twisted.trial import unittest

from tests.clients import test_js_sdk


class JsSdkSlidingSyncTest(unittest.TestCase):
    # Imported as a module: a test class imported by name would run here too.
    run_scenario = test_js_sdk.JsSdkEncryptionTest.run_scenario

    def test_sliding_sync_lists_messages_and_subscriptions(self):
        self.run_scenario("sliding_sync")

"""The MatrixRTC server side with the real matrix-js-sdk against the real server process (the
scenario tests/clients/js/scenarios/matrixrtc_server.js), on a server with federation off and only
a client listener; and the TURN start-up warning in the real process's log."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from twisted.trial import unittest

from tests.clients.nio_support import OPEN_REGISTRATION
from tests.clients.server_process import SQLITE_PASS_ONLY, ServerProcess
from tests.clients.test_js_sdk import JS_DIR, PROCESS_TIMEOUT_S, SCENARIO_TIMEOUT_S, node_problem

TRANSPORTS = [{"type": "livekit", "livekit_service_url": "https://rtc.example.com/livekit/jwt"},
              {"type": "org.example.sfu", "url": "https://sfu.example.com", "weight": 2}]


class JsSdkMatrixRtcServerTest(unittest.TestCase):
    skip = SQLITE_PASS_ONLY
    def test_transports_summary_and_userinfo_without_federation(self) -> None:
        problem = node_problem()
        if problem is not None:
            self.fail(problem)
        server = ServerProcess({**OPEN_REGISTRATION, "matrix_rtc": {"transports": TRANSPORTS},
                                "federation_domain_whitelist": []})
        server.start()
        self.addCleanup(server.stop)
        env = dict(os.environ, JS_SCENARIO_TIMEOUT_MS=str(SCENARIO_TIMEOUT_S * 1000),
                   RTC_TRANSPORTS=json.dumps(TRANSPORTS))
        result = subprocess.run([shutil.which("node"), "scenarios/matrixrtc_server.js", server.base_url],
                                cwd=JS_DIR, env=env, capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S,
                                stdin=subprocess.DEVNULL)
        if result.returncode != 0 or "PASS matrixrtc_server" not in result.stdout:
            self.fail(f"scenario failed (exit {result.returncode})\n--- stdout ---\n{result.stdout[-6000:]}\n"
                      f"--- stderr ---\n{result.stderr[-4000:]}\n--- server log tail ---\n{server.log_tail()}")


class TurnWarningInProcessLogTest(unittest.TestCase):
    def test_turn_uris_without_credentials_is_logged_at_start(self) -> None:
        server = ServerProcess({"turn_uris": ["turn:turn.example.com:3478?transport=udp"]})
        server.start()
        self.addCleanup(server.stop)
        log = server.log_tail(200_000)
        self.assertIn("turn_uris is set but neither turn_shared_secret nor turn_username/turn_password is set", log)
        self.assertIn("WARNING", log)

    def test_no_warning_with_a_secret(self) -> None:
        server = ServerProcess({"turn_uris": ["turn:turn.example.com:3478?transport=udp"],
                                "turn_shared_secret": "s3cret"})
        server.start()
        self.addCleanup(server.stop)
        self.assertNotIn("turn_uris is set but", server.log_tail(200_000))

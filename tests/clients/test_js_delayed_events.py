"""Delayed events (MSC4140) with the real matrix-js-sdk against the real server process, across a
crash: the scenario tests/clients/js/scenarios/delayed_events.js schedules (as Element Call does),
the server is killed (SIGKILL) and started again once the short delay is overdue, and the second
phase sees that event sent exactly once, then restarts without a token, cancels and sends."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time

from twisted.trial import unittest

from tests.clients.nio_support import OPEN_REGISTRATION
from tests.clients.server_process import SQLITE_PASS_ONLY, ServerProcess
from tests.clients.test_js_sdk import JS_DIR, PROCESS_TIMEOUT_S, SCENARIO_TIMEOUT_S, _text, node_problem

# Past the short delay's due time before the server comes back, so start-up itself must send it.
OVERDUE_MARGIN_S = 1.0


class JsSdkDelayedEventsTest(unittest.TestCase):
    skip = SQLITE_PASS_ONLY
    def run_phase(self, server: ServerProcess, phase: str, state_file: str) -> None:
        env = dict(os.environ, JS_SCENARIO_TIMEOUT_MS=str(SCENARIO_TIMEOUT_S * 1000))
        try:
            result = subprocess.run(
                [shutil.which("node"), "scenarios/delayed_events.js", server.base_url, phase, state_file],
                cwd=JS_DIR, env=env, capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as e:
            self.fail(f"phase {phase} was killed after {PROCESS_TIMEOUT_S}s\n--- stdout ---\n{_text(e.stdout)[-6000:]}"
                      f"\n--- stderr ---\n{_text(e.stderr)[-4000:]}\n--- server log tail ---\n{server.log_tail()}")
        if result.returncode != 0 or "PASS delayed_events" not in result.stdout:
            self.fail(f"phase {phase} failed (exit {result.returncode})\n--- stdout ---\n{result.stdout[-6000:]}\n"
                      f"--- stderr ---\n{result.stderr[-4000:]}\n--- server log tail ---\n{server.log_tail()}")

    def test_schedule_crash_restart_cancel(self):
        problem = node_problem()
        if problem is not None:
            self.fail(problem)
        server = ServerProcess(OPEN_REGISTRATION)
        server.start()
        self.addCleanup(server.stop)
        state_dir = tempfile.mkdtemp(prefix="delayed-events-js-")
        self.addCleanup(shutil.rmtree, state_dir, True)
        state_file = os.path.join(state_dir, "state.json")

        self.run_phase(server, "schedule", state_file)
        server.kill_hard()
        with open(state_file, encoding="utf-8") as f:
            due_s = json.load(f)["shortDueMs"] / 1000
        # The server is down: real time has to pass for the delay to run out meanwhile.
        wait_s = due_s + OVERDUE_MARGIN_S - time.time()
        if wait_s > 0:
            time.sleep(wait_s)
        server.relaunch()
        self.run_phase(server, "after_restart", state_file)

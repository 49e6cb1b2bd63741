"""End-to-end encryption with the real matrix-js-sdk (43, Rust crypto) against the real server process.

Each test starts a fresh server on a loopback port and runs one Node scenario from
``tests/clients/js/scenarios/`` against it; the scenario prints its steps and exits 0 on success.
Node and the npm packages are a hard requirement: ``scripts/setup-env.sh test`` runs ``npm ci`` in
``tests/clients/js``. A missing Node or node_modules FAILS these tests (it never skips them).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from twisted.trial import unittest

from tests.clients.nio_support import OPEN_REGISTRATION
from tests.clients.server_process import ServerProcess

JS_DIR = Path(__file__).resolve().parent / "js"
MIN_NODE_MAJOR = 20
# Inner limit (the scenario reports which step hung) and outer limit (kill a wedged Node process).
SCENARIO_TIMEOUT_S = 200
PROCESS_TIMEOUT_S = SCENARIO_TIMEOUT_S + 40


def node_problem() -> str | None:
    """Why the JS scenarios cannot run here, or None if Node and the packages are in place."""
    node = shutil.which("node")
    if node is None:
        return ("Node.js is not installed: the matrix-js-sdk tests need node >= 20 and npm "
                "(Debian: apt-get install nodejs npm), then run scripts/setup-env.sh test")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    match = re.match(r"v(\d+)\.", version)
    if not match or int(match.group(1)) < MIN_NODE_MAJOR:
        return f"Node.js {version or '(unknown version)'} is too old: the matrix-js-sdk tests need node >= 20"
    if not (JS_DIR / "node_modules" / "matrix-js-sdk" / "package.json").is_file():
        return (f"{JS_DIR / 'node_modules'} is missing matrix-js-sdk: run scripts/setup-env.sh test "
                "(it runs npm ci in tests/clients/js)")
    return None


def run_node_scenario(test: unittest.TestCase, name: str, servers: list) -> None:
    """Run scenarios/{name}.js against the started `servers` (their base URLs as arguments, the
    first one the default); fail `test` with the output and the servers' log tails."""
    problem = node_problem()
    if problem is not None:
        test.fail(problem)
    env = dict(os.environ, JS_SCENARIO_TIMEOUT_MS=str(SCENARIO_TIMEOUT_S * 1000))

    def logs() -> str:
        return "".join(f"--- server log tail ({s.base_url}) ---\n{s.log_tail()}\n" for s in servers)

    try:
        result = subprocess.run(
            [shutil.which("node"), f"scenarios/{name}.js", *[s.base_url for s in servers]],
            cwd=JS_DIR, env=env, capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as e:
        test.fail(f"scenario {name} was killed after {PROCESS_TIMEOUT_S}s\n"
                  f"--- stdout ---\n{_text(e.stdout)[-6000:]}\n--- stderr ---\n{_text(e.stderr)[-4000:]}\n{logs()}")
    if result.returncode != 0 or f"PASS {name}" not in result.stdout:
        test.fail(f"scenario {name} failed (exit {result.returncode})\n"
                  f"--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-4000:]}\n{logs()}")


class JsSdkEncryptionTest(unittest.TestCase):
    def run_scenario(self, name: str, config: dict | None = None) -> None:
        problem = node_problem()
        if problem is not None:
            self.fail(problem)
        server = ServerProcess(OPEN_REGISTRATION if config is None else config)
        server.start()
        self.addCleanup(server.stop)
        run_node_scenario(self, name, [server])

    def test_encrypted_dm_both_directions(self):
        self.run_scenario("encrypted_dm")

    def test_encrypted_group_room_three_users(self):
        self.run_scenario("encrypted_group")

    def test_cross_signing_uia_and_verification(self):
        self.run_scenario("cross_signing")

    def test_key_backup_restored_by_new_login(self):
        self.run_scenario("key_backup")

    def test_device_list_changes_reach_the_other_user(self):
        self.run_scenario("device_changes")

    def test_fallback_key_when_one_time_keys_run_out(self):
        self.run_scenario("fallback_keys")

    def test_dehydrated_device_rehydrated_by_new_login(self):
        self.run_scenario("dehydrated_device")

    def test_new_device_verified_by_other_device_gets_secrets(self):
        self.run_scenario("self_verification")


def _text(output: str | bytes | None) -> str:
    if output is None:
        return ""
    return output.decode("utf-8", errors="replace") if isinstance(output, bytes) else output

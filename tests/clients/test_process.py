"""The real server process: crash safety, the CLI, metrics, start-up refusals."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import urllib.request

import yaml
from twisted.trial import unittest

from tests.clients.server_process import HOST, PG_ADMIN, REPO_ROOT, ServerProcess, free_port


class ProcessTest(unittest.TestCase):
    def start(self, overrides: dict | None = None) -> ServerProcess:
        server = ServerProcess(overrides)
        server.start()
        self.addCleanup(server.stop)
        return server

    def test_acknowledged_writes_survive_sigkill(self) -> None:
        server = self.start({"enable_registration": True, "enable_registration_without_verification": True})
        reg = server.register_admin_via_shared_secret("alice", "pw")
        status, login = server.request("POST", "/_matrix/client/v3/login", {
            "type": "m.login.password", "user": "alice", "password": "pw", "device_id": "KEEPME"})
        self.assertEqual(status, 200)
        status, _ = server.request("PUT", "/_matrix/client/v3/devices/KEEPME", {"display_name": "Laptop"},
                                   access_token=login["access_token"])
        self.assertEqual(status, 200)
        server.kill_hard()
        server.relaunch()
        status, body = server.request("GET", "/_matrix/client/v3/devices", access_token=reg["access_token"])
        self.assertEqual(status, 200, body)
        names = {d["device_id"]: d["display_name"] for d in body["devices"]}
        self.assertEqual(names["KEEPME"], "Laptop")
        status, body = server.request("GET", "/_matrix/client/v3/account/whoami",
                                      access_token=login["access_token"])
        self.assertEqual((status, body["user_id"]), (200, "@alice:localhost"))

    def test_register_user_cli(self) -> None:
        server = self.start()
        result = subprocess.run(
            [sys.executable, "-m", "homeserver", "register-user", "-c", str(server.config_path),
             "-u", "bob", "-p", "bobpw", "-a", server.base_url],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("@bob:localhost", result.stdout)
        status, login = server.request("POST", "/_matrix/client/v3/login",
                                       {"type": "m.login.password", "user": "bob", "password": "bobpw"})
        self.assertEqual(status, 200)
        status, _ = server.request("GET", "/_synapse/admin/v1/registration_tokens",
                                   access_token=login["access_token"])
        self.assertEqual(status, 200)  # -a made an admin
        result = subprocess.run(
            [sys.executable, "-m", "homeserver", "register-user", "-c", str(server.config_path),
             "-u", "bob", "-p", "x", "--no-admin", server.base_url],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("M_USER_IN_USE", result.stderr)

    def test_metrics_listener(self) -> None:
        port = free_port()
        server = ServerProcess({"enable_metrics": True})
        server.start()
        self.addCleanup(server.stop)
        # Add a metrics listener and restart on the same data.
        server.config["listeners"].append({"port": port, "type": "metrics", "bind_addresses": [HOST]})
        with open(server.config_path, "w") as f:
            yaml.safe_dump(server.config, f)
        server.kill_hard()
        server.relaunch()
        server.request("GET", "/_matrix/client/v3/account/whoami")
        with urllib.request.urlopen(f"http://{HOST}:{port}/", timeout=10) as resp:
            text = resp.read().decode()
        self.assertIn('homeserver_http_requests_total{code="401",method="GET",servlet="WhoamiServlet"}', text)
        self.assertIn("homeserver_db_transaction_duration_seconds", text)
        self.assertIn("homeserver_reactor_tick_seconds", text)
        self.assertIn('homeserver_cache_misses_total{cache="access_tokens"}', text)

    def test_config_error_stops_startup_with_the_key(self) -> None:
        server = self.start()
        server.config["rc_login"] = {"address": {"per_second": "fast"}}
        server.config["no_such_option"] = 1
        with open(server.config_path, "w") as f:
            yaml.safe_dump(server.config, f)
        server.kill_hard()
        result = subprocess.run([sys.executable, "-m", "homeserver", "run", "-c", str(server.config_path)],
                                cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 1)
        self.assertIn("Config error at (top level): unknown option(s): no_such_option", result.stderr)

    def test_refuses_a_newer_database(self) -> None:
        server = self.start()
        server.kill_hard()
        if server.pg_database:
            import psycopg2

            conn = psycopg2.connect(**dict(PG_ADMIN, dbname=server.pg_database))
            conn.autocommit = True
            conn.cursor().execute("UPDATE schema_version SET version = version + 100")
            conn.close()
        else:
            conn = sqlite3.connect(server.config["database"]["args"]["database"]
                                   if server.config["database"]["args"]["database"].startswith("/")
                                   else str(server.config_path.parent / server.config["database"]["args"]["database"]))
            conn.execute("UPDATE schema_version SET version = version + 100")
            conn.commit()
            conn.close()
        result = subprocess.run([sys.executable, "-m", "homeserver", "run", "-c", str(server.config_path)],
                                cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 1)
        self.assertIn("newer than this server", result.stdout + result.stderr)

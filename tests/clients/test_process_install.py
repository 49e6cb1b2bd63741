"""A SQLite install needs no PostgreSQL driver: with psycopg2 hidden, the real server runs on
SQLite, and refuses a PostgreSQL config with a message that says what to install."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml
from twisted.trial import unittest

from tests.clients.server_process import REPO_ROOT, ServerProcess


class NoPsycopg2Test(unittest.TestCase):
    timeout = 120

    def setUp(self) -> None:
        hidden = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(hidden, "psycopg2"))
        with open(os.path.join(hidden, "psycopg2", "__init__.py"), "w") as f:
            f.write('raise ImportError("psycopg2 is hidden by this test")\n')
        self.env = {"PYTHONPATH": hidden}

    def test_sqlite_server_runs_without_psycopg2(self) -> None:
        database = os.path.abspath(self.mktemp())
        server = ServerProcess({"database": {"name": "sqlite3", "args": {"database": database}}}, env=self.env)
        server.start()
        self.addCleanup(server.stop)
        self.assertEqual(server.request("GET", "/_matrix/client/versions")[0], 200)
        self.assertEqual(server.register_admin_via_shared_secret("alice", "pw")["user_id"], "@alice:localhost")

    def test_postgres_config_without_psycopg2_is_a_clear_error(self) -> None:
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        config_path = os.path.join(workdir, "homeserver.yaml")
        subprocess.run([sys.executable, "-m", "homeserver", "generate-config", "--server-name", "localhost",
                        "--config-path", config_path], cwd=REPO_ROOT, check=True, capture_output=True, timeout=60)
        with open(config_path) as f:
            config = yaml.safe_load(f)
        config["database"] = {"name": "psycopg2", "args": {"host": "127.0.0.1", "database": "unused"}}
        with open(config_path, "w") as f:
            yaml.safe_dump(config, f)
        result = subprocess.run([sys.executable, "-m", "homeserver", "run", "-c", config_path], cwd=REPO_ROOT,
                                env={**os.environ, **self.env}, capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("Config error at database.name: database.name is psycopg2 (PostgreSQL) but the psycopg2 "
                      "module is not installed", result.stderr)
        self.assertIn("[postgres]", result.stderr)
        self.assertNotIn("Traceback", result.stderr)

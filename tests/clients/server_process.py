"""Run the real homeserver as a child process on a loopback port, for client-library tests.

A ``ServerProcess`` owns a temporary directory holding a freshly generated config, the
SQLite database (or the name of a throw-away PostgreSQL database when
``HOMESERVER_TEST_DB=postgres``) and the server's log. Typical use from a trial test::

    server = ServerProcess({"enable_registration": True})
    server.start()
    self.addCleanup(server.stop)
    ... server.base_url ...
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

HOST = "127.0.0.1"
SERVER_NAME = "localhost"
REPO_ROOT = Path(__file__).resolve().parents[2]

STARTUP_TIMEOUT_S = 30.0

# The real-process tests of the protocol with other software (Synapse, matrix-js-sdk, the spec
# fuzzer) run in the suite's SQLite pass; its PostgreSQL pass skips them (`skip = SQLITE_PASS_ONLY`
# on the class): the server code is the same, the in-process PostgreSQL pass covers the storage, and
# CI's time is short. HOMESERVER_TEST_ALL_ON_POSTGRES=1 runs them on PostgreSQL too.
_ON_POSTGRES = os.environ.get("HOMESERVER_TEST_DB", "").strip().lower() in ("postgres", "postgresql")
SQLITE_PASS_ONLY = ("run in the SQLite pass (HOMESERVER_TEST_ALL_ON_POSTGRES=1 runs it on PostgreSQL)"
                    if _ON_POSTGRES and not os.environ.get("HOMESERVER_TEST_ALL_ON_POSTGRES") else None)
STOP_GRACE_S = 10.0

_UNLIMITED = {"per_second": 1000, "burst_count": 10000}

# Applied to every generated config before the caller's own overrides.
BASE_OVERRIDES: dict[str, Any] = {
    "rc_login": {
        "address": dict(_UNLIMITED),
        "account": dict(_UNLIMITED),
        "failed_attempts": dict(_UNLIMITED),
    },
    "rc_registration": dict(_UNLIMITED),
    "rc_message": dict(_UNLIMITED),
    "rc_delayed_event_mgmt": dict(_UNLIMITED),
    "rc_joins": {"local": dict(_UNLIMITED), "remote": dict(_UNLIMITED)},
    "rc_joins_per_room": dict(_UNLIMITED),
    "rc_invites": {"per_room": dict(_UNLIMITED), "per_user": dict(_UNLIMITED), "per_issuer": dict(_UNLIMITED)},
    "rc_room_creation": dict(_UNLIMITED),
    "rc_presence": {"per_user": dict(_UNLIMITED)},
    "rc_key_requests": dict(_UNLIMITED),
    "rc_media_create": dict(_UNLIMITED),
    "rc_3pid_validation": dict(_UNLIMITED),
    # Cheapest argon2id settings: tests hash many passwords and security is irrelevant here.
    "password_config": {"argon2_opslimit": 1, "argon2_memlimit": 8192},
}

# The same server as the in-process tests (tests/server.py reads the same variable for its port).
PG_ADMIN = {"host": HOST, "port": int(os.environ.get("HOMESERVER_TEST_PG_PORT", "5432")), "user": "postgres",
            "dbname": "postgres"}


class ServerStartError(RuntimeError):
    pass


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def registration_mac(secret: str, nonce: str, username: str, password: str, admin: bool) -> str:
    """The hex HMAC-SHA1 the shared-secret registration API expects."""
    message = "\x00".join([nonce, username, password, "admin" if admin else "notadmin"])
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha1).hexdigest()


def _use_postgres() -> bool:
    return os.environ.get("HOMESERVER_TEST_DB", "").strip().lower() in ("postgres", "postgresql")


class ServerProcess:
    def __init__(self, overrides: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> None:
        self.overrides = dict(overrides or {})
        self.env = env  # added to the server process's environment
        self.workdir: Path | None = None
        self.config_path: Path | None = None
        self.log_path: Path | None = None
        self.port: int | None = None
        self.config: dict[str, Any] = {}
        self.pg_database: str | None = None
        self._proc: subprocess.Popen | None = None
        self._log_file = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        assert self.port is not None, "server not started"
        return f"http://{HOST}:{self.port}"

    @property
    def registration_shared_secret(self) -> str:
        secret = self.config.get("registration_shared_secret")
        if not secret:
            raise AssertionError("generated config has no registration_shared_secret")
        return secret

    def start(self) -> ServerProcess:
        self.workdir = Path(tempfile.mkdtemp(prefix="hs-client-test-"))
        self.config_path = self.workdir / "homeserver.yaml"
        self.log_path = self.workdir / "homeserver.log"
        try:
            self._generate_config()
            self._write_config()
            self._launch()
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_GRACE_S)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.pg_database is not None:
            database, self.pg_database = self.pg_database, None
            self._drop_pg_database(database)
        if self.workdir is not None:
            workdir, self.workdir = self.workdir, None
            if os.environ.get("HOMESERVER_TEST_KEEP_TMP"):
                sys.stderr.write(f"keeping server temp dir {workdir}\n")
            else:
                shutil.rmtree(workdir, ignore_errors=True)

    def kill_hard(self) -> None:
        """SIGKILL, as a crash would: no clean shutdown, the temp dir and database stay."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=STOP_GRACE_S)

    def relaunch(self) -> None:
        """Start the server again on the same config and data (after kill_hard)."""
        self._launch()
        self._wait_until_ready()

    def log_tail(self, max_chars: int = 6000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        if self._log_file is not None:
            self._log_file.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return text[-max_chars:]

    # ------------------------------------------------------------------ config

    def _generate_config(self) -> None:
        assert self.config_path is not None
        result = subprocess.run(
            [sys.executable, "-m", "homeserver", "generate-config",
             "--server-name", SERVER_NAME, "--config-path", str(self.config_path)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        )
        if result.returncode != 0 or not self.config_path.exists():
            raise ServerStartError(
                f"generate-config failed (exit {result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        with open(self.config_path, encoding="utf-8") as f:
            self.config = yaml.safe_load(f) or {}

    def _write_config(self) -> None:
        assert self.config_path is not None
        self.port = free_port()
        self.config["listeners"] = [{
            "port": self.port,
            "bind_addresses": [HOST],
            "type": "http",
            "resources": [{"names": ["client"]}],
        }]
        # What /login's well_known and other advertised URLs should point at: this listener.
        self.config["public_baseurl"] = f"http://{HOST}:{self.port}/"
        self.config.update(BASE_OVERRIDES)
        if _use_postgres():
            self.config["database"] = {"name": "psycopg2", "args": self._create_pg_database()}
        self.config.update(self.overrides)
        with open(self.config_path, "w", encoding="utf-8") as f:
            yaml.safe_dump(self.config, f, sort_keys=False)

    def _create_pg_database(self) -> dict[str, Any]:
        import psycopg2

        name = "hs_client_" + secrets.token_hex(6)
        conn = psycopg2.connect(**PG_ADMIN)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        self.pg_database = name
        return {"host": HOST, "port": PG_ADMIN["port"], "user": "postgres", "database": name}

    @staticmethod
    def _drop_pg_database(name: str) -> None:
        import psycopg2

        conn = psycopg2.connect(**PG_ADMIN)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            conn.close()

    # ------------------------------------------------------------------ process

    def _launch(self) -> None:
        assert self.log_path is not None and self.config_path is not None
        self._log_file = open(self.log_path, "ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "homeserver", "run", "-c", str(self.config_path)],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env} if self.env else None,
        )

    def _wait_until_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        last_error = "no attempt"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServerStartError(
                    f"server exited with code {self._proc.returncode} during start-up; "
                    f"log tail:\n{self.log_tail()}"
                )
            try:
                status, _ = self.request("GET", "/_matrix/client/versions", timeout=2)
                if status == 200:
                    return
                last_error = f"HTTP {status}"
            except (OSError, urllib.error.URLError) as e:
                last_error = repr(e)
            time.sleep(0.1)
        raise ServerStartError(
            f"server did not answer /_matrix/client/versions with 200 within "
            f"{STARTUP_TIMEOUT_S:.0f}s (last: {last_error}); log tail:\n{self.log_tail()}"
        )

    # ------------------------------------------------------------------ HTTP helpers

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        access_token: str | None = None,
        timeout: float = 15,
    ) -> tuple[int, Any]:
        """A blocking JSON request; returns (status, parsed body or None). Never raises on 4xx/5xx."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if access_token is not None:
            req.add_header("Authorization", f"Bearer {access_token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", errors="replace")
        return status, parsed

    def get_registration_nonce(self) -> str:
        status, body = self.request("GET", "/_synapse/admin/v1/register")
        if status != 200 or not isinstance(body, dict) or "nonce" not in body:
            raise AssertionError(f"GET /_synapse/admin/v1/register -> {status} {body!r}")
        return body["nonce"]

    def shared_secret_register(
        self,
        username: str,
        password: str,
        admin: bool = False,
        nonce: str | None = None,
        mac: str | None = None,
    ) -> tuple[int, Any]:
        """POST a shared-secret registration; returns (status, body). ``nonce``/``mac`` override the
        freshly fetched nonce and the correct MAC, to test the server's refusals."""
        if nonce is None:
            nonce = self.get_registration_nonce()
        if mac is None:
            mac = registration_mac(self.registration_shared_secret, nonce, username, password, admin)
        return self.request("POST", "/_synapse/admin/v1/register", {
            "nonce": nonce,
            "username": username,
            "password": password,
            "admin": admin,
            "mac": mac,
        })

    def register_admin_via_shared_secret(
        self, username: str, password: str, admin: bool = False
    ) -> dict[str, Any]:
        """Register a user through the shared-secret API; returns the JSON response (raises if not 200)."""
        status, body = self.shared_secret_register(username, password, admin=admin)
        if status != 200 or not isinstance(body, dict):
            raise AssertionError(f"shared-secret registration of {username!r} -> {status} {body!r}")
        return body

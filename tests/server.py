"""In-process test harness: the real HomeServer and resource tree on a real database (SQLite, or
PostgreSQL when HOMESERVER_TEST_DB=postgres), a fake clock, and requests fed to the real HTTP
channel through an in-memory transport (no sockets, no sleeps)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from signedjson.key import generate_signing_key, write_signing_keys
from twisted.internet import defer, reactor, task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from homeserver.clock import Clock
from homeserver.config import Config
from homeserver.rest.http import HomeserverRequest
from homeserver.server import HomeServer
from homeserver.util.cpu_pool import CpuPool
from tests.mail.fakes import FakeMailTransport
from tests.outbound.fakes import StaticResolver, StaticSrvResolver

ACCOUNT_TABLES = [
    "users", "profiles", "erased_users", "devices", "access_tokens", "refresh_tokens", "login_tokens", "registration_tokens",
    "openid_tokens",
    "ui_auth_sessions", "ui_auth_sessions_credentials", "ui_auth_sessions_data",
    "user_threepids", "threepid_validation_sessions", "email_outbox",
    "state_groups", "state_group_entries", "event_to_state_groups",
    "room_aliases", "room_directory",
    "rooms", "events", "event_edges", "event_auth", "event_forward_extremities", "current_state_events",
    "room_memberships", "current_memberships", "event_txn_ids", "redactions", "event_relations",
    "profile_fields", "account_data", "receipts",
    "event_reports", "room_reports", "user_reports", "forgotten_rooms",
    "push_rules", "push_rules_predefined", "pushers", "push_notifications",
    "user_filters", "presence_state",
    "device_inbox", "device_inbox_stream", "device_inbox_txns", "room_key_backup_versions", "room_key_backup_keys",
    "dehydrated_devices", "delayed_events", "delayed_event_txns", "event_delay_ids",
    "local_media", "local_media_thumbnails", "url_previews",
    "e2e_device_keys", "e2e_one_time_keys", "e2e_fallback_keys", "e2e_cross_signing_keys", "e2e_signatures",
    "device_lists_stream",
    "event_search", "user_directory", "user_directory_terms", "user_directory_rooms", "user_directory_rebuild",
    "blocked_rooms", "room_deletions", "server_notice_rooms",
]
# Last-seen times change with every authenticated request, accepted or not: not data.
SNAPSHOT_COLUMNS = {"devices": "user_id, device_id, display_name"}
START_TIME = 1_700_000_000.0


def use_postgres() -> bool:
    return os.environ.get("HOMESERVER_TEST_DB", "sqlite") == "postgres"


def postgres_args() -> dict[str, Any]:
    return {
        "host": os.environ.get("HOMESERVER_TEST_PG_HOST", "127.0.0.1"),
        "port": int(os.environ.get("HOMESERVER_TEST_PG_PORT", "5432")),
        "user": os.environ.get("HOMESERVER_TEST_PG_USER", "postgres"),
        "database": os.environ.get("HOMESERVER_TEST_PG_DATABASE", "homeserver_test"),
    }


def reset_postgres_schema() -> None:
    import psycopg2

    conn = psycopg2.connect(**postgres_args())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP SCHEMA IF EXISTS public CASCADE")
        cur.execute("CREATE SCHEMA public")
    conn.close()


def test_config(data_dir: str, **overrides: Any) -> dict[str, Any]:
    """A config for tests: fast password hashing, rate limits out of the way."""
    unlimited = {"per_second": 10000, "burst_count": 100000}
    key_path = os.path.join(data_dir, "test.signing.key")
    if not os.path.exists(key_path):
        with open(key_path, "w") as f:
            write_signing_keys(f, [generate_signing_key("a_test")])
    raw: dict[str, Any] = {
        "server_name": "test",
        "public_baseurl": "https://matrix.test/",
        "database": {"name": "psycopg2", "args": postgres_args()} if use_postgres()
        else {"name": "sqlite3", "args": {"database": os.path.join(data_dir, "homeserver.db")}},
        "registration_shared_secret": "shared-secret",
        "signing_key_path": key_path,
        "enable_registration": True,
        "enable_registration_without_verification": True,
        "password_config": {"argon2_opslimit": 1, "argon2_memlimit": 8192},
        "rc_message": unlimited, "rc_registration": unlimited, "rc_registration_token_validity": unlimited,
        "rc_login": {"address": unlimited, "account": unlimited, "failed_attempts": unlimited},
        "rc_delayed_event_mgmt": unlimited,
        "rc_joins": {"local": unlimited, "remote": unlimited}, "rc_joins_per_room": unlimited,
        "rc_invites": {"per_room": unlimited, "per_user": unlimited, "per_issuer": unlimited},
        "rc_room_creation": unlimited, "rc_presence": {"per_user": unlimited}, "rc_key_requests": unlimited,
        "rc_media_create": unlimited, "rc_3pid_validation": unlimited,
    }
    raw.update(overrides)
    return raw


@dataclass
class Response:
    code: int
    headers: dict[str, str]
    body: bytes
    json: Any = field(default=None)


class HomeserverTestCase(unittest.TestCase):
    """Each test gets a fresh server and database. Override `config_overrides` per class."""

    config_overrides: dict[str, Any] = {}

    def setUp(self) -> defer.Deferred:
        return defer.ensureDeferred(self._set_up())

    async def _set_up(self) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="hs-test-")
        self.fake_time = task.Clock()
        self.fake_time.advance(START_TIME)
        raw = test_config(self.data_dir, **self.make_config_overrides())
        self.config = Config(raw, self.data_dir)
        if use_postgres():
            reset_postgres_schema()
        self.hs = HomeServer(self.config, reactor, Clock(self.fake_time), cpu_pool=CpuPool(reactor, size=0))
        # No test reaches real DNS: names resolve only to what a test maps (and localhost), and no
        # server name has SRV records. Tests that federate swap these for their own tables.
        self.hs.outbound.resolver = StaticResolver({"localhost": ["127.0.0.1", "::1"]})
        self.hs.srv_resolver = StaticSrvResolver()
        if self.hs.mailer is not None:  # no test talks SMTP in process: mails are recorded
            self.hs.mailer.transport = FakeMailTransport()
        await self.hs.start()
        self.addCleanup(lambda: defer.ensureDeferred(self.hs.stop()))
        self.site = self.hs.build_site()
        self.site.timeOut = None

    def make_config_overrides(self) -> dict[str, Any]:
        return dict(self.config_overrides)

    def advance(self, seconds: float) -> None:
        self.fake_time.advance(seconds)

    async def pump_until(self, condition: Any, turns: int = 500) -> None:
        """Pump until `condition()` holds (bounded: reactor turns, not time)."""
        for _ in range(turns):
            if condition():
                return
            await self.hs.database.execute("pump", "SELECT 1")
        raise AssertionError("condition never held")

    async def pump(self, turns: int = 20) -> None:
        """Let pending work (database threads, callbacks) run: reactor turns, not sleeps."""
        for _ in range(turns):
            await self.hs.database.execute("pump", "SELECT 1")

    # -- requests -------------------------------------------------------------------------------

    async def request(
        self, method: str, path: str, body: Any = None, token: str | None = None,
        headers: dict[str, str] | None = None, raw_body: bytes | None = None, site: Any = None,
    ) -> Response:
        """`site`: another server's resource tree (two-server tests); this test's server by default."""
        site = self.site if site is None else site
        if raw_body is None:
            raw_body = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", "Host: matrix.test", f"Content-Length: {len(raw_body)}"]
        if token is not None:
            lines.append(f"Authorization: Bearer {token}")
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode() + raw_body

        captured: list[HomeserverRequest] = []
        original = site.requestFactory

        def factory(*args: Any, **kwargs: Any) -> HomeserverRequest:
            req = original(*args, **kwargs)
            captured.append(req)
            return req

        site.requestFactory = factory
        try:
            channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
            transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
            channel.makeConnection(transport)
            channel.dataReceived(data)
        finally:
            site.requestFactory = original
        assert captured, "no request was parsed"
        if not captured[0].finished:
            await captured[0].notifyFinish()
        response = self._parse(transport.value())
        channel.connectionLost(None)
        return response

    @staticmethod
    def _parse(raw: bytes) -> Response:
        head, _, body = raw.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        response = Response(int(status_line.split()[1]), headers, body)
        if headers.get("content-type") == "application/json" and body:
            response.json = json.loads(body)
        return response

    async def get(self, path: str, token: str | None = None) -> Response:
        return await self.request("GET", path, token=token)

    async def post(self, path: str, body: Any = None, token: str | None = None) -> Response:
        return await self.request("POST", path, body if body is not None else {}, token=token)

    def assert_error(self, response: Response, code: int, errcode: str) -> None:
        self.assertEqual((response.code, response.json.get("errcode")), (code, errcode), response.json)
        self.assertIsInstance(response.json.get("error"), str)

    # -- fixtures -------------------------------------------------------------------------------

    async def register(self, username: str, password: str = "password", **extra: Any) -> dict[str, Any]:
        """Register through the real UIA flow (m.login.dummy); returns the response body."""
        body = {"username": username, "password": password, **extra}
        first = await self.post("/_matrix/client/v3/register", body)
        self.assertEqual(first.code, 401, first.json)
        body["auth"] = {"type": "m.login.dummy", "session": first.json["session"]}
        second = await self.post("/_matrix/client/v3/register", body)
        self.assertEqual(second.code, 200, second.json)
        return second.json

    async def login(self, user: str, password: str = "password", **extra: Any) -> dict[str, Any]:
        r = await self.post("/_matrix/client/v3/login", {
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
            "password": password, **extra,
        })
        self.assertEqual(r.code, 200, r.json)
        return r.json

    async def snapshot(self) -> dict[str, list[tuple]]:
        """Every row of the account tables, to prove a rejected request changed nothing."""
        await self.hs.push_actions_handler.drain()  # notifications of earlier events are recorded in the background

        def txn_fn(txn: Any) -> dict[str, list[tuple]]:
            return {t: sorted(map(tuple, txn.execute(f"SELECT {SNAPSHOT_COLUMNS.get(t, '*')} FROM {t}").fetchall()),
                              key=repr)
                    for t in ACCOUNT_TABLES}

        return await self.hs.database.run("snapshot", txn_fn)

    async def assert_rejected_without_change(self, method: str, path: str, body: Any, code: int, errcode: str,
                                             token: str | None = None, raw_body: bytes | None = None) -> Response:
        before = await self.snapshot()
        r = await self.request(method, path, body, token=token, raw_body=raw_body)
        self.assert_error(r, code, errcode)
        self.assertEqual(await self.snapshot(), before, "the rejected request changed the database")
        return r

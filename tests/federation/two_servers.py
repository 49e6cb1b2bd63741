"""Two of our servers in one test: each on its own database (SQLite files, or two PostgreSQL
databases), on one fake clock, their federation requests signed with their real keys and fed into
each other's resource trees (keys too: each fetches the other's from /_matrix/key/v2/server).
Server names are loopback addresses with explicit ports, as in the real two-process tests."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any
from urllib.parse import urlencode

from twisted.internet import defer, reactor
from twisted.web.http_headers import Headers

from homeserver.clock import Clock
from homeserver.config import Config
from homeserver.federation.client import AnswerTooLarge, FederationError, FederationUnreachable
from homeserver.federation.request_auth import authorization_header
from homeserver.outbound import OutboundResponse
from homeserver.server import HomeServer
from homeserver.util.cpu_pool import CpuPool
from tests.outbound.fakes import StaticResolver, StaticSrvResolver
from tests.server import HomeserverTestCase, postgres_args, test_config, use_postgres

NAME_A = "127.0.0.1:18448"
NAME_B = "127.0.0.2:18448"


def _fresh_postgres_database(name: str) -> dict[str, Any]:
    import psycopg2

    args = postgres_args()
    conn = psycopg2.connect(**{**args, "database": "postgres"})
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0')
    conn.close()
    conn = psycopg2.connect(**{**args, "database": name})
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP SCHEMA IF EXISTS public CASCADE")
        cur.execute("CREATE SCHEMA public")
    conn.close()
    return {**args, "database": name}


class Link:
    """One server's federation client in the test: signed requests into the other's site."""

    def __init__(self, test: TwoServerTestCase, origin: HomeServer):
        self.test = test
        self.origin = origin
        self.down: set[str] = set()
        self.requests: list[tuple[str, str, str]] = []
        # Set by a test to stand for the peer's answer: `rewrite(uri, response) -> response`.
        self.rewrite: Any = None
        # The same for JSON answers: `rewrite_json(uri, answer) -> answer`.
        self.rewrite_json: Any = None
        # Destinations that never answer (the request waits until the caller gives up).
        self.hanging: set[str] = set()

    async def request_json(self, method: str, destination: str, path: str, query: dict | None = None,
                           body: Any = None) -> Any:
        site = self.test.sites.get(destination)
        if site is None or destination in self.down:
            raise FederationUnreachable(destination, "no route in the test network")
        uri = path + ("?" + urlencode(query, doseq=True) if query else "")
        self.requests.append((method, destination, uri))
        if destination in self.hanging:
            await defer.Deferred()  # never fires
        header = authorization_header(self.origin.config.server_name, self.origin.signing_key, destination,
                                      method, uri, body)
        raw = None if body is None else json.dumps(body).encode()
        r = await self.test.request(method, uri, headers={"Authorization": header}, raw_body=raw, site=site)
        if r.code != 200:
            j = r.json if isinstance(r.json, dict) else {}
            raise FederationError(destination, r.code, j.get("errcode"), j.get("error"), r.json)
        return r.json if self.rewrite_json is None else self.rewrite_json(uri, r.json)

    async def get_raw(self, destination: str, path: str, query: dict | None = None, *, max_response_size: int,
                      timeout_s: float | None = None) -> OutboundResponse:
        """A signed GET whose answer is not JSON (media), as FederationHttpClient.get_raw."""
        site = self.test.sites.get(destination)
        if site is None or destination in self.down:
            raise FederationUnreachable(destination, "no route in the test network")
        uri = path + ("?" + urlencode(query, doseq=True) if query else "")
        self.requests.append(("GET", destination, uri))
        header = authorization_header(self.origin.config.server_name, self.origin.signing_key, destination,
                                      "GET", uri, None)
        r = await self.test.request("GET", uri, headers={"Authorization": header}, site=site)
        response = OutboundResponse(r.code, Headers({k.encode(): [v.encode()] for k, v in r.headers.items()}),
                                    r.body, f"https://{destination}{uri}")
        if self.rewrite is not None:
            response = self.rewrite(uri, response)
        if len(response.body) > max_response_size:
            raise AnswerTooLarge(destination, f"larger than {max_response_size} bytes")
        if not 200 <= response.code < 300:
            try:
                j = json.loads(response.body)
            except ValueError:
                j = None
            j = j if isinstance(j, dict) else {}
            raise FederationError(destination, response.code, j.get("errcode"), j.get("error"), j)
        return response

    async def get_json(self, destination: str, path: str, query: dict | None = None) -> Any:
        return await self.request_json("GET", destination, path, query)

    async def put_json(self, destination: str, path: str, body: Any, query: dict | None = None) -> Any:
        return await self.request_json("PUT", destination, path, query, body)

    async def post_json(self, destination: str, path: str, body: Any) -> Any:
        return await self.request_json("POST", destination, path, None, body)


class TwoServerTestCase(HomeserverTestCase):
    """`self.hs` (server A, NAME_A) and `self.hs_b` (server B, NAME_B)."""

    def make_config_overrides(self) -> dict[str, Any]:
        return {**super().make_config_overrides(), "server_name": NAME_A}

    async def _set_up(self) -> None:
        await super()._set_up()
        data_dir = tempfile.mkdtemp(prefix="hs-test-b-")
        raw = test_config(data_dir, server_name=NAME_B)
        if use_postgres():
            raw["database"] = {"name": "psycopg2", "args": _fresh_postgres_database(
                postgres_args()["database"] + "_b")}
        else:
            raw["database"] = {"name": "sqlite3", "args": {"database": os.path.join(data_dir, "homeserver.db")}}
        self.hs_b = HomeServer(Config(raw, data_dir), reactor, Clock(self.fake_time), cpu_pool=CpuPool(reactor, size=0))
        self.hs_b.outbound.resolver = StaticResolver({})
        self.hs_b.srv_resolver = StaticSrvResolver()
        await self.hs_b.start()
        self.addCleanup(lambda: defer.ensureDeferred(self.hs_b.stop()))
        self.site_b = self.hs_b.build_site()
        self.site_b.timeOut = None
        self.sites = {NAME_A: self.site, NAME_B: self.site_b}
        self.link_a = Link(self, self.hs)
        self.link_b = Link(self, self.hs_b)
        for hs, link in ((self.hs, self.link_a), (self.hs_b, self.link_b)):
            hs.keyring.set_fetcher(link)
            hs.federation_api._client = link

    async def pump(self, turns: int = 20) -> None:
        for _ in range(turns):
            await self.hs.database.execute("pump", "SELECT 1")
            await self.hs_b.database.execute("pump", "SELECT 1")

    async def eventually(self, check: Any, turns: int = 500) -> None:
        """Pump both servers until `await check()` is true (bounded by reactor turns, not time)."""
        for _ in range(turns):
            if await check():
                return
            await self.pump(1)
        raise AssertionError("never happened")

    async def register_on(self, site: Any, username: str) -> tuple[str, str]:
        """(user ID, access token) of a new user of the server behind `site`."""
        r = await self.request("POST", "/_matrix/client/v3/register",
                               {"username": username, "password": "password", "auth": {"type": "m.login.dummy"}},
                               site=site)
        assert r.code == 200, r.json
        return r.json["user_id"], r.json["access_token"]

"""Shared plumbing for the matrix-nio tests: a trial TestCase that owns server processes and
nio clients, and a raw-request helper that goes through nio's own HTTP transport."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from nio import AsyncClient, AsyncClientConfig, ErrorResponse, Response
from twisted.python import log
from twisted.trial import unittest

from tests.clients.server_process import SERVER_NAME, ServerProcess

# The default for ServerProcess-based account tests: anyone may register, no e-mail/captcha.
OPEN_REGISTRATION = {
    "enable_registration": True,
    "enable_registration_without_verification": True,
}

_USE_CLIENT_TOKEN = object()


def user_id(localpart: str) -> str:
    return f"@{localpart}:{SERVER_NAME}"


def password_auth(localpart: str, password: str, session: str | None = None) -> dict[str, Any]:
    auth: dict[str, Any] = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": localpart},
        "password": password,
    }
    if session is not None:
        auth["session"] = session
    return auth


def flow_stages(body: Any) -> list[list[str]]:
    """The list of stage lists from a UIA 401 body (empty if malformed)."""
    if not isinstance(body, dict):
        return []
    return [list(flow.get("stages", [])) for flow in body.get("flows", []) if isinstance(flow, dict)]


class NioTestCase(unittest.TestCase):
    """Starts real server processes and hands out nio clients that are closed at the end."""

    def start_server(self, overrides: dict[str, Any] | None = None) -> ServerProcess:
        server = ServerProcess(overrides)
        server.start()
        self.addCleanup(server.stop)
        if not hasattr(self, "_servers"):
            self._servers: list[ServerProcess] = []
        self._servers.append(server)
        return server

    def run_scenario(self, scenario: Callable[[], Awaitable[None]]) -> None:
        """Run an async scenario on a fresh asyncio loop, closing every nio client it made."""
        self._nio_clients: list[AsyncClient] = []

        async def wrapper() -> None:
            try:
                await scenario()
            finally:
                for client in self._nio_clients:
                    await client.close()

        try:
            asyncio.run(wrapper())
        except BaseException:
            # The server's side of the story goes to _trial_temp/test.log.
            for server in getattr(self, "_servers", []):
                log.msg(f"--- server log tail ({server.base_url if server.port else '?'}) ---\n"
                        f"{server.log_tail()}")
            raise

    def client(
        self,
        server: ServerProcess,
        localpart: str = "",
        device_id: str | None = None,
        access_token: str | None = None,
    ) -> AsyncClient:
        config = AsyncClientConfig(
            encryption_enabled=False,
            store_sync_tokens=False,
            max_limit_exceeded=0,
            max_timeouts=1,
            request_timeout=20,
        )
        client = AsyncClient(
            server.base_url,
            user_id(localpart) if localpart else "",
            device_id=device_id,
            config=config,
        )
        if access_token is not None:
            client.access_token = access_token
        self._nio_clients.append(client)
        return client

    # ----------------------------------------------------------------- raw requests

    async def raw(
        self,
        client: AsyncClient,
        method: str,
        path: str,
        body: Any = None,
        token: Any = _USE_CLIENT_TOKEN,
    ) -> tuple[int, Any]:
        """Send a JSON request through nio's transport; returns (status, parsed JSON body).

        ``token`` defaults to the client's current access token; pass None for no token or a
        string to use a specific (possibly revoked) token."""
        if token is _USE_CLIENT_TOKEN:
            token = client.access_token or None
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body)
        resp = await client.send(method, path, data, headers)
        text = await resp.text()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return resp.status, parsed

    async def assert_token_rejected(
        self,
        client: AsyncClient,
        token: str,
        soft_logout: bool | None = None,
        what: str = "token",
    ) -> dict[str, Any]:
        """Assert that ``token`` gets 401 M_UNKNOWN_TOKEN on /account/whoami."""
        status, body = await self.raw(client, "GET", "/_matrix/client/v3/account/whoami", token=token)
        self.assertEqual(
            (status, body.get("errcode") if isinstance(body, dict) else body),
            (401, "M_UNKNOWN_TOKEN"),
            f"{what} should be rejected; whoami -> {status} {body!r}",
        )
        if soft_logout is not None:
            self.assertEqual(
                bool(body.get("soft_logout", False)), soft_logout,
                f"{what}: expected soft_logout={soft_logout}; body {body!r}",
            )
        return body

    async def assert_token_works(self, client: AsyncClient, token: str, expected_user: str,
                                 what: str = "token") -> dict[str, Any]:
        status, body = await self.raw(client, "GET", "/_matrix/client/v3/account/whoami", token=token)
        self.assertEqual(status, 200, f"{what} should work; whoami -> {status} {body!r}")
        self.assertEqual(body.get("user_id"), expected_user, f"{what}: whoami body {body!r}")
        return body

    def assert_nio_ok(self, resp: Response, expected_type: type, what: str) -> None:
        """Assert a nio high-level call returned ``expected_type``, with the HTTP details if not."""
        if not isinstance(resp, expected_type):
            status = getattr(resp.transport_response, "status", None)
            raise self.failureException(
                f"{what}: expected {expected_type.__name__}, got {resp!r} (HTTP {status})"
            )

    def assert_nio_error(self, resp: Response, http_status: int, errcode: str, what: str) -> None:
        status = getattr(resp.transport_response, "status", None)
        self.assertIsInstance(resp, ErrorResponse, f"{what}: expected an error, got {resp!r}")
        self.assertEqual(
            (status, resp.status_code), (http_status, errcode),
            f"{what}: expected HTTP {http_status} {errcode}, got {status} {resp!r}",
        )

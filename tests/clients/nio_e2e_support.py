"""matrix-nio with end-to-end encryption (``matrix-nio[e2e]``) in the real-process tests: a client
with its own crypto store, a sync that does the key maintenance nio's sync loop does, sending
encrypted messages and waiting until one decrypts."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

import nio.crypto
from nio import (
    AsyncClient,
    AsyncClientConfig,
    EncryptionError,
    KeysUploadResponse,
    MegolmEvent,
    RegisterResponse,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
)

LONG_POLL_MS = 1000


class NioE2EMixin:
    """For a NioTestCase: `wait_s` bounds each wait (longer across servers)."""

    wait_s = 30.0
    _nio_clients: list[AsyncClient]

    def e2e_client(self, server: Any, localpart: str, user: str | None = None) -> AsyncClient:
        """A nio client with encryption on and its own crypto store in a temp dir; `user`
        defaults to the localpart on the test server's default name."""
        from tests.clients.nio_support import user_id

        if not nio.crypto.ENCRYPTION_ENABLED:
            self.fail("matrix-nio has no encryption support here: install matrix-nio[e2e] "
                      "(scripts/setup-env.sh test does, from setup.cfg's test extras)")
        store = tempfile.mkdtemp(prefix=f"nio-store-{localpart}-")
        self.addCleanup(shutil.rmtree, store, True)
        config = AsyncClientConfig(
            encryption_enabled=True,
            store_sync_tokens=True,
            max_limit_exceeded=0,
            max_timeouts=1,
            request_timeout=20,
        )
        client = AsyncClient(server.base_url, user or user_id(localpart), store_path=store, config=config)
        self._nio_clients.append(client)
        return client

    async def register(self, client: AsyncClient, localpart: str) -> None:
        resp = await client.register(localpart, f"{localpart} password", device_name=f"nio {localpart}")
        self.assert_nio_ok(resp, RegisterResponse, f"register {localpart}")
        self.assertTrue(client.olm is not None, f"{localpart}: nio did not load its crypto store")

    async def sync_once(self, client: AsyncClient) -> SyncResponse:
        """One /sync plus the key maintenance nio's own sync loop does after each sync."""
        resp = await client.sync(timeout=LONG_POLL_MS)
        self.assert_nio_ok(resp, SyncResponse, f"{client.user_id} sync")
        if client.should_upload_keys:
            self.assert_nio_ok(await client.keys_upload(), KeysUploadResponse, f"{client.user_id} keys_upload")
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()
        return resp

    async def sync_until(self, client: AsyncClient, condition: Callable[[SyncResponse], bool], what: str) -> None:
        deadline = time.monotonic() + self.wait_s
        while True:
            resp = await self.sync_once(client)
            if condition(resp):
                return
            if time.monotonic() > deadline:
                self.fail(f"{client.user_id}: no {what} within {self.wait_s:.0f}s")

    async def send_encrypted(self, client: AsyncClient, room_id: str, body: str) -> str:
        resp = await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body},
                                      ignore_unverified_devices=True)
        self.assert_nio_ok(resp, RoomSendResponse, f"{client.user_id} sends {body!r}")
        return resp.event_id

    async def expect_decrypted(self, client: AsyncClient, room_id: str, event_id: str, body: str) -> None:
        """Sync until ``event_id`` arrives and nio decrypts it to a text message with ``body``."""
        undecrypted: list[MegolmEvent] = []

        def decrypted(resp: SyncResponse) -> bool:
            room = resp.rooms.join.get(room_id)
            for event in room.timeline.events if room else []:
                if getattr(event, "event_id", None) != event_id:
                    continue
                if isinstance(event, MegolmEvent):
                    # nio could not decrypt it in this sync (no room key yet): retry after later syncs.
                    undecrypted.append(event)
                    continue
                self.assertIsInstance(event, RoomMessageText, f"{event_id} parsed as {event!r}")
                self.assertTrue(event.decrypted, f"{event_id} reached {client.user_id} unencrypted")
                self.assertEqual(event.body, body)
                return True
            for event in undecrypted:
                try:
                    retried = client.decrypt_event(event)
                except EncryptionError:
                    continue
                self.assertIsInstance(retried, RoomMessageText, f"{event_id} decrypted to {retried!r}")
                self.assertEqual(retried.body, body)
                return True
            return False

        await self.sync_until(client, decrypted, f"decryptable {event_id}")

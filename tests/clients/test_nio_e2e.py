"""End-to-end encryption through matrix-nio (with its vodozemac-based crypto, ``matrix-nio[e2e]``)
against the real server process: two users exchange encrypted DMs in both directions and each
side decrypts the other's message. This exercises /keys/upload, /keys/query, /keys/claim,
/sendToDevice and the to_device / device_lists / device_one_time_keys_count parts of /sync."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable

import nio.crypto
from nio import (
    AsyncClient,
    AsyncClientConfig,
    EnableEncryptionBuilder,
    EncryptionError,
    JoinResponse,
    KeysUploadResponse,
    MegolmEvent,
    RegisterResponse,
    RoomCreateResponse,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
)

from tests.clients.nio_support import OPEN_REGISTRATION, NioTestCase, user_id
from tests.clients.server_process import ServerProcess

ALICE, BOB = user_id("alice"), user_id("bob")

WAIT_S = 30.0
LONG_POLL_MS = 1000


class NioEncryptionTest(NioTestCase):
    def e2e_client(self, server: ServerProcess, localpart: str) -> AsyncClient:
        """A nio client with encryption on and its own crypto store in a temp dir."""
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
        client = AsyncClient(server.base_url, user_id(localpart), store_path=store, config=config)
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
        deadline = time.monotonic() + WAIT_S
        while True:
            resp = await self.sync_once(client)
            if condition(resp):
                return
            if time.monotonic() > deadline:
                self.fail(f"{client.user_id}: no {what} within {WAIT_S:.0f}s")

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

    def test_encrypted_dm_both_directions(self):
        server = self.start_server(OPEN_REGISTRATION)

        async def scenario():
            alice = self.e2e_client(server, "alice")
            bob = self.e2e_client(server, "bob")
            await self.register(alice, "alice")
            await self.register(bob, "bob")
            # The first sync uploads each device's identity and one-time keys.
            await self.sync_once(alice)
            await self.sync_once(bob)
            self.assertFalse(alice.should_upload_keys or bob.should_upload_keys, "keys still need uploading")

            created = await alice.room_create(
                is_direct=True, invite=[BOB], initial_state=[EnableEncryptionBuilder().as_dict()],
            )
            self.assert_nio_ok(created, RoomCreateResponse, "alice creates the encrypted DM")
            room_id = created.room_id
            await self.sync_until(bob, lambda _: room_id in bob.invited_rooms, "invite to the DM")
            self.assert_nio_ok(await bob.join(room_id), JoinResponse, "bob joins")
            await self.sync_until(
                alice,
                lambda _: room_id in alice.rooms and alice.rooms[room_id].encrypted
                and BOB in alice.rooms[room_id].users,
                "bob's join in the encrypted DM",
            )
            await self.sync_until(bob, lambda _: room_id in bob.rooms and bob.rooms[room_id].encrypted,
                                  "the joined, encrypted DM")

            to_bob = await self.send_encrypted(alice, room_id, "hello bob, from nio")
            await self.expect_decrypted(bob, room_id, to_bob, "hello bob, from nio")

            to_alice = await self.send_encrypted(bob, room_id, "hi alice, nio decrypted it")
            await self.expect_decrypted(alice, room_id, to_alice, "hi alice, nio decrypted it")

            # A second message from alice reuses her megolm session, already shared with bob.
            again = await self.send_encrypted(alice, room_id, "and once more")
            await self.expect_decrypted(bob, room_id, again, "and once more")

        self.run_scenario(scenario)

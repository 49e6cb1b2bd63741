"""End-to-end encryption through matrix-nio (with its vodozemac-based crypto, ``matrix-nio[e2e]``)
against the real server process: two users exchange encrypted DMs in both directions and each
side decrypts the other's message. This exercises /keys/upload, /keys/query, /keys/claim,
/sendToDevice and the to_device / device_lists / device_one_time_keys_count parts of /sync."""

from __future__ import annotations

from nio import EnableEncryptionBuilder, JoinResponse, RoomCreateResponse

from tests.clients.nio_e2e_support import NioE2EMixin
from tests.clients.nio_support import OPEN_REGISTRATION, NioTestCase, user_id

ALICE, BOB = user_id("alice"), user_id("bob")


class NioEncryptionTest(NioE2EMixin, NioTestCase):
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

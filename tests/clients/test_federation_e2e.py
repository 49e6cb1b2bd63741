"""End-to-end encryption across servers, driven by matrix-nio with its crypto (``matrix-nio[e2e]``)
against real processes over TLS on loopback: an encrypted DM between a user of ours and a user of
another of ours, and of Synapse, decrypted in both directions; a new device of the other side's
user appears in /keys/query here and receives the room key of the next message; an encrypted
group on Synapse with members on two of ours, everyone decrypting everyone."""

from __future__ import annotations

from typing import Any

from nio import AsyncClient, EnableEncryptionBuilder, JoinResponse, LoginResponse, RoomCreateResponse

from tests.clients.federation_support import SYNAPSE_PYTHON, FederationTestCase, SynapseProcess
from tests.clients.nio_e2e_support import NioE2EMixin
from tests.clients.test_js_sdk import run_node_scenario


class FederatedEncryptionTest(NioE2EMixin, FederationTestCase):
    timeout = 300
    wait_s = 60.0  # a first request between two servers fetches keys; a retry waits seconds

    async def user_on(self, server: Any, localpart: str) -> AsyncClient:
        client = self.e2e_client(server, localpart, f"@{localpart}:{server.server_name}")
        await self.register(client, localpart)
        await self.sync_once(client)  # uploads the device's keys
        return client

    async def encrypted_dm(self, alice: AsyncClient, bob: AsyncClient) -> str:
        """alice (here) opens an encrypted DM with bob (on the other server); both see it encrypted."""
        created = await alice.room_create(is_direct=True, invite=[bob.user_id],
                                          initial_state=[EnableEncryptionBuilder().as_dict()])
        self.assert_nio_ok(created, RoomCreateResponse, "alice creates the encrypted DM")
        room_id = created.room_id
        await self.sync_until(bob, lambda _: room_id in bob.invited_rooms, "the invite to the DM")
        self.assert_nio_ok(await bob.join(room_id), JoinResponse, "bob joins")
        await self.sync_until(alice, lambda _: room_id in alice.rooms and alice.rooms[room_id].encrypted
                              and bob.user_id in alice.rooms[room_id].users, "bob's join in the encrypted DM")
        await self.sync_until(bob, lambda _: room_id in bob.rooms and bob.rooms[room_id].encrypted,
                              "the joined, encrypted DM")
        return room_id

    async def both_directions(self, alice: AsyncClient, bob: AsyncClient, room_id: str) -> None:
        to_bob = await self.send_encrypted(alice, room_id, "hello across the border")
        await self.expect_decrypted(bob, room_id, to_bob, "hello across the border")
        to_alice = await self.send_encrypted(bob, room_id, "decrypted on the other side")
        await self.expect_decrypted(alice, room_id, to_alice, "decrypted on the other side")

    # One test with three servers started side by side (each start costs seconds; Synapse ~13 s).
    def test_dms_with_another_of_ours_and_synapse_a_new_device_and_a_group_on_three_servers(self) -> None:
        if not SynapseProcess.available():
            self.fail(f"Synapse is not installed at {SYNAPSE_PYTHON} (scripts/setup-env.sh test installs it)")
        here, there, synapse = self.our_server("here"), self.our_server("there"), self.synapse_server()
        self.start_all(here, there, synapse)

        async def scenario() -> None:
            alice = await self.user_on(here, "alice")
            bob = await self.user_on(there, "bob")
            sam = await self.user_on(synapse, "sam")
            await self.new_device_of_the_other_side(alice, bob, there)
            room_id = await self.encrypted_dm(alice, sam)  # our room, Synapse's user
            await self.both_directions(alice, sam, room_id)
            await self.group_on_synapse(sam, alice, await self.user_on(there, "carol"))

        self.run_scenario(scenario)

    async def new_device_of_the_other_side(self, alice: AsyncClient, bob: AsyncClient, there: Any) -> None:
        """A DM between two of ours; then bob logs in on a second device: alice's server hears
        of it (m.device_list_update), alice's client sees it in /keys/query, and the next
        message's room key reaches it."""
        room_id = await self.encrypted_dm(alice, bob)
        await self.both_directions(alice, bob, room_id)
        phone = self.e2e_client(there, "bob-phone", bob.user_id)
        login = await phone.login("bob password", device_name="bob's phone")
        self.assert_nio_ok(login, LoginResponse, "bob logs in on a second device")
        await self.sync_once(phone)

        def phone_known(_: Any) -> bool:
            return any(d.id == phone.device_id for d in alice.device_store.active_user_devices(bob.user_id))

        await self.sync_until(alice, phone_known, "bob's second device in alice's /keys/query")
        to_phone = await self.send_encrypted(alice, room_id, "for both of bob's devices")
        await self.expect_decrypted(phone, room_id, to_phone, "for both of bob's devices")
        await self.expect_decrypted(bob, room_id, to_phone, "for both of bob's devices")

    async def group_on_synapse(self, sam: AsyncClient, alice: AsyncClient, carol: AsyncClient) -> None:
        """A group on Synapse with a member on each of two of ours: everyone decrypts everyone."""
        members = [sam, alice, carol]
        created = await sam.room_create(name="Three servers", invite=[alice.user_id, carol.user_id],
                                        initial_state=[EnableEncryptionBuilder().as_dict()])
        self.assert_nio_ok(created, RoomCreateResponse, "sam creates the encrypted group")
        group = created.room_id
        for member in (alice, carol):
            await self.sync_until(member, lambda _, m=member: group in m.invited_rooms, "the group invite")
            self.assert_nio_ok(await member.join(group), JoinResponse, f"{member.user_id} joins the group")
        for member in members:
            await self.sync_until(member, lambda _, m=member: group in m.rooms and m.rooms[group].encrypted
                                  and len(m.rooms[group].users) == 3, "all three in the encrypted group")
        for sender in members:
            body = f"from {sender.user_id}"
            event_id = await self.send_encrypted(sender, group, body)
            for reader in members:
                if reader is not sender:
                    await self.expect_decrypted(reader, group, event_id, body)


class JsFederatedEncryptionTest(FederationTestCase):
    """The same with matrix-js-sdk 43 and its Rust crypto (scenarios/encrypted_dm_federated.js)."""

    timeout = 300

    def test_encrypted_dms_with_another_of_ours_and_with_synapse(self) -> None:
        if not SynapseProcess.available():
            self.fail(f"Synapse is not installed at {SYNAPSE_PYTHON} (scripts/setup-env.sh test installs it)")
        ours, there, synapse = self.our_server("ours"), self.our_server("there"), self.synapse_server()
        self.start_all(ours, there, synapse)
        run_node_scenario(self, "encrypted_dm_federated", [ours, there, synapse])

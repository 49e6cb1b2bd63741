"""Ours federating with Synapse, both real processes over TLS on loopback, driven by matrix-nio:
a Synapse user joins our room by room ID (server_name) and ours joins a Synapse room the same
way, messages go both ways in the same order on both sides, and invites go both ways.

Synapse comes from .venv-synapse (scripts/setup-env.sh test installs the version pinned there);
HOMESERVER_TEST_SYNAPSE_PYTHON points at another install."""

from __future__ import annotations

from typing import Any

from nio import (
    AsyncClient,
    JoinResponse,
    RoomBanResponse,
    RoomCreateResponse,
    RoomInviteResponse,
    RoomKickResponse,
    RoomLeaveResponse,
    RoomVisibility,
    SyncResponse,
)

from tests.clients.federation_support import SYNAPSE_PYTHON, FederationTestCase, SynapseProcess


class WithSynapseTest(FederationTestCase):
    timeout = 300

    def setUp(self) -> None:
        super().setUp()
        if not SynapseProcess.available():
            self.fail(f"Synapse is not installed at {SYNAPSE_PYTHON} (scripts/setup-env.sh test installs it)")
        self.ours, self.synapse = self.our_server("ours"), self.synapse_server()
        self.start_all(self.ours, self.synapse)

    async def conversation(self, first: AsyncClient, second: AsyncClient, room_id: str, rounds: int = 3) -> None:
        """Each answers once the other's message arrived; then a burst each; the same messages
        in the same order on both sides."""
        sent: list[str] = []
        for i in range(rounds):
            for client, other, name in ((first, second, "first"), (second, first, "second")):
                body = f"{name} {i}"
                await self.send_text(client, room_id, body)
                sent.append(body)
                await self.wait_texts(other, room_id, [body])
        for client, other, name in ((first, second, "first"), (second, first, "second")):
            burst = [f"{name} burst {i}" for i in range(8)]
            for body in burst:
                await self.send_text(client, room_id, body)
            sent.extend(burst)
            await self.wait_texts(other, room_id, burst)
        at_first = await self.wait_texts(first, room_id, sent)
        at_second = await self.wait_texts(second, room_id, sent)
        self.assertEqual(at_first[-len(sent):], at_second[-len(sent):])

    async def wait_invited(self, client: AsyncClient, room_id: str) -> None:
        async def invited() -> bool:
            sync = await client.sync(timeout=0, full_state=True)
            self.assert_nio_ok(sync, SyncResponse, f"{client.user_id} syncs")
            return room_id in sync.rooms.invite

        await self.wait_for(f"{client.user_id}'s invite to {room_id}", invited)

    async def wait_membership(self, client: AsyncClient, room_id: str, user: str, membership: str) -> None:
        async def check() -> bool:
            return await self.membership_seen(client, room_id, user) == membership

        await self.wait_for(f"{user} {membership} in {room_id} as {client.user_id} sees it", check)

    async def a_synapse_user_joins_our_room_and_is_invited_to_another(self) -> None:
        alice = await self.register_on(self.ours, "alice")
        sam = await self.register_on(self.synapse, "sam")
        resp = await alice.room_create(name="Ours, public", topic="hello", preset=None,
                                       visibility=RoomVisibility.public)
        self.assert_nio_ok(resp, RoomCreateResponse, "alice creates a public room")
        room_id = resp.room_id
        await self.join_via(sam, room_id, self.ours.server_name)
        await self.wait_membership(alice, room_id, sam.user_id, "join")
        self.assertEqual((await self.state(sam, room_id, "m.room.topic")).get("topic"), "hello")
        await self.conversation(alice, sam, room_id)

        # By alias: Synapse asks our /query/directory, then joins through the servers we name.
        resp = await alice.room_create(name="Ours, by alias", alias="hall", visibility=RoomVisibility.public)
        self.assert_nio_ok(resp, RoomCreateResponse, "alice creates a room with an alias")
        by_alias = resp.room_id
        join = await sam.join(f"#hall:{self.ours.server_name}")
        self.assert_nio_ok(join, JoinResponse, "sam joins by alias")
        self.assertEqual(join.room_id, by_alias)
        await self.wait_membership(alice, by_alias, sam.user_id, "join")
        await self.send_text(sam, by_alias, "found it")
        await self.wait_texts(alice, by_alias, ["found it"])

        # An invite from us to a Synapse user, at createRoom and afterwards.
        sue = await self.register_on(self.synapse, "sue")
        resp = await alice.room_create(name="Ours, private", invite=[sam.user_id])
        self.assert_nio_ok(resp, RoomCreateResponse, "alice creates a private room inviting sam")
        private = resp.room_id
        await self.wait_invited(sam, private)
        await self.join(sam, private)
        await self.wait_membership(alice, private, sam.user_id, "join")
        resp = await alice.room_invite(private, sue.user_id)
        self.assert_nio_ok(resp, RoomInviteResponse, "alice invites sue")
        await self.wait_invited(sue, private)
        await self.join(sue, private)
        await self.wait_membership(alice, private, sue.user_id, "join")
        await self.send_text(sue, private, "thanks")
        await self.wait_texts(alice, private, ["thanks"])
        await self.wait_texts(sam, private, ["thanks"])

    async def our_user_joins_a_synapse_room_and_is_invited_to_another(self) -> None:
        sam = await self.register_on(self.synapse, "sam")
        bob = await self.register_on(self.ours, "bob")
        resp = await sam.room_create(name="Synapse, public", topic="theirs",
                                     visibility=RoomVisibility.public)
        self.assert_nio_ok(resp, RoomCreateResponse, "sam creates a public room")
        room_id = resp.room_id
        await self.join_via(bob, room_id, self.synapse.server_name)
        await self.wait_membership(sam, room_id, bob.user_id, "join")
        self.assertEqual((await self.state(bob, room_id, "m.room.topic")).get("topic"), "theirs")
        await self.conversation(sam, bob, room_id)

        # By alias: ours asks Synapse's /query/directory, then joins through the servers named.
        resp = await sam.room_create(name="Synapse, by alias", alias="lobby", visibility=RoomVisibility.public)
        self.assert_nio_ok(resp, RoomCreateResponse, "sam creates a room with an alias")
        by_alias = resp.room_id
        dave = await self.register_on(self.ours, "dave")
        join = await dave.join(f"#lobby:{self.synapse.server_name}")
        self.assert_nio_ok(join, JoinResponse, "dave joins by alias")
        self.assertEqual(join.room_id, by_alias)
        await self.wait_membership(sam, by_alias, dave.user_id, "join")
        await self.send_text(dave, by_alias, "found it")
        await self.wait_texts(sam, by_alias, ["found it"])

        # An invite from Synapse to one of ours, at createRoom and afterwards.
        carol = await self.register_on(self.ours, "carol")
        resp = await sam.room_create(name="Synapse, private", invite=[bob.user_id])
        self.assert_nio_ok(resp, RoomCreateResponse, "sam creates a private room inviting bob")
        private = resp.room_id
        await self.wait_invited(bob, private)
        await self.join(bob, private)
        await self.wait_membership(sam, private, bob.user_id, "join")
        resp = await sam.room_invite(private, carol.user_id)
        self.assert_nio_ok(resp, RoomInviteResponse, "sam invites carol")
        await self.wait_invited(carol, private)
        await self.join(carol, private)
        await self.wait_membership(sam, private, carol.user_id, "join")
        await self.send_text(carol, private, "thanks")
        await self.wait_texts(sam, private, ["thanks"])
        await self.wait_texts(bob, private, ["thanks"])

    async def shared_room(self, ours_creates: bool, suffix: str = "") -> tuple[AsyncClient, AsyncClient, str]:
        """A public room of ours (or of Synapse) that a user of the other joined; (ours, theirs, room)."""
        alice = await self.register_on(self.ours, "alice" + suffix)
        sam = await self.register_on(self.synapse, "sam" + suffix)
        creator, joiner, home = (alice, sam, self.ours) if ours_creates else (sam, alice, self.synapse)
        resp = await creator.room_create(name="Shared", visibility=RoomVisibility.public)
        self.assert_nio_ok(resp, RoomCreateResponse, f"{creator.user_id} creates a public room")
        room_id = resp.room_id
        await self.join_via(joiner, room_id, home.server_name)
        await self.wait_membership(creator, room_id, joiner.user_id, "join")
        await self.send_text(creator, room_id, "before")
        await self.wait_texts(joiner, room_id, ["before"])
        return alice, sam, room_id

    async def leave_and_rejoin_both_ways(self) -> None:
        for ours_creates in (True, False):
            alice, sam, room_id = await self.shared_room(ours_creates, "2" if ours_creates else "1")
            creator, joiner = (alice, sam) if ours_creates else (sam, alice)
            home = self.ours if ours_creates else self.synapse
            resp = await joiner.room_leave(room_id)
            self.assert_nio_ok(resp, RoomLeaveResponse, f"{joiner.user_id} leaves")
            await self.wait_membership(creator, room_id, joiner.user_id, "leave")
            await self.send_text(creator, room_id, "while away")
            await self.join_via(joiner, room_id, home.server_name)
            await self.wait_membership(creator, room_id, joiner.user_id, "join")
            # The joiner's own server, too, holds the rejoin as its current state.
            self.assertEqual(await self.membership_seen(joiner, room_id, joiner.user_id), "join")
            status, body = await self.raw(joiner, "GET", "/_matrix/client/v3/joined_rooms")
            self.assertIn(room_id, body.get("joined_rooms", []), f"{joiner.user_id}: {status} {body}")
            await self.send_text(joiner, room_id, "back")
            await self.wait_texts(creator, room_id, ["while away", "back"])
            await self.send_text(creator, room_id, "welcome back")
            await self.wait_texts(joiner, room_id, ["back", "welcome back"])

    async def kill_ours_while_synapse_keeps_sending(self) -> None:
        alice, sam, room_id = await self.shared_room(ours_creates=False, suffix="3")
        self.ours.kill_hard()
        missed = [f"missed {i}" for i in range(5)]
        for body in missed:
            await self.send_text(sam, room_id, body)
        self.ours.relaunch()
        # Synapse backs off from a dead server for minutes; a transaction from us ends that
        # (and starts its catch-up: it sends the room's latest event, we fetch the gap).
        # (alice has not seen the missed messages: hers is concurrent with them.)
        await self.send_text(alice, room_id, "alice is back")
        await self.wait_for("alice's message at Synapse", lambda: self._has_all(sam, room_id, ["alice is back"]))
        await self.wait_for("what Synapse sent while ours was down, at ours",
                            lambda: self._has_all(alice, room_id, missed))
        await self.send_text(alice, room_id, "caught up")
        at_sam = await self.wait_texts(sam, room_id, ["caught up"])
        at_alice = await self.wait_texts(alice, room_id, ["caught up"])
        self.assertEqual(sorted(at_sam), sorted(at_alice))

    async def kill_synapse_while_ours_keeps_sending(self) -> None:
        alice, sam, room_id = await self.shared_room(ours_creates=True, suffix="4")
        self.synapse.kill_hard()
        missed = [f"missed {i}" for i in range(5)]
        for body in missed:
            await self.send_text(alice, room_id, body)
        self.synapse.relaunch()
        await self.send_text(sam, room_id, "sam is back")
        await self.wait_for("sam's message at ours", lambda: self._has_all(alice, room_id, ["sam is back"]))
        await self.wait_for("what ours sent while Synapse was down, at Synapse",
                            lambda: self._has_all(sam, room_id, missed))
        await self.send_text(sam, room_id, "caught up")
        at_alice = await self.wait_texts(alice, room_id, ["caught up"])
        at_sam = await self.wait_texts(sam, room_id, ["caught up"])
        self.assertEqual(sorted(at_sam), sorted(at_alice))

    async def a_synapse_user_joining_our_room_reads_its_history(self) -> None:
        alice = await self.register_on(self.ours, "alice_h")
        sam = await self.register_on(self.synapse, "sam_h")
        resp = await alice.room_create(name="Long history", visibility=RoomVisibility.public)
        self.assert_nio_ok(resp, RoomCreateResponse, "alice creates a public room")
        room_id = resp.room_id
        history = [f"old {i}" for i in range(60)]
        for body in history:
            await self.send_text(alice, room_id, body)
        resp = await alice.room_put_state(room_id, "m.room.topic", {"topic": "after 60"})
        await self.join_via(sam, room_id, self.ours.server_name)
        await self.wait_membership(alice, room_id, sam.user_id, "join")
        self.assertEqual((await self.state(sam, room_id, "m.room.topic")).get("topic"), "after 60")
        self.assertEqual((await self.state(sam, room_id, "m.room.name")).get("name"), "Long history")
        # Synapse backfills what it lacks from us (/backfill) as sam pages back.
        await self.wait_for("the 60 messages from before the join at Synapse",
                            lambda: self._has_all(sam, room_id, history))
        self.assertEqual([t for t in await self.texts(sam, room_id) if t.startswith("old ")], history)

    # Each test starts a Synapse (~13 s): the scenarios are grouped to keep the suite short.

    def test_a_synapse_user_in_our_rooms(self) -> None:
        async def scenario() -> None:
            await self.a_synapse_user_joins_our_room_and_is_invited_to_another()
            await self.a_synapse_user_joining_our_room_reads_its_history()

        self.run_scenario(scenario)

    def test_our_user_in_synapse_rooms(self) -> None:
        self.run_scenario(self.our_user_joins_a_synapse_room_and_is_invited_to_another)

    def test_leave_rejoin_and_kill_minus_9_of_either_side(self) -> None:
        async def scenario() -> None:
            await self.leave_and_rejoin_both_ways()
            await self.kill_ours_while_synapse_keeps_sending()
            await self.kill_synapse_while_ours_keeps_sending()

        self.run_scenario(scenario)

    def test_ephemeral_and_moderation_both_ways(self) -> None:
        async def scenario() -> None:
            alice = await self.register_on(self.ours, "alice_m")
            sam = await self.register_on(self.synapse, "sam_m")
            await self.ephemeral_and_moderation(alice, sam, self.ours)  # our room, Synapse's guest
            bob = await self.register_on(self.ours, "bob_m")
            await self.ephemeral_and_moderation(sam, bob, self.synapse)  # Synapse's room, our guest

        self.run_scenario(scenario)

    def test_media_profiles_and_presence_both_ways(self) -> None:
        async def scenario() -> None:
            alice = await self.register_on(self.ours, "alice_p")
            sam = await self.register_on(self.synapse, "sam_p")
            await self.share_a_room(alice, sam)
            for owner, reader, home in ((alice, sam, self.ours), (sam, alice, self.synapse)):
                await self.media_crosses(owner, reader, home)
                await self.profile_crosses(owner, reader)
                await self.presence_crosses(owner, reader)

        self.run_scenario(scenario)

    async def share_a_room(self, alice: AsyncClient, sam: AsyncClient) -> str:
        resp = await alice.room_create(name="Shared", visibility=RoomVisibility.public)
        self.assert_nio_ok(resp, RoomCreateResponse, "alice creates a public room")
        await self.join_via(sam, resp.room_id, self.ours.server_name)
        await self.wait_membership(alice, resp.room_id, sam.user_id, "join")
        return resp.room_id

    async def media_crosses(self, owner: AsyncClient, reader: AsyncClient, home: Any) -> None:
        """An image uploaded on the owner's server downloads byte-identical through the reader's
        server (authenticated media), and as a thumbnail."""
        import io
        from urllib.parse import quote

        import aiohttp
        from PIL import Image

        buffer = io.BytesIO()
        Image.new("RGB", (640, 480), (200, 30, 90)).save(buffer, "PNG")
        image = buffer.getvalue()
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{owner.homeserver}/_matrix/media/v3/upload?filename=pic.png", data=image,
                                 headers={"Authorization": f"Bearer {owner.access_token}",
                                          "Content-Type": "image/png"}) as r:
                self.assertEqual(r.status, 200, await r.text())
                mxc = (await r.json())["content_uri"]
            server_name, media_id = mxc[len("mxc://"):].split("/", 1)
            self.assertEqual(server_name, home.server_name)
            auth = {"Authorization": f"Bearer {reader.access_token}"}
            path = f"{quote(server_name, safe='')}/{quote(media_id, safe='')}"
            async with http.get(f"{reader.homeserver}/_matrix/client/v1/media/download/{path}", headers=auth) as r:
                got = await r.read()
                self.assertEqual(r.status, 200, got[:500])
                self.assertEqual(got, image, f"{mxc} through {reader.user_id}'s server")
            async with http.get(f"{reader.homeserver}/_matrix/client/v1/media/thumbnail/{path}"
                                "?width=64&height=64&method=scale", headers=auth) as r:
                got = await r.read()
                self.assertEqual(r.status, 200, got[:500])
                thumbnail = Image.open(io.BytesIO(got))
                self.assertLessEqual(max(thumbnail.size), 320, thumbnail.size)  # Synapse: its 320x240 size

    async def profile_crosses(self, owner: AsyncClient, reader: AsyncClient) -> None:
        from urllib.parse import quote

        name = f"Display {owner.user_id[1:5]}"
        status, body = await self.raw(owner, "PUT", f"/_matrix/client/v3/profile/{quote(owner.user_id, safe='')}"
                                      "/displayname", {"displayname": name})
        self.assertEqual(status, 200, body)

        async def seen() -> bool:
            status, body = await self.raw(reader, "GET", f"/_matrix/client/v3/profile/"
                                          f"{quote(owner.user_id, safe='')}/displayname")
            return status == 200 and body.get("displayname") == name

        await self.wait_for(f"{owner.user_id}'s new name at {reader.user_id}'s server", seen)

    async def presence_crosses(self, owner: AsyncClient, reader: AsyncClient) -> None:
        from urllib.parse import quote

        status, body = await self.raw(owner, "PUT", f"/_matrix/client/v3/presence/{quote(owner.user_id, safe='')}"
                                      "/status", {"presence": "online", "status_msg": "here"})
        self.assertEqual(status, 200, body)

        async def seen() -> bool:
            status, body = await self.raw(reader, "GET", f"/_matrix/client/v3/presence/"
                                          f"{quote(owner.user_id, safe='')}/status")
            return status == 200 and body.get("presence") == "online" and body.get("status_msg") == "here"

        await self.wait_for(f"{owner.user_id}'s presence at {reader.user_id}'s server", seen)

    async def wait_in_sync(self, client: AsyncClient, what: str, check: Any) -> None:
        """Follow the client's /sync from now (incremental: Synapse answers a repeated identical
        request from a cache) until `check(rooms)` holds for one response's `rooms`."""
        since = getattr(client, "_probe_since", None)

        async def step() -> bool:
            nonlocal since
            query = "timeout=0&filter=%7B%22room%22%3A%7B%22include_leave%22%3Atrue%7D%7D"
            status, body = await self.raw(client, "GET", f"/_matrix/client/v3/sync?{query}"
                                          + (f"&since={since}" if since else ""))
            self.assertEqual(status, 200, f"{client.user_id} /sync: {body}")
            since = body["next_batch"]
            client._probe_since = since
            return bool(check(body.get("rooms", {})))

        await self.wait_for(what, step)

    async def ephemeral_and_moderation(self, host: AsyncClient, guest: AsyncClient, home: Any) -> None:
        """In host's room on its server (`home`), with guest from the other server: typing and
        receipts cross, a redaction, a name and a power-level change apply on both sides, a kick
        and a ban are honoured by the guest's server."""
        from urllib.parse import quote

        resp = await host.room_create(name="Moderated", visibility=RoomVisibility.public)
        self.assert_nio_ok(resp, RoomCreateResponse, f"{host.user_id} creates a public room")
        room_id = resp.room_id
        await self.join_via(guest, room_id, home.server_name)
        await self.wait_membership(host, room_id, guest.user_id, "join")
        room = quote(room_id, safe="")

        # Typing and a read receipt of the guest reach the host.
        await self.wait_in_sync(host, "a first sync", lambda rooms: True)
        status, body = await self.raw(guest, "PUT", f"/_matrix/client/v3/rooms/{room}/typing/"
                                      f"{quote(guest.user_id, safe='')}", {"typing": True, "timeout": 30000})
        self.assertEqual(status, 200, body)

        def typing_seen(rooms: dict) -> bool:
            events = rooms.get("join", {}).get(room_id, {}).get("ephemeral", {}).get("events", [])
            return any(e["type"] == "m.typing" and guest.user_id in e["content"].get("user_ids", [])
                       for e in events)

        await self.wait_in_sync(host, f"{guest.user_id} typing at {host.user_id}", typing_seen)
        host_message = await self.send_text(host, room_id, "please read")
        await self.wait_texts(guest, room_id, ["please read"])
        status, body = await self.raw(guest, "POST", f"/_matrix/client/v3/rooms/{room}/receipt/m.read/"
                                      f"{quote(host_message, safe='')}", {})
        self.assertEqual(status, 200, body)

        def receipt_seen(rooms: dict) -> bool:
            events = rooms.get("join", {}).get(room_id, {}).get("ephemeral", {}).get("events", [])
            return any(e["type"] == "m.receipt" and guest.user_id in
                       e["content"].get(host_message, {}).get("m.read", {}) for e in events)

        await self.wait_in_sync(host, f"{guest.user_id}'s receipt at {host.user_id}", receipt_seen)

        # The host redacts the guest's message: redacted on the guest's server too.
        guest_message = await self.send_text(guest, room_id, "regrettable")
        await self.wait_texts(host, room_id, ["regrettable"])
        status, body = await self.raw(host, "PUT", f"/_matrix/client/v3/rooms/{room}/redact/"
                                      f"{quote(guest_message, safe='')}/r1", {"reason": "no"})
        self.assertEqual(status, 200, body)

        async def redacted_at_guest() -> bool:
            status, body = await self.raw(guest, "GET", f"/_matrix/client/v3/rooms/{room}/event/"
                                          f"{quote(guest_message, safe='')}")
            return status == 200 and body.get("content") == {}

        await self.wait_for("the redaction at the guest's server", redacted_at_guest)

        # A new name, and the guest raised to moderator sets the topic.
        status, body = await self.raw(host, "PUT", f"/_matrix/client/v3/rooms/{room}/state/m.room.name/",
                                      {"name": "Renamed"})
        self.assertEqual(status, 200, body)
        status, levels = await self.raw(host, "GET", f"/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/")
        self.assertEqual(status, 200, levels)
        levels["users"][guest.user_id] = 50
        status, body = await self.raw(host, "PUT", f"/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/",
                                      levels)
        self.assertEqual(status, 200, body)

        async def guest_is_moderator() -> bool:
            got = await self.state(guest, room_id, "m.room.power_levels")
            return got.get("users", {}).get(guest.user_id) == 50

        await self.wait_for("the new power levels at the guest's server", guest_is_moderator)
        self.assertEqual((await self.state(guest, room_id, "m.room.name")).get("name"), "Renamed")
        status, body = await self.raw(guest, "PUT", f"/_matrix/client/v3/rooms/{room}/state/m.room.topic/",
                                      {"topic": "set by the guest"})
        self.assertEqual(status, 200, body)

        async def topic_at_host() -> bool:
            return (await self.state(host, room_id, "m.room.topic")).get("topic") == "set by the guest"

        await self.wait_for("the guest's topic at the host", topic_at_host)

        # Kicked: the guest's server knows it left; it may come back (public); banned: it may not.
        await self.wait_in_sync(guest, "a first sync", lambda rooms: True)
        resp = await host.room_kick(room_id, guest.user_id, reason="out")
        self.assert_nio_ok(resp, RoomKickResponse, f"{host.user_id} kicks {guest.user_id}")

        def left_at_guest(rooms: dict) -> bool:
            return room_id in rooms.get("leave", {})

        await self.wait_in_sync(guest, "the kick at the guest's server", left_at_guest)
        await self.join_via(guest, room_id, home.server_name)
        await self.wait_membership(host, room_id, guest.user_id, "join")
        resp = await host.room_ban(room_id, guest.user_id, reason="out for good")
        self.assert_nio_ok(resp, RoomBanResponse, f"{host.user_id} bans {guest.user_id}")
        await self.wait_in_sync(guest, "the ban at the guest's server", left_at_guest)
        status, body = await self.raw(guest, "POST", f"/_matrix/client/v3/join/{room}?server_name="
                                      f"{quote(home.server_name, safe='')}", {})
        self.assertEqual(status, 403, f"a banned user rejoins: {status} {body}")

    async def _has_all(self, client: AsyncClient, room_id: str, bodies: list[str]) -> bool:
        texts = await self.texts(client, room_id)
        return all(b in texts for b in bodies)

    async def state(self, client: AsyncClient, room_id: str, event_type: str, state_key: str = "") -> dict:
        resp = await client.room_get_state_event(room_id, event_type, state_key)
        content = getattr(resp, "content", None)
        return content if isinstance(content, dict) else {}

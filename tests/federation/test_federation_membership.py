"""Users of another server joining and leaving our rooms: make_join/send_join (v1, v2, omit_members,
restricted rooms, every room version), make_leave/send_leave, and what is refused."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from homeserver.events.room_versions import CREATABLE_ROOM_VERSIONS
from tests.federation.support import FakeRemote
from tests.server import HomeserverTestCase

F = "/_matrix/federation"
V3 = "/_matrix/client/v3"
ALL_VERSIONS = "&".join(f"ver={v.identifier}" for v in CREATABLE_ROOM_VERSIONS)


class FederationJoinTest(HomeserverTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.remote = FakeRemote(self)
        self.bob = self.remote.user("bob")
        self.token = (await self.register("alice"))["access_token"]
        self.alice = f"@alice:{self.hs.config.server_name}"

    async def room(self, **body: Any) -> str:
        r = await self.post(f"{V3}/createRoom", {"preset": "public_chat", **body}, token=self.token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["room_id"]

    async def make(self, room_id: str, user_id: str | None = None, what: str = "join", query: str = ALL_VERSIONS):
        return await self.remote.request("GET", f"{F}/v1/make_{what}/{quote(room_id)}/{quote(user_id or self.bob)}"
                                         + (f"?{query}" if query else ""))

    async def send(self, room_id: str, pdu: dict, what: str = "join", version: str = "v2", query: str = ""):
        event_id = self.event_id(pdu)
        return await self.remote.request("PUT", f"{F}/{version}/send_{what}/{quote(room_id)}/{quote(event_id, safe='')}{query}",
                                         pdu)

    def event_id(self, pdu: dict) -> str:
        from homeserver.events.hashing import event_from_pdu
        from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS
        room_version = KNOWN_ROOM_VERSIONS[next(iter(self.versions.values()))]
        return event_from_pdu(pdu, room_version).event_id

    async def join(self, room_id: str, user_id: str | None = None) -> dict:
        r = await self.make(room_id, user_id)
        self.assertEqual(r.code, 200, r.json)
        self.versions = {room_id: r.json["room_version"]}
        signed = self.remote.sign(r.json["event"], r.json["room_version"])
        r = await self.send(room_id, signed)
        self.assertEqual(r.code, 200, r.json)
        return r.json

    async def membership(self, room_id: str, user_id: str) -> str | None:
        current = await self.hs.events_store.get_membership(room_id, user_id)
        return current[0] if current else None

    async def test_join_a_public_room(self) -> None:
        room_id = await self.room(name="Lobby")
        r = await self.make(room_id)
        self.assertEqual(r.code, 200, r.json)
        template = r.json["event"]
        self.assertEqual(r.json["room_version"], (await self.hs.events_store.get_room_version(room_id)).identifier)
        self.assertEqual((template["type"], template["sender"], template["state_key"], template["room_id"]),
                         ("m.room.member", self.bob, self.bob, room_id))
        self.assertEqual(template["content"], {"membership": "join"})
        extremities = await self.hs.events_store.get_forward_extremity_ids(room_id)
        self.assertEqual(template["prev_events"], list(extremities))
        self.assertNotIn("signatures", template)
        state_before = dict(await self.hs.events_store.get_current_state_ids(room_id))

        self.versions = {room_id: r.json["room_version"]}
        signed = self.remote.sign(template, r.json["room_version"])
        r = await self.send(room_id, signed)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual({self.event_id(p) for p in r.json["state"]},
                         set(state_before.values()))
        chain_types = {p["type"] for p in r.json["auth_chain"]}
        self.assertTrue({"m.room.create", "m.room.power_levels", "m.room.join_rules"} <= chain_types, chain_types)
        self.assertFalse(r.json["members_omitted"])
        self.assertNotIn("event", r.json)
        self.assertEqual(await self.membership(room_id, self.bob), "join")

        # Alice's client sees Bob join.
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/joined_members", token=self.token)
        self.assertIn(self.bob, r.json["joined"])

        # A retry of the same send_join answers the same and adds nothing.
        count = len(await self.hs.events_store.get_forward_extremity_ids(room_id))
        r = await self.send(room_id, signed)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(len(r.json["state"]), len(state_before))
        self.assertEqual(len(await self.hs.events_store.get_forward_extremity_ids(room_id)), count)

    async def test_v1_send_join_and_omit_members(self) -> None:
        room_id = await self.room()
        for name in ("carol", "dave"):
            token = (await self.register(name))["access_token"]
            r = await self.post(f"{V3}/join/{quote(room_id)}", {}, token=token)
            self.assertEqual(r.code, 200, r.json)
        r = await self.make(room_id)
        self.versions = {room_id: r.json["room_version"]}
        signed = self.remote.sign(r.json["event"], r.json["room_version"])
        r = await self.send(room_id, signed, version="v1")
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json[0], 200)
        self.assertTrue(any(p["type"] == "m.room.member" for p in r.json[1]["state"]))

        # Another user joins with omit_members: a named room's member events are left out.
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.name/", {"name": "Lounge"},
                               token=self.token)
        self.assertEqual(r.code, 200, r.json)
        r = await self.make(room_id, self.remote.user("erin"))
        signed = self.remote.sign(r.json["event"], r.json["room_version"])
        r = await self.send(room_id, signed, query="?omit_members=true")
        self.assertEqual(r.code, 200, r.json)
        self.assertTrue(r.json["members_omitted"])
        self.assertEqual([p for p in r.json["state"] if p["type"] == "m.room.member"], [])
        self.assertEqual(set(r.json["servers_in_room"]), {self.hs.config.server_name, self.remote.name})
        state_ids = {self.event_id(p) for p in r.json["state"]}
        self.assertFalse(state_ids & {self.event_id(p) for p in r.json["auth_chain"]})

    async def test_refusals(self) -> None:
        room_id = await self.room()
        self.assert_error(await self.make(room_id, "@eve:elsewhere.test"), 403, "M_FORBIDDEN")
        self.assert_error(await self.make("!nope:" + self.hs.config.server_name), 404, "M_NOT_FOUND")
        version = (await self.hs.events_store.get_room_version(room_id)).identifier
        r = await self.make(room_id, query="ver=1&ver=2")
        self.assert_error(r, 400, "M_INCOMPATIBLE_ROOM_VERSION")
        self.assertEqual(r.json["room_version"], version)
        private = await self.room(preset="private_chat")
        self.assert_error(await self.make(private), 403, "M_FORBIDDEN")
        self.assert_error(await self.make(room_id, what="leave"), 403, "M_FORBIDDEN")  # not in the room

        r = await self.make(room_id)
        self.versions = {room_id: r.json["room_version"]}
        template = r.json["event"]
        before = await self.hs.events_store.get_forward_extremity_ids(room_id)
        bad = [
            {**template, "state_key": self.remote.user("someone")},          # state_key != sender
            {**template, "content": {"membership": "leave"}},                 # not a join
            {**template, "type": "m.room.message"},
            {**template, "room_id": private},
        ]
        for pdu in bad:
            signed = self.remote.sign(pdu, r.json["room_version"])
            self.versions[pdu["room_id"]] = r.json["room_version"]
            self.assert_error(await self.send(room_id, signed), 400, "M_INVALID_PARAM")
        signed = self.remote.sign(template, r.json["room_version"])
        # Signed by another key than the server's: refused.
        forged = {**signed, "signatures": {self.remote.name: {"ed25519:r1": "A" * 86}}}
        self.assert_error(await self.send(room_id, forged), 400, "M_INVALID_PARAM")
        # The path names another event.
        r = await self.remote.request("PUT", f"{F}/v2/send_join/{quote(room_id)}/$other", signed)
        self.assert_error(r, 400, "M_INVALID_PARAM")
        self.assert_error(await self.remote.request("PUT", f"{F}/v2/send_join/{quote(room_id)}/$x", [1]),
                          400, "M_BAD_JSON")
        self.assertEqual(await self.hs.events_store.get_forward_extremity_ids(room_id), before)
        self.assertIsNone(await self.membership(room_id, self.bob))
        # Unsigned requests are refused before anything else.
        self.assert_error(await self.get(f"{F}/v1/make_join/{quote(room_id)}/{quote(self.bob)}"), 401, "M_UNAUTHORIZED")

    async def test_leave(self) -> None:
        room_id = await self.room()
        await self.join(room_id)
        r = await self.make(room_id, what="leave", query="")
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["event"]["content"], {"membership": "leave"})
        signed = self.remote.sign(r.json["event"], r.json["room_version"])
        r = await self.send(room_id, signed, what="leave")
        self.assertEqual((r.code, r.json), (200, {}))
        self.assertEqual(await self.membership(room_id, self.bob), "leave")
        self.assert_error(await self.make(room_id, what="leave", query=""), 403, "M_FORBIDDEN")  # not in it now

    async def test_every_room_version(self) -> None:
        for version in CREATABLE_ROOM_VERSIONS:
            room_id = await self.room(room_version=version.identifier)
            await self.join(room_id)
            self.assertEqual(await self.membership(room_id, self.bob), "join", version.identifier)
            r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/m.room.message/t{version.identifier}",
                                   {"msgtype": "m.text", "body": "welcome"}, token=self.token)
            self.assertEqual(r.code, 200, r.json)

    async def test_restricted_room(self) -> None:
        space = await self.room()
        restricted = await self.room(room_version="10", initial_state=[{
            "type": "m.room.join_rules", "state_key": "",
            "content": {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": space}]}}])
        # Not in the space: refused.
        self.assert_error(await self.make(restricted), 403, "M_FORBIDDEN")
        await self.join(space)
        r = await self.make(restricted)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["event"]["content"]["join_authorised_via_users_server"], self.alice)
        self.versions = {restricted: r.json["room_version"]}
        signed = self.remote.sign(r.json["event"], r.json["room_version"])
        r = await self.send(restricted, signed)
        self.assertEqual(r.code, 200, r.json)
        self.assertIn(self.hs.config.server_name, r.json["event"]["signatures"])
        self.assertEqual(await self.membership(restricted, self.bob), "join")

        # A room whose allowed rooms we do not know.
        elsewhere = await self.room(room_version="10", initial_state=[{
            "type": "m.room.join_rules", "state_key": "",
            "content": {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": "!x:far.test"}]}}])
        self.assert_error(await self.make(elsewhere), 400, "M_UNABLE_TO_AUTHORISE_JOIN")

    async def test_local_user_joins_a_restricted_room(self) -> None:
        space = await self.room()
        restricted = await self.room(room_version="10", initial_state=[{
            "type": "m.room.join_rules", "state_key": "",
            "content": {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": space}]}}])
        carol = (await self.register("carol"))["access_token"]
        self.assert_error(await self.post(f"{V3}/join/{quote(restricted)}", {}, token=carol), 403, "M_FORBIDDEN")
        r = await self.post(f"{V3}/join/{quote(space)}", {}, token=carol)
        self.assertEqual(r.code, 200, r.json)
        r = await self.post(f"{V3}/join/{quote(restricted)}", {}, token=carol)
        self.assertEqual(r.code, 200, r.json)
        r = await self.get(f"{V3}/rooms/{quote(restricted)}/state/m.room.member/{quote('@carol:' + self.hs.config.server_name)}",
                           token=carol)
        self.assertEqual(r.json["join_authorised_via_users_server"], self.alice)

"""Two servers of ours: a user of B joins a room of A (make_join/send_join), messages go both ways
through the federation senders and /send, leaving and rejoining; refusals and unreachable servers."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.federation.two_servers import NAME_A, NAME_B, TwoServerTestCase

V3 = "/_matrix/client/v3"


class RemoteJoinTest(TwoServerTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.alice, self.token_a = await self.register_on(self.site, "alice")
        self.bob, self.token_b = await self.register_on(self.site_b, "bob")

    async def room(self, **body: Any) -> str:
        r = await self.post(f"{V3}/createRoom", {"preset": "public_chat", **body}, token=self.token_a)
        self.assertEqual(r.code, 200, r.json)
        return r.json["room_id"]

    async def join_b(self, room_id: str, via: str = NAME_A):
        return await self.request("POST", f"{V3}/join/{quote(room_id)}?server_name={quote(via)}", {},
                                  token=self.token_b, site=self.site_b)

    async def say(self, room_id: str, body: str, on_b: bool = False) -> str:
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/m.room.message/{quote(body)}",
                               {"msgtype": "m.text", "body": body}, token=self.token_b if on_b else self.token_a,
                               site=self.site_b if on_b else self.site)
        self.assertEqual(r.code, 200, r.json)
        return r.json["event_id"]

    async def bodies(self, room_id: str, on_b: bool) -> list[str]:
        r = await self.request("GET", f"{V3}/rooms/{quote(room_id)}/messages?dir=b&limit=50",
                               token=self.token_b if on_b else self.token_a, site=self.site_b if on_b else self.site)
        self.assertEqual(r.code, 200, r.json)
        return [e["content"].get("body") for e in reversed(r.json["chunk"]) if e["type"] == "m.room.message"]

    async def has(self, room_id: str, body: str, on_b: bool) -> bool:
        return body in await self.bodies(room_id, on_b)

    async def is_member(self, hs: Any, room_id: str, user_id: str, membership: str) -> bool:
        return await self.membership(hs, room_id, user_id) == membership

    async def membership(self, hs: Any, room_id: str, user_id: str) -> str | None:
        current = await hs.events_store.get_membership(room_id, user_id)
        return current[0] if current else None

    async def test_join_a_room_of_another_server_and_talk_both_ways(self) -> None:
        room_id = await self.room(name="Lobby", topic="hello")
        await self.say(room_id, "before bob")
        r = await self.join_b(room_id)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json, {"room_id": room_id})
        await self.pump()
        self.assertEqual(await self.membership(self.hs, room_id, self.bob), "join")
        self.assertEqual(await self.membership(self.hs_b, room_id, self.bob), "join")
        self.assertEqual(await self.membership(self.hs_b, room_id, self.alice), "join")
        state_a = await self.hs.events_store.get_current_state_ids(room_id)
        state_b = await self.hs_b.events_store.get_current_state_ids(room_id)
        self.assertEqual(state_a, state_b)

        sync = await self.request("GET", f"{V3}/sync", token=self.token_b, site=self.site_b)
        joined = sync.json["rooms"]["join"][room_id]
        types = {e["type"] for e in joined["state"]["events"] + joined["timeline"]["events"]}
        self.assertTrue({"m.room.create", "m.room.name", "m.room.topic", "m.room.member"} <= types, types)
        # The room's history before the join is on A: the timeline says it is limited, so clients page
        # back from prev_batch (which backfills) instead of taking the join as the room's start.
        self.assertTrue(joined["timeline"]["limited"])
        r = await self.request("GET", f"{V3}/rooms/{quote(room_id)}/messages?dir=b&limit=50"
                               f"&from={quote(joined['timeline']['prev_batch'])}", token=self.token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        self.assertIn("before bob", [e["content"].get("body") for e in r.json["chunk"]])
        # A room created here starts at its m.room.create: not limited.
        own = await self.room(name="Own")
        sync = await self.request("GET", f"{V3}/sync", token=self.token_a)
        self.assertFalse(sync.json["rooms"]["join"][own]["timeline"]["limited"])

        await self.say(room_id, "hi bob")
        await self.eventually(lambda: self.has(room_id, "hi bob", on_b=True))
        await self.say(room_id, "hi alice", on_b=True)
        await self.eventually(lambda: self.has(room_id, "hi alice", on_b=False))
        self.assertEqual(await self.bodies(room_id, on_b=False), ["before bob", "hi bob", "hi alice"])
        self.assertEqual((await self.bodies(room_id, on_b=True))[-2:], ["hi bob", "hi alice"])
        self.assertEqual(await self.hs.events_store.get_forward_extremity_ids(room_id),
                         await self.hs_b.events_store.get_forward_extremity_ids(room_id))

    async def test_every_room_version(self) -> None:
        for version in ("1", "2", "3", "6", "9", "10", "11", "12"):
            room_id = await self.room(room_version=version)
            r = await self.join_b(room_id)
            self.assertEqual(r.code, 200, (version, r.json))
            await self.say(room_id, f"v{version}", on_b=True)
            await self.eventually(lambda r=room_id, v=version: self.has(r, f"v{v}", on_b=False))
            self.assertEqual(await self.bodies(room_id, on_b=False), [f"v{version}"], version)

    async def test_leave_and_rejoin(self) -> None:
        room_id = await self.room()
        self.assertEqual((await self.join_b(room_id)).code, 200)
        r = await self.request("POST", f"{V3}/rooms/{quote(room_id)}/leave", {}, token=self.token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        await self.eventually(lambda: self.is_member(self.hs, room_id, self.bob, "leave"))
        await self.say(room_id, "while bob is away")
        await self.pump()
        r = await self.join_b(room_id)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.membership(self.hs, room_id, self.bob), "join")
        # B's own view: its current state (from the extremities it had and the rejoin) says join.
        self.assertEqual(await self.membership(self.hs_b, room_id, self.bob), "join")
        r = await self.request("GET", f"{V3}/joined_rooms", token=self.token_b, site=self.site_b)
        self.assertIn(room_id, r.json["joined_rooms"])
        await self.say(room_id, "welcome back")
        await self.eventually(lambda: self.has(room_id, "welcome back", on_b=True))

    async def test_an_invite_only_room_refuses(self) -> None:
        room_id = await self.room(preset="private_chat")
        before = await self.hs_b.events_store.get_room_version(room_id)
        r = await self.join_b(room_id)
        self.assert_error(r, 403, "M_FORBIDDEN")
        self.assertIsNone(before)
        self.assertEqual(await self.membership(self.hs, room_id, self.bob), None)

    async def test_unreachable_or_unknown(self) -> None:
        room_id = await self.room()
        self.link_b.down.add(NAME_A)
        r = await self.join_b(room_id)
        self.assertEqual(r.code, 502, r.json)
        self.link_b.down.clear()
        r = await self.join_b(f"!nothing:{NAME_A}")
        self.assert_error(r, 404, "M_NOT_FOUND")
        r = await self.request("POST", f"{V3}/join/{quote('!nothing:' + NAME_B)}", {}, token=self.token_b,
                               site=self.site_b)
        self.assert_error(r, 404, "M_NOT_FOUND")

    async def test_a_server_that_missed_events_catches_up_after_our_restart(self) -> None:
        room_id = await self.room()
        self.assertEqual((await self.join_b(room_id)).code, 200)
        self.link_a.down.add(NAME_B)
        for body in ("one", "two", "three"):
            await self.say(room_id, body)
        await self.pump()
        self.assertNotIn("one", await self.bodies(room_id, on_b=True))
        self.link_a.down.clear()
        # A restarted: its queue in memory is gone; the catch-up sends the room's latest event and
        # B fetches the two before it with get_missing_events.
        from homeserver.federation.sender import FederationSender
        sender = FederationSender(NAME_A, self.hs.clock, self.hs.events_store, self.hs.federation_api,
                                  lambda s: True, self.hs.destinations_store)
        await sender.catch_up()
        await self.eventually(lambda: self.has(room_id, "three", on_b=True))
        self.assertEqual(await self.bodies(room_id, on_b=True), ["one", "two", "three"])

    async def test_join_by_an_alias_of_the_other_server(self) -> None:
        room_id = await self.room(room_alias_name="lobby")
        alias = f"#lobby:{NAME_A}"
        r = await self.request("GET", f"{V3}/directory/room/{quote(alias)}", token=self.token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json, {"room_id": room_id, "servers": [NAME_A]})
        r = await self.request("POST", f"{V3}/join/{quote(alias)}", {}, token=self.token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json, {"room_id": room_id})
        self.assertEqual(await self.membership(self.hs, room_id, self.bob), "join")
        r = await self.request("GET", f"{V3}/directory/room/{quote(alias)}", token=self.token_b, site=self.site_b)
        self.assertEqual(r.json["servers"], [NAME_A, NAME_B])
        r = await self.request("GET", f"{V3}/directory/room/{quote('#nope:' + NAME_A)}", token=self.token_b,
                               site=self.site_b)
        self.assert_error(r, 404, "M_NOT_FOUND")
        self.link_b.down.add(NAME_A)
        r = await self.request("GET", f"{V3}/directory/room/{quote(alias)}", token=self.token_b, site=self.site_b)
        self.assertEqual(r.code, 502, r.json)

    async def test_a_gap_deeper_than_get_missing_events_takes_the_state_from_the_sender(self) -> None:
        room_id = await self.room()
        self.assertEqual((await self.join_b(room_id)).code, 200)
        self.link_a.down.add(NAME_B)
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.topic/", {"topic": "new"},
                               token=self.token_a)
        self.assertEqual(r.code, 200, r.json)
        for i in range(15):
            await self.say(room_id, f"m{i}")
        await self.pump()
        self.link_a.down.clear()
        from homeserver.federation.sender import FederationSender
        sender = FederationSender(NAME_A, self.hs.clock, self.hs.events_store, self.hs.federation_api,
                                  lambda s: True, self.hs.destinations_store)
        await sender.catch_up()
        await self.eventually(lambda: self.has(room_id, "m14", on_b=True))
        # The 10 before it came with get_missing_events; the state at the rest from /state.
        expected = [f"m{i}" for i in range(4, 15)]
        self.assertEqual([b for b in await self.bodies(room_id, on_b=True) if b in expected], expected)
        state_b = await self.hs_b.events_store.get_current_state_ids(room_id)
        state_a = await self.hs.events_store.get_current_state_ids(room_id)
        self.assertEqual(state_b, state_a)
        await self.say(room_id, "after", on_b=True)
        await self.eventually(lambda: self.has(room_id, "after", on_b=False))

    async def test_the_other_server_s_room_directory(self) -> None:
        room_id = await self.room(name="Lobby")
        r = await self.request("PUT", f"{V3}/directory/list/room/{quote(room_id)}", {"visibility": "public"},
                               token=self.token_a)
        self.assertEqual(r.code, 200, r.json)
        r = await self.request("GET", f"{V3}/publicRooms?server={quote(NAME_A)}", token=self.token_b, site=self.site_b)
        self.assert_error(r, 403, "M_FORBIDDEN")  # allow_public_rooms_over_federation is off by default
        self.hs.federation_query_handler._allow_public_rooms = True
        r = await self.request("POST", f"{V3}/publicRooms?server={quote(NAME_A)}",
                               {"filter": {"generic_search_term": "lob"}}, token=self.token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual([c["room_id"] for c in r.json["chunk"]], [room_id])
        self.assertEqual(r.json["chunk"][0]["name"], "Lobby")

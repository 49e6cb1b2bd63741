"""/sync across membership transitions and gaps: which rooms start afresh, and which state reaches
the client when the timeline does not carry it (issue 12, items 5-8)."""

from urllib.parse import quote

from tests.rest.test_rooms import V3, RoomsTestCase


def hv(value: str) -> dict:
    return {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": value}}


class SyncTransitionsTest(RoomsTestCase):
    async def sync(self, token: str, since: str | None = None, **params) -> dict:
        query = "&".join([f"since={since}"] * (since is not None) + [f"{k}={quote(str(v))}" for k, v in params.items()])
        r = await self.get(f"{V3}/sync?{query}", token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json

    async def join(self, token: str, room_id: str) -> None:
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=token)
        self.assertEqual(r.code, 200, r.json)

    async def leave(self, token: str, room_id: str) -> None:
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/leave", {}, token=token)
        self.assertEqual(r.code, 200, r.json)

    @staticmethod
    def members(room: dict, key: str = "state") -> dict[str, str]:
        return {e["state_key"]: e["content"]["membership"]
                for e in room.get(key, {}).get("events", []) + room["timeline"]["events"]
                if e["type"] == "m.room.member"}

    async def test_display_name_change_is_not_a_fresh_join(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, name="Chat")
        for i in range(3):
            await self.send(self.alice, room_id, f"m{i}", f"t{i}")
        start = await self.sync(self.alice)
        r = await self.request("PUT", f"{V3}/profile/@alice:test/displayname", {"displayname": "Alice"},
                               token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        room = (await self.sync(self.alice, start["next_batch"]))["rooms"]["join"][room_id]
        timeline = room["timeline"]["events"]
        self.assertEqual([(e["type"], e["content"].get("displayname")) for e in timeline],
                         [("m.room.member", "Alice")])
        self.assertFalse(room["timeline"]["limited"])
        self.assertEqual(room["state"]["events"], [])

    async def test_invite_join_leave_in_one_window_gets_full_state(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, name="Party", topic="Cake", invite=["@bob:test"])
        for i in range(12):
            await self.send(self.alice, room_id, f"m{i}", f"t{i}")
        invited = await self.sync(self.bob)
        self.assertIn(room_id, invited["rooms"]["invite"])
        await self.join(self.bob, room_id)
        for i in range(12):
            await self.send(self.alice, room_id, f"n{i}", f"u{i}")
        await self.leave(self.bob, room_id)
        room = (await self.sync(self.bob, invited["next_batch"]))["rooms"]["leave"][room_id]
        state = {e["type"]: e for e in room["state"]["events"]}
        for t in ("m.room.create", "m.room.power_levels", "m.room.join_rules", "m.room.name", "m.room.topic"):
            self.assertIn(t, state)
        self.assertEqual(room["timeline"]["events"][-1]["content"]["membership"], "leave")
        self.assertEqual(self.members(room)["@alice:test"], "join")

    async def test_rejoin_reports_joins_made_while_away(self) -> None:
        # History `joined`: carol's join while bob was away is hidden from bob's timeline, so it must
        # reach him in `state` or his member list misses her.
        await self.users()
        carol = (await self.register("carol"))["access_token"]
        room_id = await self.create(self.alice, preset="public_chat", initial_state=[hv("joined")])
        await self.join(self.bob, room_id)
        await self.leave(self.bob, room_id)
        since = (await self.sync(self.bob))["next_batch"]
        await self.join(carol, room_id)
        await self.join(self.bob, room_id)
        await self.send(self.alice, room_id, "welcome back", "t1")
        room = (await self.sync(self.bob, since))["rooms"]["join"][room_id]
        self.assertEqual(self.members(room).get("@carol:test"), "join")
        # And on an initial sync.
        room = (await self.sync(self.bob))["rooms"]["join"][room_id]
        self.assertEqual(self.members(room).get("@carol:test"), "join")

    async def test_state_dropped_by_a_timeline_filter_reaches_state(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        since = (await self.sync(self.alice))["next_batch"]
        await self.send(self.alice, room_id, "first", "t0")
        await self.join(self.bob, room_id)
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.topic", {"topic": "new"},
                               token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        await self.send(self.alice, room_id, "last", "t1")
        flt = '{"room":{"timeline":{"types":["m.room.message"]}}}'
        for token in (since, None):
            room = (await self.sync(self.alice, token, filter=flt))["rooms"]["join"][room_id]
            self.assertEqual([e["type"] for e in room["timeline"]["events"]][-2:], ["m.room.message"] * 2)
            state = {(e["type"], e["state_key"]): e["content"] for e in room["state"]["events"]}
            self.assertEqual(state.get(("m.room.topic", "")), {"topic": "new"})
            self.assertEqual(state.get(("m.room.member", "@bob:test"), {}).get("membership"), "join")

    async def test_lazy_members_in_a_gappy_sync_get_the_gaps_membership_changes(self) -> None:
        await self.users()
        carol = (await self.register("carol"))["access_token"]
        room_id = await self.create(self.alice, preset="public_chat")
        await self.join(carol, room_id)
        flt = '{"room":{"timeline":{"limit":2},"state":{"lazy_load_members":true}}}'
        since = (await self.sync(self.alice, filter=flt))["next_batch"]
        await self.join(self.bob, room_id)  # bob joins, says nothing
        await self.leave(carol, room_id)  # carol leaves, says nothing
        for i in range(5):
            await self.send(self.alice, room_id, f"m{i}", f"t{i}")
        room = (await self.sync(self.alice, since, filter=flt))["rooms"]["join"][room_id]
        self.assertTrue(room["timeline"]["limited"])
        members = self.members(room)
        self.assertEqual(members.get("@bob:test"), "join")
        self.assertEqual(members.get("@carol:test"), "leave")

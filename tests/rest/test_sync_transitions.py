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

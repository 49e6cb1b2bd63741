"""History visibility rules at their boundaries (spec: client-server API, history visibility module)."""

from urllib.parse import quote

from tests.rest.test_rooms import V3, RoomsTestCase


def hv(value: str) -> dict:
    return {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": value}}


class HistoryVisibilityTest(RoomsTestCase):
    async def set_hv(self, room_id: str, value: str) -> str:
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.history_visibility",
                               {"history_visibility": value}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        return r.json["event_id"]

    async def messages(self, token: str, room_id: str) -> list[dict]:
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/messages?dir=b&limit=50", token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["chunk"]

    async def test_later_joiner_sees_the_change_that_opened_history(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat", initial_state=[hv("joined")])
        await self.send(self.alice, room_id, "before", "t1")
        opened = await self.set_hv(room_id, "shared")
        after = await self.send(self.alice, room_id, "after", "t2")
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        ids = [e["event_id"] for e in await self.messages(self.bob, room_id)]
        self.assertIn(after, ids)
        self.assertIn(opened, ids)  # visible: the state after it allows
        self.assertNotIn("before", [e["content"].get("body") for e in await self.messages(self.bob, room_id)])
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/event/{quote(opened)}", token=self.bob)
        self.assertEqual(r.code, 200, r.json)

    async def test_the_change_that_closed_history_is_seen_too(self) -> None:
        # shared -> joined: the state before it allowed a later joiner, so the change itself is seen.
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat", initial_state=[hv("shared")])
        closed = await self.set_hv(room_id, "joined")
        hidden = await self.send(self.alice, room_id, "hidden", "t1")
        await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        ids = [e["event_id"] for e in await self.messages(self.bob, room_id)]
        self.assertIn(closed, ids)
        self.assertNotIn(hidden, ids)

    async def test_non_member_sees_the_change_to_world_readable(self) -> None:
        await self.users()
        carol = (await self.register("carol"))["access_token"]
        room_id = await self.create(self.alice, preset="public_chat", initial_state=[hv("joined")])
        secret = await self.send(self.alice, room_id, "secret", "t1")
        opened = await self.set_hv(room_id, "world_readable")
        public = await self.send(self.alice, room_id, "public", "t2")
        ids = [e["event_id"] for e in await self.messages(carol, room_id)]
        self.assertIn(public, ids)
        self.assertIn(opened, ids)
        self.assertNotIn(secret, ids)

    async def test_unknown_value_is_shared(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat", initial_state=[hv("sometimes")])
        early = await self.send(self.alice, room_id, "early", "t1")
        await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        self.assertIn(early, [e["event_id"] for e in await self.messages(self.bob, room_id)])

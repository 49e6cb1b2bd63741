"""Ignored users (spec: client-server API, ignoring users): nothing an ignored user sends notifies,
is pushed, counts as unread or brings the room back into an incremental /sync."""

from urllib.parse import quote

from tests.rest.test_push_delivery import PushTestCase
from tests.rest.test_rooms import V3

ALICE = "@alice:test"


class IgnoredUsersNotifyTest(PushTestCase):
    async def ignore(self, user_id: str) -> None:
        r = await self.request("PUT", f"{V3}/user/{ALICE}/account_data/m.ignored_user_list",
                               {"ignored_users": {user_id: {}}}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)

    async def sync(self, since: str | None = None) -> dict:
        r = await self.get(f"{V3}/sync" + (f"?since={since}" if since else ""), token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        return r.json

    async def test_ignored_users_messages_do_not_notify(self) -> None:
        room_id = await self.room_with_bob()
        carol = (await self.register("carol"))["access_token"]
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=carol)
        self.assertEqual(r.code, 200, r.json)
        await self.add_pusher(self.alice)
        await self.ignore("@bob:test")
        since = (await self.sync())["next_batch"]

        # A mention too, which would highlight.
        await self.send(self.bob, room_id, "hello alice", "t1")
        await self.settle()
        self.assertEqual(self.gateway.requests, [])
        r = await self.get(f"{V3}/notifications", token=self.alice)
        self.assertEqual(r.json["notifications"], [])
        # The room has nothing new for alice: it is not in the incremental sync at all.
        body = await self.sync(since)
        self.assertNotIn(room_id, body.get("rooms", {}).get("join", {}))
        room = (await self.sync())["rooms"]["join"][room_id]
        self.assertEqual(room["unread_notifications"], {"notification_count": 0, "highlight_count": 0})

        # Carol is not ignored: her message notifies, counts and is pushed.
        carols = await self.send(carol, room_id, "hi", "t2")
        await self.until_pushed(1)
        self.assertEqual([r["notification"]["event_id"] for r in self.gateway.requests], [carols])
        room = (await self.sync(body["next_batch"]))["rooms"]["join"][room_id]
        self.assertEqual([e["event_id"] for e in room["timeline"]["events"]], [carols])
        self.assertEqual(room["unread_notifications"]["notification_count"], 1)

    async def test_ignoring_later_recounts(self) -> None:
        room_id = await self.room_with_bob()
        await self.send(self.bob, room_id, "one", "t1")
        room = (await self.sync())["rooms"]["join"][room_id]
        self.assertEqual(room["unread_notifications"]["notification_count"], 1)
        await self.ignore("@bob:test")
        room = (await self.sync())["rooms"]["join"][room_id]
        self.assertEqual(room["unread_notifications"]["notification_count"], 0)

"""Typing (expiring on the fake clock), receipts (public, private, threaded) and read markers, in /sync."""

from urllib.parse import quote

from twisted.internet import defer

from tests.rest.test_rooms import V3, RoomsTestCase


class EphemeralTest(RoomsTestCase):
    async def setup_room(self) -> None:
        await self.users()
        self.room_id = await self.create(self.alice, preset="public_chat")
        self.room = quote(self.room_id)
        await self.post(f"{V3}/rooms/{self.room}/join", {}, token=self.bob)

    async def sync(self, token: str, since: str | None = None, timeout: int = 0) -> dict:
        query = f"since={since}&timeout={timeout}" if since else ""
        r = await self.get(f"{V3}/sync?{query}", token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json

    def ephemeral(self, sync: dict, event_type: str) -> list[dict]:
        room = sync.get("rooms", {}).get("join", {}).get(self.room_id, {})
        return [e for e in room.get("ephemeral", {}).get("events", []) if e["type"] == event_type]

    async def test_typing_wakes_sync_and_expires(self) -> None:
        await self.setup_room()
        since = (await self.sync(self.bob))["next_batch"]
        waiting = defer.ensureDeferred(self.get(f"{V3}/sync?since={since}&timeout=30000", token=self.bob))
        await self.pump_until(lambda: self.hs.notifier.waiter_count() == 1)
        r = await self.request("PUT", f"{V3}/rooms/{self.room}/typing/@alice:test", {"typing": True, "timeout": 5000},
                               token=self.alice)
        self.assertEqual(r.code, 200)
        got = (await waiting).json
        self.assertEqual(self.ephemeral(got, "m.typing"), [{"type": "m.typing", "content": {"user_ids": ["@alice:test"]}}])
        self.advance(6)  # the typing timeout passes
        later = await self.sync(self.bob, got["next_batch"])
        self.assertEqual(self.ephemeral(later, "m.typing")[0]["content"]["user_ids"], [])
        # Refusals.
        await self.assert_rejected_without_change("PUT", f"{V3}/rooms/{self.room}/typing/@bob:test",
                                                  {"typing": True}, 403, "M_FORBIDDEN", token=self.alice)
        await self.assert_rejected_without_change("PUT", f"{V3}/rooms/{self.room}/typing/@alice:test",
                                                  {"typing": "yes"}, 400, "M_BAD_JSON", token=self.alice)

    async def test_receipts(self) -> None:
        await self.setup_room()
        since = (await self.sync(self.bob))["next_batch"]
        event_id = await self.send(self.alice, self.room_id, "read me", "t1")
        r = await self.post(f"{V3}/rooms/{self.room}/receipt/m.read/{quote(event_id)}", {}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        r = await self.post(f"{V3}/rooms/{self.room}/receipt/m.read.private/{quote(event_id)}", {}, token=self.alice)
        self.assertEqual(r.code, 200)
        bobs = await self.sync(self.bob, since)
        [receipt] = self.ephemeral(bobs, "m.receipt")
        self.assertEqual(set(receipt["content"][event_id]), {"m.read"})  # alice's private one is hers only
        self.assertIn("@bob:test", receipt["content"][event_id]["m.read"])
        alices = await self.sync(self.alice)
        [receipt] = self.ephemeral(alices, "m.receipt")
        self.assertIn("@alice:test", receipt["content"][event_id]["m.read.private"])
        # Threaded receipt.
        root = await self.send(self.alice, self.room_id, "root", "t2")
        r = await self.post(f"{V3}/rooms/{self.room}/receipt/m.read/{quote(root)}", {"thread_id": root},
                            token=self.bob)
        self.assertEqual(r.code, 200)
        # Read markers set m.fully_read room account data.
        r = await self.post(f"{V3}/rooms/{self.room}/read_markers", {"m.fully_read": root, "m.read": root},
                            token=self.bob)
        self.assertEqual(r.code, 200)
        r = await self.get(f"{V3}/user/@bob:test/rooms/{self.room}/account_data/m.fully_read", token=self.bob)
        self.assertEqual(r.json, {"event_id": root})

    async def test_receipt_refusals(self) -> None:
        await self.setup_room()
        event_id = await self.send(self.alice, self.room_id, "x", "t1")
        other_room = await self.create(self.alice)
        elsewhere = await self.send(self.alice, other_room, "y", "t2")
        for path, body, code, errcode in (
            (f"/rooms/{self.room}/receipt/m.read/{quote('$nope')}", {}, 404, "M_NOT_FOUND"),
            (f"/rooms/{self.room}/receipt/m.read/{quote(elsewhere)}", {}, 404, "M_NOT_FOUND"),
            (f"/rooms/{self.room}/receipt/m.bogus/{quote(event_id)}", {}, 400, "M_INVALID_PARAM"),
            (f"/rooms/{self.room}/receipt/m.read/{quote(event_id)}", {"thread_id": ""}, 400, "M_INVALID_PARAM"),
            (f"/rooms/{self.room}/receipt/m.read/{quote(event_id)}", {"thread_id": "$other"}, 400, "M_INVALID_PARAM"),
            (f"/rooms/{quote(other_room)}/receipt/m.read/{quote(elsewhere)}", {}, 403, "M_FORBIDDEN"),
        ):
            await self.assert_rejected_without_change("POST", V3 + path, body, code, errcode, token=self.bob)

    async def test_counts_and_clearing(self) -> None:
        await self.setup_room()
        since = (await self.sync(self.bob))["next_batch"]
        await self.send(self.alice, self.room_id, "hello", "t1")
        mention = await self.request(
            "PUT", f"{V3}/rooms/{self.room}/send/m.room.message/t2",
            {"msgtype": "m.text", "body": "hey bob", "m.mentions": {"user_ids": ["@bob:test"]}}, token=self.alice)
        root = mention.json["event_id"]
        await self.request("PUT", f"{V3}/rooms/{self.room}/send/m.room.message/t3",
                           {"msgtype": "m.text", "body": "in thread",
                            "m.relates_to": {"rel_type": "m.thread", "event_id": root}}, token=self.alice)
        got = await self.sync(self.bob, since)
        room = got["rooms"]["join"][self.room_id]
        self.assertEqual(room["unread_notifications"], {"notification_count": 3, "highlight_count": 1})
        # Per thread, when asked.
        flt = quote('{"room":{"timeline":{"unread_thread_notifications":true}}}')
        r = await self.get(f"{V3}/sync?filter={flt}", token=self.bob)
        room = r.json["rooms"]["join"][self.room_id]
        self.assertEqual(room["unread_notifications"], {"notification_count": 2, "highlight_count": 1})
        self.assertEqual(room["unread_thread_notifications"], {root: {"notification_count": 1, "highlight_count": 0}})
        # A read receipt clears the counts, and the room comes back in the next sync with them.
        await self.post(f"{V3}/rooms/{self.room}/receipt/m.read/{quote(root)}", {}, token=self.bob)
        after = await self.sync(self.bob, got["next_batch"])
        self.assertEqual(after["rooms"]["join"][self.room_id]["unread_notifications"],
                         {"notification_count": 1, "highlight_count": 0})  # the thread reply is later
        # Alice's own messages never count for her.
        mine = await self.sync(self.alice)
        self.assertEqual(mine["rooms"]["join"][self.room_id]["unread_notifications"]["notification_count"], 0)

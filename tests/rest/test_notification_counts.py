"""Unread counts in /sync stay right while they are counted incrementally: each sync evaluates
only the events that arrived since the last answer; a receipt or a rule change recounts."""

from urllib.parse import quote

from tests.rest.test_rooms import V3, RoomsTestCase

ALICE = "@alice:test"


class IncrementalCountsTest(RoomsTestCase):
    async def counts(self, since: str | None = None) -> tuple[dict, str]:
        r = await self.get(f"{V3}/sync" + (f"?since={since}" if since else ""), token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        room = r.json.get("rooms", {}).get("join", {}).get(self.room_id, {})
        return room.get("unread_notifications"), r.json["next_batch"]

    async def test_counts_follow_messages_receipts_and_rules(self) -> None:
        await self.users()
        self.room_id = await self.create(self.alice, preset="public_chat")
        await self.post(f"{V3}/rooms/{quote(self.room_id)}/join", {}, token=self.bob)
        # Only the evaluations of /sync's counter are counted here, not those recording notifications.
        self.hs.event_persister.remove_listener(self.hs.push_actions_handler.on_event_persisted)
        await self.hs.push_actions_handler.drain()
        evaluator = await self.hs.push_rules_handler.get_evaluator(ALICE)
        evaluated = []
        original = evaluator.notification
        evaluator.notification = lambda event, ctx: (evaluated.append(event["event_id"]), original(event, ctx))[1]

        for i in range(3):
            await self.send(self.bob, self.room_id, f"m{i}", f"a{i}")
        counts, since = await self.counts()
        self.assertEqual(counts["notification_count"], 3)
        first_evaluations = len(evaluated)
        last = None
        for i in range(2):
            last = await self.send(self.bob, self.room_id, f"n{i}", f"b{i}")
        counts, since = await self.counts(since)
        self.assertEqual(counts["notification_count"], 5)
        self.assertEqual(len(evaluated) - first_evaluations, 2)  # only the two new messages

        # A receipt on the last message: nothing unread (counted afresh from the receipt).
        r = await self.post(f"{V3}/rooms/{quote(self.room_id)}/receipt/m.read/{quote(last)}", {}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        counts, since = await self.counts(since)
        self.assertEqual(counts["notification_count"], 0)
        await self.send(self.bob, self.room_id, "after the receipt", "c1")
        counts, since = await self.counts(since)
        self.assertEqual(counts["notification_count"], 1)

        # A rule that silences bob's messages: counted again with the new rules.
        r = await self.request("PUT", f"{V3}/pushrules/global/override/mute-bob", {
            "conditions": [{"kind": "event_match", "key": "sender", "pattern": "@bob:test"}], "actions": []},
            token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        await self.send(self.bob, self.room_id, "muted", "c2")
        counts, since = await self.counts(since)
        self.assertEqual(counts["notification_count"], 0)

"""The push gateway request body and read state (pure)."""

from twisted.trial import unittest

from homeserver.push import notify_format
from homeserver.push.read_state import is_read, thread_of

EVENT = {"event_id": "$e", "room_id": "!r:test", "type": "m.room.member", "sender": "@bob:test",
         "state_key": "@alice:test", "content": {"membership": "invite"}}


class NotifyFormatTest(unittest.TestCase):
    def test_tweaks(self) -> None:
        actions = ["notify", {"set_tweak": "sound", "value": "ping"}, {"set_tweak": "highlight"},
                   {"set_tweak": "x-led", "value": "blue"}, {"no": "tweak"}]
        self.assertEqual(notify_format.tweaks(actions), {"sound": "ping", "highlight": True, "x-led": "blue"})
        self.assertEqual(notify_format.tweaks([{"set_tweak": "highlight", "value": False}]), {"highlight": False})

    def test_priority(self) -> None:
        self.assertEqual(notify_format.priority("m.room.message", {}), "low")
        self.assertEqual(notify_format.priority("m.room.message", {"highlight": False}), "low")
        self.assertEqual(notify_format.priority("m.room.message", {"highlight": True}), "high")
        self.assertEqual(notify_format.priority("m.room.message", {"sound": "default"}), "high")
        self.assertEqual(notify_format.priority("m.room.encrypted", {}), "high")
        self.assertEqual(notify_format.priority("m.call.invite", {}), "high")

    def test_zero_counts_are_left_out(self) -> None:
        self.assertEqual(notify_format.counts(0, 0), {})
        self.assertEqual(notify_format.counts(2, 0), {"unread": 2})
        self.assertEqual(notify_format.counts(0, 1), {"missed_calls": 1})

    def test_member_event_body(self) -> None:
        device = notify_format.device("app", "key", 1_700_000_000_999, {"url": "https://x", "format": "f"}, {})
        self.assertEqual(device, {"app_id": "app", "pushkey": "key", "pushkey_ts": 1_700_000_000,
                                  "data": {"format": "f"}, "tweaks": {}})
        body = notify_format.notification_body(EVENT, notify_format.RoomDetails(room_name="Room"), {}, device, {},
                                               "@alice:test", False)
        self.assertEqual(body, {"notification": {
            "event_id": "$e", "room_id": "!r:test", "type": "m.room.member", "sender": "@bob:test",
            "room_name": "Room", "user_is_target": True, "content": {"membership": "invite"}, "prio": "low",
            "counts": {}, "devices": [device]}})
        other = notify_format.notification_body(EVENT, notify_format.RoomDetails(), {}, device, {}, "@carol:test",
                                                False)
        self.assertIs(other["notification"]["user_is_target"], False)


class ReadStateTest(unittest.TestCase):
    def test_threads(self) -> None:
        self.assertEqual(thread_of({"m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}}), "$root")
        self.assertIsNone(thread_of({"m.relates_to": {"rel_type": "m.annotation", "event_id": "$root"}}))
        self.assertIsNone(thread_of({}))

    def test_is_read(self) -> None:
        self.assertFalse(is_read(5, None, {}))
        self.assertTrue(is_read(5, None, {"": 5}))
        self.assertTrue(is_read(5, "$t", {"": 6}))
        self.assertTrue(is_read(5, None, {"main": 7}))
        self.assertFalse(is_read(5, "$t", {"main": 7}))  # the main receipt does not cover a thread
        self.assertTrue(is_read(5, "$t", {"$t": 5}))
        self.assertFalse(is_read(5, None, {"$t": 9}))

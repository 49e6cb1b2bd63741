"""The filter model (homeserver/events/filtering.py): validation, defaults and matching."""

from typing import Any

from twisted.trial import unittest

from homeserver.api.errors import MatrixError
from homeserver.events.filtering import (
    EventFilter,
    Filter,
    RoomEventFilter,
    RoomFilter,
    parse_filter_param,
    room_event_filter,
    validate_filter,
    validate_room_event_filter,
)
from homeserver.events.model import Event
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS

ROOM = "!room:x.example"


def ev(type: str = "m.room.message", sender: str = "@alice:x.example", room_id: str = ROOM,
       content: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": type, "sender": sender, "room_id": room_id, "content": content or {}}


class ValidationTest(unittest.SynchronousTestCase):
    def assert_refused(self, value: Any, errcode: str, field: str, validate=validate_filter) -> None:
        with self.assertRaises(MatrixError) as cm:
            validate(value)
        self.assertEqual((cm.exception.code, cm.exception.errcode), (400, errcode))
        self.assertIn(field, cm.exception.msg)

    def test_spec_example_is_valid(self) -> None:
        validate_filter({
            "room": {
                "state": {"types": ["m.room.*"], "not_rooms": ["!726s6s6q:example.com"]},
                "timeline": {"limit": 10, "types": ["m.room.message"], "not_rooms": ["!726s6s6q:example.com"],
                             "not_senders": ["@spam:example.com"]},
                "ephemeral": {"types": ["m.receipt", "m.typing"], "not_rooms": ["!726s6s6q:example.com"],
                              "not_senders": ["@spam:example.com"]},
            },
            "presence": {"types": ["m.presence"], "not_senders": ["@alice:example.com"]},
            "event_format": "client",
            "event_fields": ["type", "content", "sender"],
        })
        validate_filter({})
        validate_filter({"unknown_key": 1, "room": {"timeline": {"unknown": True}}})  # unknown keys ignored

    def test_wrong_types_name_the_field(self) -> None:
        self.assert_refused({"room": {"timeline": {"limit": "ten"}}}, "M_BAD_JSON", "room.timeline.limit")
        self.assert_refused({"presence": {"types": "m.presence"}}, "M_BAD_JSON", "presence.types")
        self.assert_refused({"presence": {"types": [1]}}, "M_BAD_JSON", "presence.types.0")
        self.assert_refused({"room": {"include_leave": "yes"}}, "M_BAD_JSON", "room.include_leave")
        self.assert_refused({"room": {"state": {"lazy_load_members": 1}}}, "M_BAD_JSON",
                            "room.state.lazy_load_members")
        self.assert_refused({"room": {"timeline": {"contains_url": "true"}}}, "M_BAD_JSON",
                            "room.timeline.contains_url")
        self.assert_refused({"room": []}, "M_BAD_JSON", "room")
        self.assert_refused({"event_fields": "type"}, "M_BAD_JSON", "event_fields")
        self.assert_refused({"room": {"timeline": {"limit": True}}}, "M_BAD_JSON", "room.timeline.limit")

    def test_bad_values_name_the_field(self) -> None:
        self.assert_refused({"room": {"timeline": {"limit": 0}}}, "M_INVALID_PARAM", "room.timeline.limit")
        self.assert_refused({"event_format": "xml"}, "M_INVALID_PARAM", "event_format")
        self.assert_refused({"room": {"rooms": ["not-a-room"]}}, "M_INVALID_PARAM", "room.rooms.0")
        self.assert_refused({"presence": {"senders": ["alice"]}}, "M_INVALID_PARAM", "presence.senders.0")

    def test_room_event_filter_validation(self) -> None:
        validate_room_event_filter({"types": ["m.room.message"], "lazy_load_members": True, "limit": 5})
        self.assert_refused({"limit": "ten"}, "M_BAD_JSON", "filter.limit", validate_room_event_filter)
        self.assert_refused({"not_senders": "@a:b"}, "M_BAD_JSON", "filter.not_senders",
                            validate_room_event_filter)

    def test_filter_param(self) -> None:
        self.assertEqual(parse_filter_param("0"), "0")
        self.assertEqual(parse_filter_param("abc"), "abc")
        self.assertEqual(parse_filter_param('{"room": {"timeline": {"limit": 3}}}'),
                         {"room": {"timeline": {"limit": 3}}})
        self.assertEqual(parse_filter_param(' {}'), {})
        for raw, errcode in (("{nope", "M_NOT_JSON"), ('{"room": {"timeline": {"limit": "ten"}}}', "M_BAD_JSON")):
            with self.assertRaises(MatrixError) as cm:
                parse_filter_param(raw)
            self.assertEqual((cm.exception.code, cm.exception.errcode), (400, errcode))


class EventFilterTest(unittest.SynchronousTestCase):
    def test_empty_filter_matches_everything(self) -> None:
        f = EventFilter({})
        self.assertTrue(f.matches(ev()))
        self.assertTrue(f.matches(ev(type="anything", sender="@x:y")))
        self.assertIsNone(f.limit)
        self.assertEqual(f.limit_or(10), 10)

    def test_types_with_wildcards(self) -> None:
        f = EventFilter({"types": ["m.room.*", "m.presence"]})
        self.assertTrue(f.matches(ev(type="m.room.message")))
        self.assertTrue(f.matches(ev(type="m.room.")))
        self.assertTrue(f.matches(ev(type="m.presence")))
        self.assertFalse(f.matches(ev(type="m.presence.x")))
        self.assertFalse(f.matches(ev(type="m.roomx")))
        self.assertFalse(f.matches(ev(type="org.m.room.message")))
        # '*' in the middle, and regex characters taken literally.
        f = EventFilter({"types": ["a*c", "x.y"]})
        self.assertTrue(f.matches(ev(type="abbbc")))
        self.assertTrue(f.matches(ev(type="ac")))
        self.assertFalse(f.matches(ev(type="abcd")))
        self.assertFalse(f.matches(ev(type="xzy")))
        self.assertTrue(EventFilter({"types": ["*"]}).matches(ev(type="whatever")))
        self.assertFalse(EventFilter({"types": []}).matches(ev()))  # an empty list includes nothing

    def test_not_types_win(self) -> None:
        f = EventFilter({"types": ["m.room.*"], "not_types": ["m.room.member", "m.room.power*"]})
        self.assertTrue(f.matches(ev(type="m.room.message")))
        self.assertFalse(f.matches(ev(type="m.room.member")))
        self.assertFalse(f.matches(ev(type="m.room.power_levels")))
        self.assertFalse(EventFilter({"not_types": ["*"]}).matches(ev()))

    def test_senders(self) -> None:
        f = EventFilter({"senders": ["@alice:x.example", "@bob:x.example"], "not_senders": ["@bob:x.example"]})
        self.assertTrue(f.matches(ev(sender="@alice:x.example")))
        self.assertFalse(f.matches(ev(sender="@bob:x.example")))  # not_senders wins
        self.assertFalse(f.matches(ev(sender="@carol:x.example")))
        f = EventFilter({"not_senders": ["@spam:x.example"]})
        self.assertTrue(f.matches(ev(sender="@alice:x.example")))
        self.assertFalse(f.matches(ev(sender="@spam:x.example")))
        # Senders are not patterns.
        self.assertFalse(EventFilter({"senders": ["@*"]}).matches(ev()))

    def test_limit_and_filter(self) -> None:
        f = EventFilter({"types": ["m.presence"], "limit": 2})
        events = [ev(type="m.presence", sender=f"@u{i}:x") for i in range(4)] + [ev(type="m.other")]
        matched = f.filter(events)
        self.assertEqual(len(matched), 4)
        self.assertEqual(f.apply_limit(matched), matched[:2])
        self.assertEqual(EventFilter({}).apply_limit(matched, default=3), matched[:3])
        self.assertEqual(EventFilter({}).apply_limit(matched), matched)

    def test_lenient_on_unvalidated_input(self) -> None:
        f = EventFilter({"types": "m.room.message", "limit": "ten", "senders": [1, "@a:x"]})
        self.assertIsNone(f.limit)
        self.assertTrue(f.matches(ev(type="other", sender="@a:x")))  # a non-list types is absent
        self.assertFalse(f.matches(ev(sender="@b:x")))
        self.assertTrue(EventFilter(None).matches(ev()))


class RoomEventFilterTest(unittest.SynchronousTestCase):
    def test_defaults(self) -> None:
        f = RoomEventFilter({})
        self.assertFalse(f.lazy_load_members)
        self.assertFalse(f.include_redundant_members)
        self.assertFalse(f.unread_thread_notifications)
        self.assertIsNone(f.contains_url)
        self.assertTrue(f.matches(ev()))
        self.assertTrue(f.room_allowed("!any:x"))

    def test_switches(self) -> None:
        f = RoomEventFilter({"lazy_load_members": True, "include_redundant_members": True,
                             "unread_thread_notifications": True, "limit": 7})
        self.assertTrue(f.lazy_load_members)
        self.assertTrue(f.include_redundant_members)
        self.assertTrue(f.unread_thread_notifications)
        self.assertEqual(f.limit, 7)
        # include_redundant_members does not apply without lazy loading.
        self.assertFalse(RoomEventFilter({"include_redundant_members": True}).include_redundant_members)

    def test_rooms(self) -> None:
        f = RoomEventFilter({"rooms": [ROOM, "!b:x"], "not_rooms": ["!b:x"]})
        self.assertTrue(f.matches(ev(room_id=ROOM)))
        self.assertFalse(f.matches(ev(room_id="!b:x")))  # not_rooms wins
        self.assertFalse(f.matches(ev(room_id="!c:x")))
        self.assertTrue(f.room_allowed(ROOM))
        self.assertFalse(f.room_allowed("!b:x"))
        self.assertEqual(f.filter_room("!b:x", [ev(room_id="!b:x")]), [])
        # Events without a room ID (sync's ephemeral events) are left to room_allowed().
        self.assertTrue(f.matches({"type": "m.typing", "content": {}}))

    def test_contains_url(self) -> None:
        with_url = ev(content={"url": "mxc://x/y", "msgtype": "m.image"})
        without = ev(content={"body": "hi"})
        self.assertTrue(RoomEventFilter({"contains_url": True}).matches(with_url))
        self.assertFalse(RoomEventFilter({"contains_url": True}).matches(without))
        self.assertFalse(RoomEventFilter({"contains_url": False}).matches(with_url))
        self.assertTrue(RoomEventFilter({"contains_url": False}).matches(without))
        self.assertTrue(RoomEventFilter({}).matches(with_url))

    def test_event_objects(self) -> None:
        version = KNOWN_ROOM_VERSIONS["11"]
        event = Event({"type": "m.room.message", "sender": "@alice:x.example", "room_id": ROOM,
                       "content": {"url": "mxc://x/y"}, "origin_server_ts": 1, "depth": 1, "prev_events": [],
                       "auth_events": [], "hashes": {}, "signatures": {}}, version, "$e")
        self.assertTrue(RoomEventFilter({"types": ["m.room.*"], "contains_url": True, "rooms": [ROOM],
                                         "senders": ["@alice:x.example"]}).matches(event))
        self.assertFalse(RoomEventFilter({"not_rooms": [ROOM]}).matches(event))
        self.assertFalse(RoomEventFilter({"contains_url": False}).matches(event))

    def test_room_event_filter_helper(self) -> None:
        f = RoomEventFilter({"types": ["a"]})
        self.assertIs(room_event_filter(f), f)
        self.assertIsInstance(room_event_filter({"types": ["a"]}), RoomEventFilter)
        self.assertTrue(room_event_filter(None).matches(ev()))


class FilterTest(unittest.SynchronousTestCase):
    def test_defaults(self) -> None:
        f = Filter.from_dict({})
        self.assertEqual(f.event_format, "client")
        self.assertIsNone(f.event_fields)
        self.assertFalse(f.room.include_leave)
        self.assertTrue(f.room.room_allowed("!any:x"))
        for sub in (f.room.timeline, f.room.state, f.room.ephemeral, f.room.account_data):
            self.assertIsInstance(sub, RoomEventFilter)
            self.assertTrue(sub.matches(ev()))
            self.assertIsNone(sub.limit)
        self.assertTrue(f.presence.matches({"type": "m.presence", "sender": "@a:x", "content": {}}))
        self.assertTrue(f.account_data.matches({"type": "m.push_rules", "content": {}}))

    def test_whole_filter(self) -> None:
        raw = {
            "event_format": "federation", "event_fields": ["type", "content.body"],
            "presence": {"not_senders": ["@alice:x"]},
            "account_data": {"types": ["m.direct"]},
            "room": {"rooms": ["!a:x", "!b:x"], "not_rooms": ["!b:x"], "include_leave": True,
                     "timeline": {"limit": 5, "types": ["m.room.message"]},
                     "state": {"lazy_load_members": True},
                     "ephemeral": {"not_types": ["m.typing"]},
                     "account_data": {"types": ["m.fully_read"]}},
        }
        f = Filter.from_dict(raw, validate=True)
        self.assertEqual(f.to_dict(), raw)
        self.assertEqual(f.event_format, "federation")
        self.assertEqual(f.event_fields, ["type", "content.body"])
        self.assertFalse(f.presence.matches({"type": "m.presence", "sender": "@alice:x"}))
        self.assertTrue(f.presence.matches({"type": "m.presence", "sender": "@bob:x"}))
        self.assertTrue(f.account_data.matches({"type": "m.direct"}))
        self.assertFalse(f.account_data.matches({"type": "m.push_rules"}))
        self.assertTrue(f.room.include_leave)
        self.assertEqual(f.room.filter_room_ids(["!a:x", "!b:x", "!c:x"]), ["!a:x"])
        self.assertEqual(f.room.timeline.limit, 5)
        self.assertFalse(f.room.timeline.matches(ev(type="m.room.member")))
        self.assertTrue(f.room.state.lazy_load_members)
        self.assertFalse(f.room.ephemeral.matches({"type": "m.typing", "content": {}}))
        self.assertTrue(f.room.account_data.matches({"type": "m.fully_read", "content": {}}))

    def test_from_dict_validates_on_request(self) -> None:
        with self.assertRaises(MatrixError):
            Filter.from_dict({"room": {"timeline": {"limit": "ten"}}}, validate=True)
        self.assertIsNone(Filter.from_dict({"room": {"timeline": {"limit": "ten"}}}).room.timeline.limit)
        self.assertIsInstance(RoomFilter(None).timeline, RoomEventFilter)

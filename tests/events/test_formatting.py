"""event_fields paths (the spec's dot-separated property paths) and the federation format."""

from twisted.trial import unittest

from homeserver.events.formatting import EventFormatter, only_fields, split_field_path
from homeserver.events.model import Event
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS


class FieldPathTest(unittest.TestCase):
    def test_split(self) -> None:
        self.assertEqual(split_field_path("content.body"), ["content", "body"])
        self.assertEqual(split_field_path("type"), ["type"])
        # The spec's examples: an escaped dot, an escaped backslash.
        self.assertEqual(split_field_path("content.m\\.relates_to"), ["content", "m.relates_to"])
        self.assertEqual(split_field_path("content.m\\\\foo"), ["content", "m\\foo"])
        # Other escapes are kept as they are: a literal backslash and the character.
        self.assertEqual(split_field_path("content.a\\xb"), ["content", "a\\xb"])
        self.assertEqual(split_field_path("content.a\\"), ["content", "a\\"])
        self.assertEqual(split_field_path("a..b"), ["a", "", "b"])

    def test_only_fields(self) -> None:
        event = {"type": "m.room.message", "content": {"body": "hi", "m.relates_to": {"rel_type": "m.thread"},
                                                       "list": [1, 2]}, "sender": "@a:test"}
        paths = [split_field_path(p) for p in ("type", "content.m\\.relates_to.rel_type", "content.list.0",
                                               "content.missing", "sender.deeper")]
        self.assertEqual(only_fields(event, paths),
                         {"type": "m.room.message", "content": {"m.relates_to": {"rel_type": "m.thread"}}})
        # A whole object and a path into it: the whole object.
        both = only_fields(event, [["content"], ["content", "body"]])
        self.assertEqual(both, {"content": event["content"]})
        both["content"]["body"] = "changed"  # a copy: the event is untouched
        self.assertEqual(event["content"]["body"], "hi")
        self.assertEqual(only_fields(event, []), {})


class FormatterTest(unittest.TestCase):
    def test_federation_format_is_the_pdu(self) -> None:
        pdu = {"type": "m.room.message", "sender": "@a:test", "room_id": "!r:test", "content": {"body": "x"},
               "depth": 3, "origin_server_ts": 1, "prev_events": [], "auth_events": [], "hashes": {},
               "signatures": {}}
        event = Event(pdu, KNOWN_ROOM_VERSIONS["10"], "$e")
        client = {"event_id": "$e", "type": "m.room.message", "unsigned": {"age": 5}}
        out = EventFormatter("federation", None).format([event], [client])
        self.assertEqual(out, [{**pdu, "unsigned": {"age": 5}}])
        self.assertNotIn("unsigned", pdu)
        self.assertEqual(EventFormatter("client", None).format([event], [client]), [client])
        self.assertEqual(EventFormatter("client", ["event_id"]).format([event], [client]), [{"event_id": "$e"}])

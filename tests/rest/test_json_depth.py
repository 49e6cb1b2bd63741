"""JSON nested deeper than json_input.MAX_DEPTH is refused with 400 M_BAD_JSON wherever a client
hands the server JSON: request bodies, filter query parameters, pagination tokens."""

from __future__ import annotations

import json
from urllib.parse import quote

from twisted.trial import unittest
from unpaddedbase64 import encode_base64

from homeserver.util import json_input
from tests.server import HomeserverTestCase


def nested(levels: int, inner: str = "1") -> str:
    return "[" * levels + inner + "]" * levels


class JsonInputTest(unittest.TestCase):
    def test_depth(self) -> None:
        self.assertEqual(json_input.depth(1), 0)
        self.assertEqual(json_input.depth({"a": [1, {"b": []}]}), 4)
        self.assertEqual(json_input.depth(json.loads(nested(50))), 50)

    def test_limit(self) -> None:
        self.assertEqual(json_input.depth(json_input.loads(nested(json_input.MAX_DEPTH))), json_input.MAX_DEPTH)
        for levels in (json_input.MAX_DEPTH + 1, 10_000, 100_000):
            with self.assertRaises(json_input.JsonTooDeep):
                json_input.loads(nested(levels))
            with self.assertRaises(json_input.JsonTooDeep):
                json_input.loads(nested(levels).encode())

    def test_lone_surrogates(self) -> None:
        self.assertEqual(json_input.loads(r'{"a": "\ud83d\ude00", "\u00e9": "\\ud800"}'),
                         {"a": "\U0001f600", "\u00e9": "\\ud800"})  # a pair, and an escaped backslash
        for raw in (r'{"a": "\ud800"}', r'["x\uDC00y"]', r'{"\udbff": 1}', r'"\ude00\ud83d"'):
            with self.assertRaises(json_input.LoneSurrogate):
                json_input.loads(raw)
            with self.assertRaises(json_input.LoneSurrogate):
                json_input.loads(raw.encode())

    def test_many_brackets_but_shallow(self) -> None:
        wide = json.dumps([[i] for i in range(5000)])
        self.assertEqual(len(json_input.loads(wide)), 5000)

    def test_not_json(self) -> None:
        for raw in ("{", "NaN", b"\xff", "[Infinity]"):
            with self.assertRaises(ValueError):
                json_input.loads(raw)


class DeepJsonRequestTest(HomeserverTestCase):
    async def _room(self) -> tuple[str, str]:
        me = await self.register("alice")
        r = await self.post("/_matrix/client/v3/createRoom", {}, token=me["access_token"])
        return me["access_token"], r.json["room_id"]

    async def test_lone_surrogates_are_bad_json_and_change_nothing(self) -> None:
        # They used to reach the event's hash and answer 500; stored elsewhere (account data),
        # every later /sync of the user would have failed to encode.
        token, room_id = await self._room()
        for path in (f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/s1",
                     "/_matrix/client/v3/user/@alice:test/account_data/org.example"):
            await self.assert_rejected_without_change(
                "PUT", path, None, 400, "M_BAD_JSON", token=token, raw_body=b'{"body": "\\ud800"}')
        r = await self.request("PUT", f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/s2",
                               raw_body=b'{"msgtype": "m.text", "body": "\\ud83d\\ude00"}', token=token)
        self.assertEqual(r.code, 200, r.json)

    async def test_deep_bodies_are_bad_json_and_change_nothing(self) -> None:
        token, room_id = await self._room()
        for levels in (json_input.MAX_DEPTH + 1, 10_000):
            body = '{"msgtype": "m.text", "body": "x", "deep": ' + nested(levels) + "}"
            await self.assert_rejected_without_change(
                "PUT", f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/t{levels}", None, 400,
                "M_BAD_JSON", token=token, raw_body=body.encode())
            await self.assert_rejected_without_change(
                "POST", "/_matrix/client/v3/createRoom", None, 400, "M_BAD_JSON", token=token,
                raw_body=nested(levels).encode())
            await self.assert_rejected_without_change(
                "POST", "/_matrix/client/v3/login", None, 400, "M_BAD_JSON", raw_body=nested(levels).encode())

    async def test_content_below_the_limit_is_accepted(self) -> None:
        token, room_id = await self._room()
        body = '{"msgtype": "m.text", "body": "x", "deep": ' + nested(json_input.MAX_DEPTH - 2) + "}"
        r = await self.request("PUT", f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/ok", token=token,
                               raw_body=body.encode())
        self.assertEqual(r.code, 200, r.json)
        event = await self.get(f"/_matrix/client/v3/rooms/{room_id}/event/{r.json['event_id']}", token=token)
        self.assertEqual(json_input.depth(event.json["content"]["deep"]), json_input.MAX_DEPTH - 2)

    async def test_deep_filter_parameters(self) -> None:
        token, room_id = await self._room()
        deep = quote('{"types": ' + nested(2_000, '"x"') + "}")
        for path in (f"/_matrix/client/v3/rooms/{room_id}/messages?dir=b&filter={deep}",
                     f"/_matrix/client/v3/sync?filter={deep}"):
            self.assert_error(await self.get(path, token=token), 400, "M_BAD_JSON")
        send = await self.request("PUT", f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/1",
                                  {"msgtype": "m.text", "body": "hi"}, token=token)
        event_id = send.json["event_id"]
        r = await self.get(f"/_matrix/client/v3/rooms/{room_id}/context/{event_id}?filter={deep}", token=token)
        self.assert_error(r, 400, "M_BAD_JSON")

    async def test_deep_pagination_tokens(self) -> None:
        token, _ = await self._room()
        deep = encode_base64(nested(3_000).encode(), urlsafe=True)
        r = await self.post(f"/_matrix/client/v3/search?next_batch={deep}",
                            {"search_categories": {"room_events": {"search_term": "hi"}}}, token=token)
        self.assert_error(r, 400, "M_INVALID_PARAM")
        r = await self.get(f"/_matrix/client/v3/publicRooms?since={deep}", token=token)
        self.assert_error(r, 400, "M_INVALID_PARAM")

"""Integers from clients are range-checked before they reach the database (issue 12 item 12).

A number beyond 64 bits in a query parameter, a token or a body used to overflow a database
integer and answer 500. Every integer a client sends must fit the canonical JSON range
[-(2**53)+1, 2**53-1] (or the endpoint's own narrower range), else 400."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from twisted.trial import unittest

from homeserver.api.errors import MatrixError
from homeserver.api.numbers import MAX_SAFE_INTEGER, is_safe_integer, parse_decimal, parse_position
from homeserver.util import json_input
from tests.rest.test_rooms import V3, RoomsTestCase

V1 = "/_matrix/client/v1"
# Beyond int64, beyond canonical JSON, not decimal ASCII.
HUGE = ["9223372036854775808", "-9223372036854775809", "18446744073709551616", "9007199254740992",
        "1" * 400, "1e3", "12.5", "+5", " 5", "1_000", "\u0661\u0662"]
INVALID = ("M_INVALID_PARAM", "M_BAD_JSON")


class NumbersTest(unittest.TestCase):
    def test_parse_decimal(self) -> None:
        self.assertEqual(parse_decimal(str(MAX_SAFE_INTEGER), "x"), MAX_SAFE_INTEGER)
        self.assertEqual(parse_decimal("-5", "x"), -5)
        for text in HUGE:
            self.assertRaises(MatrixError, parse_decimal, text, "x")
        self.assertRaises(MatrixError, parse_decimal, "0", "x", minimum=1)
        self.assertRaises(MatrixError, parse_decimal, "11", "x", maximum=10)

    def test_positions_and_safe_integers(self) -> None:
        self.assertEqual(parse_position("42"), 42)
        for text in [*HUGE, "-1", ""]:
            self.assertIsNone(parse_position(text))
        self.assertTrue(is_safe_integer(-MAX_SAFE_INTEGER))
        for value in (5.0, True, "5", None, 2**53, -(2**53)):
            self.assertFalse(is_safe_integer(value))

    def test_json_input_refuses_numbers_beyond_the_canonical_range(self) -> None:
        self.assertEqual(json_input.loads('{"a": 9007199254740991, "b": -9007199254740991, "c": 1.5}'),
                         {"a": MAX_SAFE_INTEGER, "b": -MAX_SAFE_INTEGER, "c": 1.5})
        for text in ("9007199254740992", "[-9007199254740992]", '{"ts": 9223372036854775808}', "1e400",
                     "-1e400", "1" * 5000, "NaN", "Infinity"):
            self.assertRaises(ValueError, json_input.loads, text)
        # What other servers send is judged by its room version, not refused here.
        self.assertEqual(json_input.loads("[9223372036854775808]", canonical_numbers=False), [2**63])


class IntegerRangeSweepTest(RoomsTestCase):
    config_overrides = {"url_preview_enabled": True, "url_preview_ip_range_blacklist": ["203.0.113.0/24"]}

    async def _set_up(self) -> None:
        await super()._set_up()
        await self.users()
        self.room_id = await self.create(self.alice)
        self.event_id = await self.send(self.alice, self.room_id, "hello", "t1")
        self.room = quote(self.room_id)
        self.event = quote(self.event_id)

    async def check_refused(self, method: str, path: str, body: Any = None, raw_body: bytes | None = None) -> None:
        r = await self.request(method, path, body, token=self.alice, raw_body=raw_body)
        self.assertEqual(r.code, 400, f"{method} {path} {raw_body or body!r}: {r.code} {r.json}")
        self.assertIn(r.json["errcode"], INVALID, f"{method} {path}: {r.json}")

    async def test_timestamp_to_event_with_a_huge_ts(self) -> None:
        r = await self.get(f"{V1}/rooms/{self.room}/timestamp_to_event?ts=9223372036854775808&dir=f",
                           token=self.alice)
        self.assert_error(r, 400, "M_INVALID_PARAM")
        r = await self.get(f"{V1}/rooms/{self.room}/timestamp_to_event?ts=-9223372036854775809&dir=b",
                           token=self.alice)
        self.assert_error(r, 400, "M_INVALID_PARAM")
        r = await self.get(f"{V1}/rooms/{self.room}/timestamp_to_event?ts={MAX_SAFE_INTEGER}&dir=b",
                           token=self.alice)
        self.assertEqual((r.code, r.json.get("event_id")), (200, self.event_id), r.json)

    async def test_query_parameters(self) -> None:
        room, event = self.room, self.event
        paths = [
            f"{V1}/rooms/{room}/timestamp_to_event?dir=f&ts={{}}",
            f"{V3}/rooms/{room}/messages?dir=b&limit={{}}",
            f"{V3}/rooms/{room}/messages?dir=b&from=s{{}}",
            f"{V3}/rooms/{room}/messages?dir=f&from=s1&to=s{{}}",
            f"{V3}/rooms/{room}/context/{event}?limit={{}}",
            f"{V1}/rooms/{room}/relations/{event}?limit={{}}",
            f"{V1}/rooms/{room}/relations/{event}?from=s{{}}",
            f"{V1}/rooms/{room}/relations/{event}?to=s{{}}",
            f"{V1}/rooms/{room}/threads?limit={{}}",
            f"{V1}/rooms/{room}/threads?from=s{{}}",
            f"{V1}/rooms/{room}/hierarchy?limit={{}}",
            f"{V1}/rooms/{room}/hierarchy?max_depth={{}}",
            f"{V3}/sync?timeout={{}}",
            f"{V3}/sync?since=s{{}}",
            f"{V3}/sync?since=s1_{{}}",
            f"{V3}/events?timeout={{}}",
            f"{V3}/events?from=s{{}}",
            f"{V3}/initialSync?limit={{}}",
            f"{V3}/publicRooms?limit={{}}",
            f"{V3}/notifications?limit={{}}",
            f"{V3}/notifications?from={{}}",
            f"{V3}/keys/changes?from=s{{}}&to=s1",
            f"{V3}/keys/changes?from=s1&to=s{{}}",
            "/_matrix/client/v1/media/download/test/abcdef?timeout_ms={}",
            "/_matrix/client/v1/media/thumbnail/test/abcdef?width={}&height=10",
            "/_matrix/client/v1/media/thumbnail/test/abcdef?width=10&height={}",
            "/_matrix/client/v1/media/preview_url?url=https%3A%2F%2Fexample.com&ts={}",
        ]
        for path in paths:
            for value in ("9223372036854775808", "-9223372036854775809", "9007199254740992", "1" * 400,
                          "\u0661", "1e3"):
                await self.check_refused("GET", path.format(quote(value)))

    async def test_path_segments_and_tokens(self) -> None:
        for value in ("9223372036854775808", "1" * 400, "\u0661"):
            r = await self.get(f"{V3}/user/@alice:test/filter/{quote(value)}", token=self.alice)
            self.assert_error(r, 404, "M_NOT_FOUND")
            r = await self.get(f"{V3}/room_keys/version/{quote(value)}", token=self.alice)
            self.assertIn(r.code, (400, 404), r.json)
            r = await self.get(f"{V3}/sync?filter={quote(value)}", token=self.alice)
            self.assertEqual(r.code, 400, r.json)
        await self.check_refused("POST", f"{V3}/search?next_batch=" + quote("x" * 50),
                                 {"search_categories": {"room_events": {"search_term": "hello"}}})

    async def test_body_integers(self) -> None:
        room = self.room
        huge = [9223372036854775808, -9223372036854775809, 2**53, 10**400]
        # (method, path, body with INT where the number goes)
        cases = [
            ("POST", f"{V3}/user_directory/search", {"search_term": "bob", "limit": "INT"}),
            ("POST", f"{V3}/publicRooms", {"limit": "INT"}),
            ("POST", f"{V3}/search", {"search_categories": {"room_events": {
                "search_term": "hello", "filter": {"limit": "INT"}}}}),
            ("POST", f"{V3}/search", {"search_categories": {"room_events": {
                "search_term": "hello", "event_context": {"before_limit": "INT"}}}}),
            ("POST", f"{V3}/search", {"search_categories": {"room_events": {
                "search_term": "hello", "event_context": {"after_limit": "INT"}}}}),
            ("POST", f"{V3}/user/@alice:test/filter", {"room": {"timeline": {"limit": "INT"}}}),
            ("PUT", f"{V3}/rooms/{room}/typing/@alice:test", {"typing": True, "timeout": "INT"}),
            ("POST", f"{V3}/keys/query", {"device_keys": {"@alice:test": []}, "timeout": "INT"}),
            ("POST", f"{V3}/keys/claim", {"one_time_keys": {}, "timeout": "INT"}),
            ("PUT", f"{V3}/rooms/{room}/state/m.room.power_levels", {"users_default": "INT"}),
            ("PUT", f"{V3}/rooms/{room}/send/m.room.message/t2", {"msgtype": "m.text", "body": "x", "n": "INT"}),
            ("POST", f"{V3}/createRoom", {"power_level_content_override": {"events_default": "INT"}}),
        ]
        for method, path, body in cases:
            text = json.dumps(body)
            for value in huge:
                await self.check_refused(method, path, raw_body=text.replace('"INT"', str(value)).encode())
        # A timeline limit in an inline /sync filter and a /messages filter.
        for value in huge:
            f = quote(json.dumps({"room": {"timeline": {"limit": "INT"}}}).replace('"INT"', str(value)))
            await self.check_refused("GET", f"{V3}/sync?filter={f}")
            f = quote(json.dumps({"limit": "INT"}).replace('"INT"', str(value)))
            await self.check_refused("GET", f"{V3}/rooms/{room}/messages?dir=b&filter={f}")

    async def test_floats_and_negatives_where_integers_are_needed(self) -> None:
        room = self.room
        cases = [
            ("POST", f"{V3}/user_directory/search", {"search_term": "bob", "limit": 5.5}),
            ("POST", f"{V3}/user_directory/search", {"search_term": "bob", "limit": 5.0}),
            ("POST", f"{V3}/user_directory/search", {"search_term": "bob", "limit": -1}),
            ("POST", f"{V3}/publicRooms", {"limit": 2.5}),
            ("POST", f"{V3}/publicRooms", {"limit": -1}),
            ("POST", f"{V3}/user/@alice:test/filter", {"room": {"timeline": {"limit": 10.0}}}),
            ("POST", f"{V3}/search", {"search_categories": {"room_events": {
                "search_term": "hello", "event_context": {"before_limit": 1.5}}}}),
            ("POST", f"{V3}/search", {"search_categories": {"room_events": {
                "search_term": "hello", "event_context": {"after_limit": -3}}}}),
            ("PUT", f"{V3}/rooms/{room}/typing/@alice:test", {"typing": True, "timeout": 1.5}),
            ("POST", f"{V3}/keys/claim", {"one_time_keys": {}, "timeout": 0.5}),
        ]
        for method, path, body in cases:
            await self.check_refused(method, path, body)
        for value in ("-1", "0"):
            await self.check_refused("GET", f"{V3}/rooms/{room}/messages?dir=b&limit=-1")
            await self.check_refused("GET", f"{V3}/publicRooms?limit=-1")
            await self.check_refused("GET", f"{V1}/rooms/{room}/hierarchy?limit={value}")
            await self.check_refused("GET", f"{V1}/rooms/{room}/hierarchy?max_depth=-1")

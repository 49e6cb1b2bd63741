"""An event over 64 KiB is refused (413 M_TOO_LARGE) before anything hashes, signs or
canonicalises it: canonical JSON and hashing cost time in the event's size, and a request body
may be far bigger than an event (max_request_body_size)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from twisted.trial import unittest

from homeserver.events import hashing, validation
from homeserver.events.validation import MAX_PDU_BYTES, EventTooLargeError, check_size_bound
from homeserver.handlers import events
from tests.rest.test_rooms import V3, RoomsTestCase


class BigEventTests(RoomsTestCase):
    def watch_encoding(self) -> list[int]:
        """The sizes of everything canonicalised or signed from now on."""
        sizes: list[int] = []
        encode, sign = hashing.encode_canonical_json, events.sign_event

        def recording_encode(obj: Any) -> bytes:
            out = encode(obj)
            sizes.append(len(out))
            return out

        def recording_sign(pdu: dict[str, Any], *args: Any) -> dict[str, Any]:
            sizes.append(-1)
            return sign(pdu, *args)

        self.patch(hashing, "encode_canonical_json", recording_encode)
        self.patch(validation, "encode_canonical_json", recording_encode)
        self.patch(events, "sign_event", recording_sign)
        return sizes

    async def test_refused_before_hashing_or_signing(self) -> None:
        await self.users()
        room_id = await self.create(self.alice)
        sizes = self.watch_encoding()
        for content in ({"msgtype": "m.text", "body": "x" * 900_000},
                        {"msgtype": "m.text", "body": "é" * 40_000},  # 80 KB in UTF-8, 40 K characters
                        {"msgtype": "m.text", "items": [{"k": i} for i in range(20_000)]}):
            r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/m.room.message/t{len(sizes)}",
                                   content, token=self.alice)
            self.assert_error(r, 413, "M_TOO_LARGE")
        self.assertNotIn(-1, sizes)  # none was signed
        self.assertTrue(all(size < 2 * MAX_PDU_BYTES for size in sizes), sizes)
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.topic/",
                               {"topic": "t" * 100_000}, token=self.alice)
        self.assert_error(r, 413, "M_TOO_LARGE")
        self.assertNotIn(-1, sizes)
        # escapes are not counted by the bound: refused by the exact check, after one encode
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/m.room.message/esc",
                               {"body": "\n" * 40_000}, token=self.alice)
        self.assert_error(r, 413, "M_TOO_LARGE")
        # a normal event still goes through
        await self.send(self.alice, room_id, "hello", "ok")
        self.assertIn(-1, sizes)

    async def test_create_room_with_huge_initial_state(self) -> None:
        await self.users()
        sizes = self.watch_encoding()
        r = await self.post(f"{V3}/createRoom", {"name": "n" * 200_000}, token=self.alice)
        self.assert_error(r, 413, "M_TOO_LARGE")
        self.assertTrue(all(size < 2 * MAX_PDU_BYTES for size in sizes), sizes)



class SizeBoundTests(unittest.TestCase):
    def test_bound_never_refuses_what_fits(self) -> None:
        from homeserver.events.hashing import encode_canonical_json

        for value in ({"a": "x" * 60_000}, {"n": list(range(10_000))}, {"é": "é" * 30_000},
                      {"nested": [[[{"k": None, "t": True, "f": False, "x": 1.5}]]] * 1000}):
            self.assertLessEqual(len(encode_canonical_json(value)), MAX_PDU_BYTES)
            check_size_bound(value)  # does not raise

    def test_stops_early(self) -> None:
        visited = []

        class Counting(dict):
            def items(self) -> Any:
                visited.append(1)
                return super().items()

        huge = [Counting(a="x" * 10) for _ in range(1_000_000)]
        with self.assertRaises(EventTooLargeError):
            check_size_bound({"content": huge})
        self.assertLess(len(visited), MAX_PDU_BYTES)


"""Big JSON answers are encoded in pieces on the CPU pool, byte for byte as json.dumps would."""

from __future__ import annotations

import json
from typing import Any

from twisted.trial import unittest

from homeserver.util import json_encoding
from homeserver.util.json_encoding import SPLIT_DEPTH, encode_in_pieces, encode_json, is_small
from tests.server import HomeserverTestCase


def reference(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sync_like(rooms: int, events: int) -> dict[str, Any]:
    def event(i: int) -> dict[str, Any]:
        return {"type": "m.room.message", "event_id": f"$e{i}", "sender": "@a:test", "origin_server_ts": i,
                "content": {"msgtype": "m.text", "body": f"héllo ✓ {i} \"quoted\" \n", "n": [1, 2.5, None, True]},
                "unsigned": {"age": 5}}

    return {"next_batch": "s1", "rooms": {"join": {
        f"!r{r}:test": {"timeline": {"events": [event(i) for i in range(events)], "limited": False},
                        "state": {"events": []}, "summary": {}}
        for r in range(rooms)}}, "presence": {"events": []}}


class PiecesTests(unittest.TestCase):
    def test_same_bytes_as_json_dumps(self) -> None:
        deep: Any = "leaf"
        for i in range(SPLIT_DEPTH + 3):
            deep = {f"k{i}": [deep, i, {}]}
        bodies = [
            {}, [], "x", 1, None, {"a": {}, "b": [], "c": [[]], "d": ""},
            {1: "int key", 2.5: "float key", False: "bool key", None: "none key", "é\u2028": "\u0000\U0001f600"},
            (1, (2, 3)), deep, sync_like(3, 50),
        ]
        for body in bodies:
            self.assertEqual(b"".join(encode_in_pieces(body)), reference(body), body)
            self.assertEqual(encode_json(body), reference(body))

    def test_chunks_are_bounded(self) -> None:
        chunks = encode_in_pieces(sync_like(10, 500))
        self.assertGreater(len(chunks), 10)
        # a chunk closes as soon as it reaches CHUNK_BYTES characters (at most 4 bytes each);
        # one event is the biggest piece here
        self.assertTrue(all(len(c) < 4 * (json_encoding.CHUNK_BYTES + 1000) for c in chunks))
        self.assertTrue(all(len(c) >= json_encoding.CHUNK_BYTES for c in chunks[:-1]))

    def test_is_small_stops_early(self) -> None:
        self.assertTrue(is_small(sync_like(1, 10)))
        self.assertFalse(is_small(sync_like(1, 1000)))
        self.assertFalse(is_small({"a": "x" * (json_encoding.SMALL_BYTES + 1)}))
        seen = []

        class Counting(dict):
            def items(self) -> Any:
                seen.append(1)
                return super().items()

        self.assertFalse(is_small([Counting(a=1) for _ in range(1_000_000)]))
        self.assertLessEqual(len(seen), json_encoding.SMALL_NODES)


class ResponseTests(HomeserverTestCase):
    async def test_big_answers_are_encoded_in_pieces_on_the_pool(self) -> None:
        me = await self.register("alice")
        token = me["access_token"]
        ran: list[str] = []
        run = self.hs.cpu_pool.run

        async def recording_run(fn: Any, *args: Any, **kwargs: Any) -> Any:
            ran.append(fn.__name__)
            return await run(fn, *args, **kwargs)

        self.patch(self.hs.cpu_pool, "run", recording_run)
        big = {"items": [{"n": i, "s": "é" * 10} for i in range(10_000)]}
        path = "/_matrix/client/v3/user/@alice:test/account_data/org.example.big"
        self.assertEqual((await self.request("PUT", path, big, token=token)).code, 200)
        self.assertNotIn("encode_in_pieces", ran)  # small answers are encoded on the spot
        r = await self.get(path, token=token)
        self.assertEqual((r.code, r.json), (200, big))
        self.assertEqual(r.body, reference(big))
        self.assertEqual(int(r.headers["content-length"]), len(r.body))
        self.assertEqual(ran, ["encode_in_pieces"])
        r = await self.get("/_matrix/client/v3/sync", token=token)
        self.assertEqual(r.code, 200)
        self.assertEqual(ran, ["encode_in_pieces"] * 2)
        self.assertIn(big, [e["content"] for e in r.json["account_data"]["events"]])

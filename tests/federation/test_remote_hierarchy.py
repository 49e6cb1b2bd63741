"""The client-server /hierarchy with children this server does not hold: asked of their `via`
servers over federation (a fake peer on an in-process network), checked, cached, filtered for
the user; servers that fail or answer garbage are skipped."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from signedjson.key import get_verify_key
from twisted.web import server

from homeserver.federation.discovery import SrvRecord
from homeserver.federation.hierarchy import parse_hierarchy_response
from tests.federation.network import InProcessNetwork
from tests.federation.test_client import FakePeer
from tests.outbound.fakes import StaticResolver, StaticSrvResolver
from tests.server import HomeserverTestCase

REMOTE = "remote.example"
V1 = "/_matrix/client/v1"
V3 = "/_matrix/client/v3"
R = "!r:remote.example"  # a remote space
R1 = "!r1:remote.example"  # its public child
R2 = "!r2:remote.example"  # its child nobody may reach
X = "!x:remote.example"  # a public room, first via dead
P = "!p:remote.example"  # invite-only
G = "!g:remote.example"  # its server answers garbage
Q = "!q:remote.example"  # restricted to our space
Z = "!z:remote.example"  # restricted to a room we do not know


def summary(room_id: str, **fields: Any) -> dict[str, Any]:
    return {"room_id": room_id, "num_joined_members": 3, "world_readable": False, "guest_can_join": False,
            "join_rule": "public", **fields}


def child(room_id: str, ts: int = 1, **content: Any) -> dict[str, Any]:
    return {"type": "m.space.child", "state_key": room_id, "content": {"via": [REMOTE], **content},
            "sender": "@x:remote.example", "origin_server_ts": ts}


class RemoteTestCase(HomeserverTestCase):
    config_overrides = {"ip_range_blacklist": ["10.0.0.0/8", "127.0.0.0/8"]}

    async def _set_up(self) -> None:
        await super()._set_up()
        network = InProcessNetwork()
        self.addCleanup(network.close)
        self.hs.outbound.connector = network
        self.hs.outbound.resolver = StaticResolver({"fed.remote.example": ["198.51.100.7"]})
        self.hs.srv_resolver = StaticSrvResolver({
            f"_matrix-fed._tcp.{REMOTE}": [SrvRecord(0, 0, 8448, "fed.remote.example")]})
        self.peer = FakePeer(REMOTE, get_verify_key(self.hs.signing_key), origin="test")
        network.listen("198.51.100.7", 8448, server.Site(self.peer))
        self.answer(R, {"room": summary(R, name="Remote space", room_type="m.space",
                                        children_state=[child(R1, 2), child(R2, 3), {"type": "m.space.child"}]),
                        "children": [summary(R1, name="Remote child"), {"room_id": 7}],
                        "inaccessible_children": [R2]})
        self.answer(X, {"room": summary(X, name="X", num_joined_members="many", world_readable="yes",
                                        unexpected={"a": 1}), "children": [], "inaccessible_children": []})
        self.answer(P, {"room": summary(P, join_rule="invite"), "children": [], "inaccessible_children": []})
        self.peer.answers[self.path(G)] = (200, b'"garbage"')
        self.token = (await self.register("alice"))["access_token"]

    def path(self, room_id: str) -> str:
        return f"/_matrix/federation/v1/hierarchy/{quote(room_id, safe='')}"

    def answer(self, room_id: str, body: dict) -> None:
        self.peer.answers[self.path(room_id)] = (200, json.dumps(body).encode())

    async def room(self, **body: Any) -> str:
        r = await self.post(f"{V3}/createRoom", {"preset": "public_chat", **body}, token=self.token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["room_id"]

    async def add_child(self, space: str, child_id: str, via: list[str], **content: Any) -> None:
        r = await self.request("PUT", f"{V3}/rooms/{quote(space)}/state/m.space.child/{quote(child_id)}",
                               {"via": via, **content}, token=self.token)
        self.assertEqual(r.code, 200, r.json)

    def asked(self) -> list[str]:
        return [r["uri"] for r in self.peer.requests]


class RemoteHierarchyTest(RemoteTestCase):
    async def test_remote_children(self) -> None:
        space = await self.room(name="Space", creation_content={"type": "m.space"})
        local = await self.room(name="Local")
        self.answer(Q, {"room": summary(Q, join_rule="restricted", allowed_room_ids=[space]), "children": [],
                        "inaccessible_children": []})
        self.answer(Z, {"room": summary(Z, join_rule="restricted", allowed_room_ids=["!other:far"]),
                        "children": [], "inaccessible_children": []})
        await self.add_child(space, local, ["test"], order="a")
        await self.add_child(space, R, [REMOTE], order="b")
        await self.add_child(space, X, ["dead.example:8448", REMOTE], order="c")
        await self.add_child(space, P, [REMOTE], order="d")
        await self.add_child(space, G, [REMOTE], order="e")
        await self.add_child(space, Q, [REMOTE], order="f")
        await self.add_child(space, Z, [REMOTE], order="g")

        r = await self.get(f"{V1}/rooms/{quote(space)}/hierarchy", token=self.token)
        self.assertEqual(r.code, 200, r.json)
        rooms = {e["room_id"]: e for e in r.json["rooms"]}
        self.assertEqual([e["room_id"] for e in r.json["rooms"]], [space, local, R, R1, X, Q])
        remote_space = rooms[R]
        self.assertEqual((remote_space["name"], remote_space["room_type"]), ("Remote space", "m.space"))
        # Its children as its server listed them (the malformed one dropped), in the spec's order.
        self.assertEqual([c["state_key"] for c in remote_space["children_state"]], [R1, R2])
        self.assertEqual(rooms[R1]["name"], "Remote child")
        self.assertEqual(rooms[R1]["children_state"], [])
        # Garbage in a summary does not reach the client.
        self.assertEqual((rooms[X]["num_joined_members"], rooms[X]["world_readable"]), (0, False))
        self.assertNotIn("unexpected", rooms[X])
        # R1 came with R's answer, R2 is inaccessible: neither was asked for; dead.example was
        # tried first for X and failed.
        asked = self.asked()
        self.assertEqual(sorted(asked), sorted(f"{self.path(x)}?suggested_only=false" for x in (R, X, P, G, Q, Z)))
        self.assertTrue(all(r["signed"] for r in self.peer.requests))
        self.assertIsNotNone(self.hs.federation_backoff.state("dead.example:8448"))

        # Cached: the same walk, paged, asks nobody again.
        seen = []
        r = await self.get(f"{V1}/rooms/{quote(space)}/hierarchy?limit=2", token=self.token)
        seen += [e["room_id"] for e in r.json["rooms"]]
        while "next_batch" in r.json:
            r = await self.get(f"{V1}/rooms/{quote(space)}/hierarchy?limit=2&from={r.json['next_batch']}",
                               token=self.token)
            self.assertEqual(r.code, 200, r.json)
            seen += [e["room_id"] for e in r.json["rooms"]]
        self.assertEqual(seen, [space, local, R, R1, X, Q])
        self.assertEqual(len(self.peer.requests), len(asked))

        # After the cache's lifetime, asked again.
        self.advance(301)
        await self.get(f"{V1}/rooms/{quote(space)}/hierarchy", token=self.token)
        self.assertGreater(len(self.peer.requests), len(asked))

    async def test_suggested_only_and_depth(self) -> None:
        space = await self.room(name="Space", creation_content={"type": "m.space"})
        await self.add_child(space, R, [REMOTE], suggested=True)
        r = await self.get(f"{V1}/rooms/{quote(space)}/hierarchy?suggested_only=true", token=self.token)
        self.assertEqual([e["room_id"] for e in r.json["rooms"]], [space, R])
        self.assertEqual(r.json["rooms"][1]["children_state"], [])  # none of R's children is suggested
        self.assertEqual(self.asked(), [f"{self.path(R)}?suggested_only=true"])
        r = await self.get(f"{V1}/rooms/{quote(space)}/hierarchy?max_depth=1", token=self.token)
        self.assertEqual([e["room_id"] for e in r.json["rooms"]], [space, R])
        self.assertEqual(r.json["rooms"][1]["children_state"], [])

    async def test_no_server_answers(self) -> None:
        space = await self.room(name="Space", creation_content={"type": "m.space"})
        await self.add_child(space, "!gone:nowhere.example", ["nowhere.example", "test"])
        self.peer.answers[self.path(R)] = (500, b'{"errcode": "M_UNKNOWN"}')
        await self.add_child(space, R, [REMOTE])
        r = await self.get(f"{V1}/rooms/{quote(space)}/hierarchy", token=self.token)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual([e["room_id"] for e in r.json["rooms"]], [space])
        self.assertEqual(len(r.json["rooms"][0]["children_state"]), 2)


class ParseHierarchyResponseTest(HomeserverTestCase):
    async def test_unusable_answers(self) -> None:
        for body in (None, [], "x", {}, {"room": "x"}, {"room": {"room_id": "!other:x"}},
                     {"room": {"room_id": 5}}, {"room": {"room_id": "not-a-room"}}):
            self.assertIsNone(parse_hierarchy_response("!r:x", body), body)
        answer = parse_hierarchy_response("!r:x", {"room": {"room_id": "!r:x"}, "children": "x",
                                                   "inaccessible_children": [1, "!a:x"]})
        self.assertEqual(answer, {"room": {"room_id": "!r:x", "world_readable": False, "guest_can_join": False,
                                           "num_joined_members": 0, "children_state": []},
                                  "children": [], "inaccessible_children": ["!a:x"]})


class RemoteRoomSummaryTest(RemoteTestCase):
    async def test_room_summary_of_a_room_we_do_not_hold(self) -> None:
        r = await self.get(f"{V1}/room_summary/{quote(X)}?via={REMOTE}", token=self.token)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual((r.json["room_id"], r.json["name"], r.json["join_rule"]), (X, "X", "public"))
        self.assertNotIn("children_state", r.json)
        self.assertNotIn("membership", r.json)
        # Without a token too: the room is public.
        r = await self.get(f"{V1}/room_summary/{quote(X)}?via={REMOTE}")
        self.assertEqual(r.code, 200, r.json)
        # Invite-only there: not shown; without via, or with only bad names: not asked.
        self.assert_error(await self.get(f"{V1}/room_summary/{quote(P)}?via={REMOTE}", token=self.token), 404,
                          "M_NOT_FOUND")
        before = len(self.peer.requests)
        self.assert_error(await self.get(f"{V1}/room_summary/{quote(R1)}", token=self.token), 404, "M_NOT_FOUND")
        r = await self.get(f"{V1}/room_summary/{quote(R1)}?via=bad_name!&via={REMOTE}", token=self.token)
        self.assert_error(r, 400, "M_INVALID_PARAM")
        self.assertEqual(len(self.peer.requests), before)
        self.assert_error(await self.get(f"{V1}/room_summary/{quote(G)}?via={REMOTE}", token=self.token), 404,
                          "M_NOT_FOUND")

"""Other servers' queries: /query/directory, /query/profile, unknown query types, /publicRooms
(GET and POST, only when allow_public_rooms_over_federation), /hierarchy."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.federation.support import FakeRemote
from tests.server import HomeserverTestCase

F = "/_matrix/federation/v1"
V3 = "/_matrix/client/v3"


class QueryTestCase(HomeserverTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.remote = FakeRemote(self)
        self.token = (await self.register("alice"))["access_token"]

    async def room(self, **body: Any) -> str:
        r = await self.post(f"{V3}/createRoom", {"preset": "public_chat", **body}, token=self.token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["room_id"]

    async def state(self, room_id: str, event_type: str, state_key: str, content: dict) -> None:
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/{event_type}/{quote(state_key)}", content,
                               token=self.token)
        self.assertEqual(r.code, 200, r.json)

    async def remote_join(self, room_id: str, localpart: str = "bob") -> None:
        user = self.remote.user(localpart)
        await self.remote.send_event(room_id, "m.room.member", {"membership": "join"}, user, user)


class DirectoryQueryTest(QueryTestCase):
    async def test_alias_of_ours(self) -> None:
        room_id = await self.room()
        r = await self.request("PUT", f"{V3}/directory/room/{quote('#lobby:test')}", {"room_id": room_id},
                               token=self.token)
        self.assertEqual(r.code, 200, r.json)
        path = f"{F}/query/directory?room_alias={quote('#lobby:test')}"
        r = await self.remote.request("GET", path)
        self.assertEqual((r.code, r.json), (200, {"room_id": room_id, "servers": ["test"]}))
        await self.remote_join(room_id)
        r = await self.remote.request("GET", path)
        self.assertEqual(r.json["servers"], ["test", self.remote.name])
        self.assert_error(await self.get(path), 401, "M_UNAUTHORIZED")

    async def test_errors(self) -> None:
        for alias in ("#nope:test", "#lobby:other.example", "#lobby:remote.test:8448"):
            r = await self.remote.request("GET", f"{F}/query/directory?room_alias={quote(alias)}")
            self.assert_error(r, 404, "M_NOT_FOUND")
        for alias in ("lobby:test", "#lobby", "#lobby:bad_server!", "#" + "x" * 300 + ":test"):
            r = await self.remote.request("GET", f"{F}/query/directory?room_alias={quote(alias)}")
            self.assert_error(r, 400, "M_INVALID_PARAM")
        self.assert_error(await self.remote.request("GET", f"{F}/query/directory"), 400, "M_MISSING_PARAM")

    async def test_unknown_query_type(self) -> None:
        self.assert_error(await self.remote.request("GET", f"{F}/query/nope?x=1"), 404, "M_UNRECOGNIZED")
        self.assert_error(await self.get(f"{F}/query/nope"), 401, "M_UNAUTHORIZED")


class ProfileQueryTest(QueryTestCase):
    async def test_profile(self) -> None:
        r = await self.request("PUT", f"{V3}/profile/{quote('@alice:test')}/displayname", {"displayname": "Alice"},
                               token=self.token)
        self.assertEqual(r.code, 200)
        r = await self.request("PUT", f"{V3}/profile/{quote('@alice:test')}/org.example.pet", {"org.example.pet": "cat"},
                               token=self.token)
        self.assertEqual(r.code, 200, r.json)
        q = f"{F}/query/profile?user_id={quote('@alice:test')}"
        r = await self.remote.request("GET", q)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["displayname"], "Alice")
        self.assertEqual(r.json["org.example.pet"], "cat")
        self.assertIsNone(r.json.get("avatar_url"))
        r = await self.remote.request("GET", q + "&field=displayname")
        self.assertEqual((r.code, r.json), (200, {"displayname": "Alice"}))
        r = await self.remote.request("GET", q + "&field=org.example.pet")
        self.assertEqual((r.code, r.json), (200, {"org.example.pet": "cat"}))
        self.assert_error(await self.remote.request("GET", q + "&field=avatar_url"), 404, "M_NOT_FOUND")
        self.assert_error(await self.remote.request("GET", q + "&field=m.tz"), 404, "M_NOT_FOUND")

    async def test_errors(self) -> None:
        q = f"{F}/query/profile?user_id="
        for user in ("@nobody:test", "@bob:remote.test:8448", "@alice:other.example"):
            self.assert_error(await self.remote.request("GET", q + quote(user)), 404, "M_NOT_FOUND")
        for user in ("alice", "@alice", "@:test", "@alice:bad_server!"):
            self.assert_error(await self.remote.request("GET", q + quote(user)), 400, "M_INVALID_PARAM")
        for field in ("Bad Field", "x" * 300, "", "nodots"):
            r = await self.remote.request("GET", q + quote("@alice:test") + "&field=" + quote(field))
            self.assert_error(r, 400, "M_INVALID_PARAM")
        self.assert_error(await self.remote.request("GET", f"{F}/query/profile"), 400, "M_MISSING_PARAM")


class ProfileLookupOffTest(QueryTestCase):
    config_overrides = {"allow_profile_lookup_over_federation": False}

    async def test_forbidden(self) -> None:
        r = await self.remote.request("GET", f"{F}/query/profile?user_id={quote('@alice:test')}")
        self.assert_error(r, 403, "M_FORBIDDEN")


class PublicRoomsOffTest(QueryTestCase):
    async def test_forbidden_by_default(self) -> None:
        await self.room(visibility="public", name="Lobby")
        self.assert_error(await self.remote.request("GET", f"{F}/publicRooms"), 403, "M_FORBIDDEN")
        self.assert_error(await self.remote.request("POST", f"{F}/publicRooms", {}), 403, "M_FORBIDDEN")
        # Refused before its body is looked at.
        r = await self.remote.request("POST", f"{F}/publicRooms", {"limit": "x"})
        self.assert_error(r, 403, "M_FORBIDDEN")
        self.assert_error(await self.remote.request("GET", f"{F}/publicRooms?limit=x"), 403, "M_FORBIDDEN")
        self.assert_error(await self.get(f"{F}/publicRooms"), 401, "M_UNAUTHORIZED")


class PublicRoomsTest(QueryTestCase):
    config_overrides = {"allow_public_rooms_over_federation": True}

    async def test_get_and_post(self) -> None:
        rooms = [await self.room(visibility="public", name=f"Room {i}", topic="cats" if i % 2 else "dogs")
                 for i in range(5)]
        await self.room(name="Unlisted")
        r = await self.remote.request("GET", f"{F}/publicRooms")
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(sorted(c["room_id"] for c in r.json["chunk"]), sorted(rooms))
        self.assertEqual(r.json["total_room_count_estimate"], 5)
        # limit 0 is no limit
        r = await self.remote.request("GET", f"{F}/publicRooms?limit=0")
        self.assertEqual(len(r.json["chunk"]), 5)

        r = await self.remote.request("GET", f"{F}/publicRooms?limit=2")
        seen = [c["room_id"] for c in r.json["chunk"]]
        while "next_batch" in r.json:
            r = await self.remote.request("GET", f"{F}/publicRooms?limit=2&since={quote(r.json['next_batch'])}")
            self.assertEqual(r.code, 200, r.json)
            seen += [c["room_id"] for c in r.json["chunk"]]
        self.assertEqual(sorted(seen), sorted(rooms))

        r = await self.remote.request("POST", f"{F}/publicRooms", {"filter": {"generic_search_term": "CATS"}})
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(sorted(c["room_id"] for c in r.json["chunk"]), sorted(rooms[1::2]))
        r = await self.remote.request("POST", f"{F}/publicRooms", {"limit": 1, "include_all_networks": True})
        self.assertEqual(len(r.json["chunk"]), 1)
        self.assertIn("next_batch", r.json)
        r = await self.remote.request("POST", f"{F}/publicRooms", {"third_party_instance_id": "irc"})
        self.assertEqual(r.json, {"chunk": [], "total_room_count_estimate": 0})
        r = await self.remote.request("GET", f"{F}/publicRooms?third_party_instance_id=irc")
        self.assertEqual(r.json["chunk"], [])
        r = await self.remote.request("GET", f"{F}/publicRooms?third_party_instance_id=irc&include_all_networks=true")
        self.assertEqual(len(r.json["chunk"]), 5)
        r = await self.remote.request("POST", f"{F}/publicRooms",
                                      {"filter": {"room_types": ["m.space"]}})
        self.assertEqual(r.json["chunk"], [])

    async def test_bad_input(self) -> None:
        for query in ("limit=-1", "limit=x", "since=garbage", f"limit={2**70}", "include_all_networks=maybe"):
            r = await self.remote.request("GET", f"{F}/publicRooms?{query}")
            self.assertEqual(r.code, 400, (query, r.json))
        for body in ({"limit": "x"}, {"since": 5}, {"filter": "x"}, {"filter": {"generic_search_term": 3}},
                     {"include_all_networks": "yes"}, {"since": "garbage"}, [1]):
            r = await self.remote.request("POST", f"{F}/publicRooms", body)
            self.assertEqual(r.code, 400, (body, r.json))


class HierarchyTest(QueryTestCase):
    async def child(self, space: str, child: str, **content: Any) -> None:
        await self.state(space, "m.space.child", child, {"via": ["test"], **content})

    async def test_hierarchy(self) -> None:
        space = await self.room(name="Space", creation_content={"type": "m.space"})
        sub = await self.room(name="Sub", creation_content={"type": "m.space"})
        public = await self.room(name="Public")
        private = await self.room(name="Private", preset="private_chat")
        restricted = await self.room(name="Restricted", initial_state=[{
            "type": "m.room.join_rules", "state_key": "",
            "content": {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": space}]}}])
        grandchild = await self.room(name="Grandchild")
        await self.child(space, sub, suggested=True, order="a")
        await self.child(space, public, order="b")
        await self.child(space, private, order="c")
        await self.child(space, restricted, order="d")
        await self.child(space, "!elsewhere:far.example")
        await self.child(space, "!bad:test", via="nope")  # invalid via: not a child
        await self.child(sub, grandchild)

        r = await self.remote.request("GET", f"{F}/hierarchy/{quote(space)}")
        self.assertEqual(r.code, 200, r.json)
        room = r.json["room"]
        self.assertEqual((room["room_id"], room["name"], room["room_type"]), (space, "Space", "m.space"))
        self.assertEqual([c["state_key"] for c in room["children_state"]],
                         [sub, public, private, restricted, "!elsewhere:far.example"])
        self.assertTrue(all("origin_server_ts" in c for c in room["children_state"]))
        # The server is in no room: the restricted room is hidden until it is in the space.
        self.assertEqual([c["room_id"] for c in r.json["children"]], [sub, public])
        self.assertEqual(sorted(r.json["inaccessible_children"]), sorted([private, restricted]))
        sub_entry = r.json["children"][0]
        self.assertEqual([c["state_key"] for c in sub_entry["children_state"]], [grandchild])
        self.assertEqual(sub_entry["room_version"], room["room_version"])

        await self.remote_join(space)
        r = await self.remote.request("GET", f"{F}/hierarchy/{quote(space)}")
        self.assertEqual([c["room_id"] for c in r.json["children"]], [sub, public, restricted])
        self.assertEqual(r.json["children"][2]["allowed_room_ids"], [space])
        self.assertEqual(r.json["inaccessible_children"], [private])

        r = await self.remote.request("GET", f"{F}/hierarchy/{quote(space)}?suggested_only=true")
        self.assertEqual([c["state_key"] for c in r.json["room"]["children_state"]], [sub])
        self.assertEqual([c["room_id"] for c in r.json["children"]], [sub])

        # A room that is no space: itself, no children.
        r = await self.remote.request("GET", f"{F}/hierarchy/{quote(public)}")
        self.assertEqual((r.code, r.json["room"]["children_state"], r.json["children"]), (200, [], []))

    async def test_not_visible_or_unknown(self) -> None:
        space = await self.room(name="Space", creation_content={"type": "m.space"}, preset="private_chat")
        self.assert_error(await self.remote.request("GET", f"{F}/hierarchy/{quote(space)}"), 404, "M_NOT_FOUND")
        await self.state(space, "m.room.join_rules", "", {"join_rule": "public"})
        await self.remote_join(space)
        await self.state(space, "m.room.join_rules", "", {"join_rule": "invite"})
        # Its user is joined: still visible to it.
        r = await self.remote.request("GET", f"{F}/hierarchy/{quote(space)}")
        self.assertEqual(r.code, 200, r.json)
        for room_id in ("!unknown:test", "not-a-room"):
            self.assert_error(await self.remote.request("GET", f"{F}/hierarchy/{quote(room_id)}"), 404, "M_NOT_FOUND")
        r = await self.remote.request("GET", f"{F}/hierarchy/{quote(space)}?suggested_only=perhaps")
        self.assert_error(r, 400, "M_INVALID_PARAM")
        self.assert_error(await self.get(f"{F}/hierarchy/{quote(space)}"), 401, "M_UNAUTHORIZED")

    async def test_world_readable_and_acl(self) -> None:
        space = await self.room(name="Space", creation_content={"type": "m.space"}, preset="private_chat")
        await self.state(space, "m.room.history_visibility", "", {"history_visibility": "world_readable"})
        r = await self.remote.request("GET", f"{F}/hierarchy/{quote(space)}")
        self.assertEqual((r.code, r.json["room"]["world_readable"]), (200, True))
        await self.state(space, "m.room.server_acl", "", {"allow": ["*"], "deny": ["remote.test"]})
        self.assert_error(await self.remote.request("GET", f"{F}/hierarchy/{quote(space)}"), 403, "M_FORBIDDEN")

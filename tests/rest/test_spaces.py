"""GET /rooms/{roomId}/hierarchy: the space tree, its order, visibility, depth and pagination."""

from typing import Any
from urllib.parse import quote, urlencode

from tests.rest.test_rooms import V3, RoomsTestCase

V1 = "/_matrix/client/v1"


class SpaceHierarchyTest(RoomsTestCase):
    async def space(self, token: str, name: str, **body: Any) -> str:
        body.setdefault("preset", "public_chat")
        return await self.create(token, name=name, creation_content={"type": "m.space"}, **body)

    async def room(self, token: str, name: str, **body: Any) -> str:
        body.setdefault("preset", "public_chat")
        return await self.create(token, name=name, **body)

    async def set_child(self, token: str, space: str, child: str, **content: Any) -> None:
        content.setdefault("via", ["test"])
        self.advance(1)  # distinct origin_server_ts
        r = await self.request("PUT", f"{V3}/rooms/{quote(space)}/state/m.space.child/{quote(child)}", content,
                               token=token)
        self.assertEqual(r.code, 200, r.json)

    async def hierarchy(self, token: str, room_id: str, code: int = 200, **params: Any) -> dict:
        query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
        path = f"{V1}/rooms/{quote(room_id)}/hierarchy" + (f"?{urlencode(query)}" if query else "")
        r = await self.get(path, token=token)
        self.assertEqual(r.code, code, r.json)
        return r.json

    @staticmethod
    def ids(body: dict) -> list[str]:
        return [room["room_id"] for room in body["rooms"]]

    async def test_nested_spaces_depth_first_in_spec_order(self) -> None:
        await self.users()
        root = await self.space(self.alice, "Root", topic="The root space", room_alias_name="root")
        a = await self.room(self.alice, "A")
        sub = await self.space(self.alice, "Sub")
        c = await self.room(self.alice, "C")
        d = await self.room(self.alice, "D")
        e = await self.room(self.alice, "E")
        await self.set_child(self.alice, root, a, order="b")
        await self.set_child(self.alice, root, sub, order="a")
        await self.set_child(self.alice, root, d)  # no order: after those with one, by timestamp
        await self.set_child(self.alice, sub, c)
        await self.set_child(self.alice, root, e, order="\x7f")  # invalid order: as if it had none
        await self.post(f"{V3}/rooms/{quote(a)}/join", {}, token=self.bob)

        body = await self.hierarchy(self.bob, root)
        self.assertEqual(self.ids(body), [root, sub, c, a, d, e])
        self.assertNotIn("next_batch", body)
        first = body["rooms"][0]
        self.assertEqual(first["name"], "Root")
        self.assertEqual(first["topic"], "The root space")
        self.assertEqual(first["canonical_alias"], "#root:test")
        self.assertEqual(first["room_type"], "m.space")
        self.assertEqual(first["join_rule"], "public")
        self.assertEqual(first["num_joined_members"], 1)
        self.assertIs(first["world_readable"], False)
        self.assertIs(first["guest_can_join"], False)
        self.assertEqual(first["room_version"], "12")
        self.assertNotIn("allowed_room_ids", first)
        self.assertEqual([ev["state_key"] for ev in first["children_state"]], [sub, a, d, e])
        child_event = first["children_state"][0]
        self.assertEqual(set(child_event), {"type", "state_key", "content", "sender", "origin_server_ts"})
        self.assertEqual((child_event["type"], child_event["sender"]), ("m.space.child", "@alice:test"))
        self.assertEqual(child_event["content"], {"via": ["test"], "order": "a"})
        self.assertIsInstance(child_event["origin_server_ts"], int)
        room_a = body["rooms"][3]
        self.assertEqual(room_a["num_joined_members"], 2)
        self.assertEqual(room_a["children_state"], [])  # not a space
        self.assertNotIn("room_type", room_a)

        # The unstable MSC2946 path answers the same.
        r = await self.get(f"/_matrix/client/unstable/org.matrix.msc2946/rooms/{quote(root)}/hierarchy",
                           token=self.bob)
        self.assertEqual((r.code, self.ids(r.json)), (200, self.ids(body)))

    async def test_ordering_follows_the_spec_example(self) -> None:
        await self.users()
        root = await self.space(self.alice, "Root")
        rooms = {name: await self.room(self.alice, name) for name in "abcde"}
        # The spec's example, in the order its timestamps have them: a, b, e, d, c.
        await self.set_child(self.alice, root, rooms["a"], order="aaaa")
        await self.set_child(self.alice, root, rooms["b"], order=" ")
        await self.set_child(self.alice, root, rooms["e"])
        await self.set_child(self.alice, root, rooms["d"])
        await self.set_child(self.alice, root, rooms["c"], order="first")
        body = await self.hierarchy(self.alice, root)
        self.assertEqual(self.ids(body)[1:], [rooms[n] for n in "baced"])

    async def test_children_without_via_are_not_children(self) -> None:
        await self.users()
        root = await self.space(self.alice, "Root")
        kept, no_via, empty_via, bad_via = [await self.room(self.alice, n) for n in ("k", "n", "e", "b")]
        await self.set_child(self.alice, root, kept)
        await self.set_child(self.alice, root, no_via, via=None)
        await self.set_child(self.alice, root, empty_via, via=[])
        await self.set_child(self.alice, root, bad_via, via=[42])
        # A child removed the spec's way: its content cleared.
        removed = await self.room(self.alice, "removed")
        await self.set_child(self.alice, root, removed)
        r = await self.request("PUT", f"{V3}/rooms/{quote(root)}/state/m.space.child/{quote(removed)}", {},
                               token=self.alice)
        self.assertEqual(r.code, 200)
        body = await self.hierarchy(self.alice, root)
        self.assertEqual(self.ids(body), [root, kept])
        self.assertEqual([ev["state_key"] for ev in body["rooms"][0]["children_state"]], [kept])

    async def test_suggested_only(self) -> None:
        await self.users()
        root = await self.space(self.alice, "Root")
        sub = await self.space(self.alice, "Sub")
        plain, suggested, deep_plain, deep_suggested = [await self.room(self.alice, n) for n in "pqrs"]
        await self.set_child(self.alice, root, plain)
        await self.set_child(self.alice, root, suggested, suggested=True)
        await self.set_child(self.alice, root, sub, suggested=True)
        await self.set_child(self.alice, sub, deep_plain, suggested="yes")  # not a boolean: not suggested
        await self.set_child(self.alice, sub, deep_suggested, suggested=True)
        body = await self.hierarchy(self.alice, root, suggested_only=True)
        self.assertEqual(self.ids(body), [root, suggested, sub, deep_suggested])
        self.assertEqual([ev["state_key"] for ev in body["rooms"][0]["children_state"]], [suggested, sub])
        body = await self.hierarchy(self.alice, root, suggested_only=False)
        self.assertEqual(self.ids(body), [root, plain, suggested, sub, deep_plain, deep_suggested])

    async def test_max_depth(self) -> None:
        await self.users()
        root = await self.space(self.alice, "Root")
        sub = await self.space(self.alice, "Sub")
        leaf = await self.room(self.alice, "Leaf")
        await self.set_child(self.alice, root, sub)
        await self.set_child(self.alice, sub, leaf)
        only_root = await self.hierarchy(self.alice, root, max_depth=0)
        self.assertEqual(self.ids(only_root), [root])
        self.assertEqual(only_root["rooms"][0]["children_state"], [])
        one = await self.hierarchy(self.alice, root, max_depth=1)
        self.assertEqual(self.ids(one), [root, sub])
        self.assertEqual(one["rooms"][1]["children_state"], [])  # at the maximum depth
        self.assertEqual(self.ids(await self.hierarchy(self.alice, root, max_depth=2)), [root, sub, leaf])
        r = await self.get(f"{V1}/rooms/{quote(root)}/hierarchy?max_depth=-1", token=self.alice)
        self.assert_error(r, 400, "M_INVALID_PARAM")
        r = await self.get(f"{V1}/rooms/{quote(root)}/hierarchy?limit=0", token=self.alice)
        self.assert_error(r, 400, "M_INVALID_PARAM")
        r = await self.get(f"{V1}/rooms/{quote(root)}/hierarchy?limit=many", token=self.alice)
        self.assert_error(r, 400, "M_INVALID_PARAM")

    async def test_pagination(self) -> None:
        await self.users()
        root = await self.space(self.alice, "Root")
        sub = await self.space(self.alice, "Sub")
        await self.set_child(self.alice, root, sub)
        children = []
        for name in ("one", "two", "three"):
            children.append(await self.room(self.alice, name))
            await self.set_child(self.alice, sub, children[-1])
        last = await self.room(self.alice, "last")
        await self.set_child(self.alice, root, last)
        everything = self.ids(await self.hierarchy(self.bob, root))
        self.assertEqual(everything, [root, sub, *children, last])

        seen: list[str] = []
        page = await self.hierarchy(self.bob, root, limit=2)
        pages = 1
        while True:
            self.assertLessEqual(len(page["rooms"]), 2)
            seen += self.ids(page)
            if "next_batch" not in page:
                break
            token = page["next_batch"]
            page = await self.hierarchy(self.bob, root, limit=2, **{"from": token})
            pages += 1
        self.assertEqual(seen, everything)
        self.assertEqual(pages, 3)

        first = await self.hierarchy(self.bob, root, limit=2)
        token = first["next_batch"]
        # The same token gives the same page again.
        again = await self.hierarchy(self.bob, root, limit=2, **{"from": token})
        self.assertEqual(self.ids(again), [children[0], children[1]])
        self.assertEqual(self.ids(await self.hierarchy(self.bob, root, limit=2, **{"from": token})), self.ids(again))
        # suggested_only and max_depth cannot change; the token is the requester's, for this room.
        for params in ({"suggested_only": True}, {"max_depth": 3}):
            await self.hierarchy(self.bob, root, 400, **{"from": token}, **params)
        await self.hierarchy(self.alice, root, 400, **{"from": token})
        await self.hierarchy(self.bob, sub, 400, **{"from": token})
        r = await self.get(f"{V1}/rooms/{quote(root)}/hierarchy?from=nonsense", token=self.bob)
        self.assert_error(r, 400, "M_INVALID_PARAM")
        # Tokens expire after a few minutes.
        self.advance(6 * 60)
        r = await self.get(f"{V1}/rooms/{quote(root)}/hierarchy?from={quote(token)}", token=self.bob)
        self.assert_error(r, 400, "M_INVALID_PARAM")

    async def test_rooms_the_user_may_not_see_are_left_out(self) -> None:
        await self.users()
        carol = (await self.register("carol"))["access_token"]
        root = await self.space(self.alice, "Root")
        public = await self.room(self.alice, "public")
        private = await self.room(self.alice, "private", preset="private_chat")
        invited = await self.room(self.alice, "invited", preset="private_chat")
        readable = await self.room(self.alice, "readable", preset="private_chat")
        knock = await self.room(self.alice, "knock", preset="private_chat")
        restricted = await self.room(self.alice, "restricted", preset="private_chat")
        private_space = await self.space(self.alice, "private space", preset="private_chat")
        hidden = await self.room(self.alice, "hidden under the private space")
        for child in (public, private, invited, readable, knock, restricted, private_space):
            await self.set_child(self.alice, root, child)
        await self.set_child(self.alice, private_space, hidden)
        await self.post(f"{V3}/rooms/{quote(invited)}/invite", {"user_id": "@bob:test"}, token=self.alice)
        await self.put_state(readable, "m.room.history_visibility", {"history_visibility": "world_readable"})
        await self.put_state(knock, "m.room.join_rules", {"join_rule": "knock"})
        await self.put_state(restricted, "m.room.join_rules", {
            "join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": root}]})
        await self.post(f"{V3}/rooms/{quote(root)}/join", {}, token=self.bob)

        body = await self.hierarchy(self.bob, root)
        self.assertEqual(self.ids(body), [root, public, invited, readable, knock, restricted])
        # The hidden rooms are still listed as the space's children.
        self.assertIn(private, [ev["state_key"] for ev in body["rooms"][0]["children_state"]])
        entry = next(room for room in body["rooms"] if room["room_id"] == restricted)
        self.assertEqual((entry["join_rule"], entry["allowed_room_ids"]), ("restricted", [root]))
        self.assertIs(next(r for r in body["rooms"] if r["room_id"] == readable)["world_readable"], True)

        # Carol is in none of the rooms: the restricted room is hidden from her too.
        body = await self.hierarchy(carol, root)
        self.assertEqual(self.ids(body), [root, public, readable, knock])
        # Alice, a member of everything, sees everything.
        body = await self.hierarchy(self.alice, root)
        self.assertEqual(self.ids(body), [root, public, private, invited, readable, knock, restricted,
                                          private_space, hidden])

    async def put_state(self, room_id: str, event_type: str, content: dict) -> None:
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/{event_type}/", content, token=self.alice)
        self.assertEqual(r.code, 200, r.json)

    async def test_root_the_user_may_not_see(self) -> None:
        await self.users()
        private = await self.space(self.alice, "Private", preset="private_chat")
        r = await self.get(f"{V1}/rooms/{quote(private)}/hierarchy", token=self.bob)
        self.assert_error(r, 403, "M_FORBIDDEN")
        r = await self.get(f"{V1}/rooms/{quote('!unknown:test')}/hierarchy", token=self.bob)
        self.assert_error(r, 403, "M_FORBIDDEN")
        r = await self.get(f"{V1}/rooms/not-a-room/hierarchy", token=self.bob)
        self.assert_error(r, 400, "M_INVALID_PARAM")
        r = await self.get(f"{V1}/rooms/{quote(private)}/hierarchy")
        self.assert_error(r, 401, "M_MISSING_TOKEN")
        # A user banned from a public space may not see it.
        public = await self.space(self.alice, "Public")
        await self.post(f"{V3}/rooms/{quote(public)}/join", {}, token=self.bob)
        self.assertEqual(self.ids(await self.hierarchy(self.bob, public)), [public])
        r = await self.post(f"{V3}/rooms/{quote(public)}/ban", {"user_id": "@bob:test"}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        r = await self.get(f"{V1}/rooms/{quote(public)}/hierarchy", token=self.bob)
        self.assert_error(r, 403, "M_FORBIDDEN")

    async def test_loops_and_remote_children(self) -> None:
        await self.users()
        root = await self.space(self.alice, "Root")
        sub = await self.space(self.alice, "Sub")
        await self.set_child(self.alice, root, sub)
        await self.set_child(self.alice, sub, root)  # a loop
        await self.set_child(self.alice, root, root)  # and a room that is its own child
        remote = "!elsewhere:remote.example"
        await self.set_child(self.alice, sub, remote, via=["remote.example"])
        body = await self.hierarchy(self.alice, root)
        self.assertEqual(self.ids(body), [root, sub])
        # The remote room (no federation yet) is not summarised but is still a child.
        self.assertIn(remote, [ev["state_key"] for ev in body["rooms"][1]["children_state"]])
        # Paginating a loop ends too.
        seen, token = [], None
        for _ in range(5):
            params = {"limit": 1, **({"from": token} if token else {})}
            page = await self.hierarchy(self.alice, root, **params)
            seen += self.ids(page)
            token = page.get("next_batch")
            if token is None:
                break
        self.assertEqual(seen, [root, sub])
        self.assertIsNone(token)

"""GET /_matrix/client/v1/room_summary/{roomIdOrAlias} (spec v1.15, MSC3266) and its unstable
paths, which matrix-js-sdk uses when /versions does not list the stable one: who may see which
room (members, knocking users, potential joiners of public, knock and restricted rooms, readers
of world-readable ones, anonymous requests), the requester's membership and the summary fields."""

from urllib.parse import quote

from tests.rest.test_old_sync import OldSyncTestCase

V1 = "/_matrix/client/v1"
V3 = "/_matrix/client/v3"
NHEKO = "/_matrix/client/unstable/im.nheko.summary"


class RoomSummaryVisibilityTest(OldSyncTestCase):
    async def summary(self, room: str, token: str | None = None, path: str = f"{V1}/room_summary/{{}}"):
        return await self.get(path.format(quote(room)), token=token)

    async def visible(self, room: str, token: str | None) -> bool:
        r = await self.summary(room, token)
        if r.code == 404:
            self.assert_error(r, 404, "M_NOT_FOUND")
            return False
        self.assertEqual((r.code, r.json["room_id"]), (200, room), r.json)
        return True

    async def setup_users(self) -> None:
        await self.users()
        self.carol = (await self.register("carol"))["access_token"]

    async def test_knock_room(self) -> None:
        await self.setup_users()
        room_id = await self.create(self.alice, initial_state=[
            {"type": "m.room.join_rules", "content": {"join_rule": "knock"}}])
        # Anyone may knock, so anyone may see it, with no access token too.
        self.assertTrue(await self.visible(room_id, None))
        r = await self.summary(room_id, self.bob)
        self.assertEqual((r.json["join_rule"], r.json.get("membership")), ("knock", None))
        # Bob knocks; then the room becomes invite-only: Bob, waiting on his knock, still sees it
        # (with membership knock); Carol, who never knocked, and anonymous requests no longer do.
        self.assertEqual((await self.post(f"{V3}/knock/{quote(room_id)}", {}, token=self.bob)).code, 200)
        await self.put_state(self.alice, room_id, "m.room.join_rules", {"join_rule": "invite"})
        r = await self.summary(room_id, self.bob)
        self.assertEqual((r.code, r.json["membership"], r.json["join_rule"]), (200, "knock", "invite"))
        self.assertFalse(await self.visible(room_id, self.carol))
        self.assertFalse(await self.visible(room_id, None))

    async def test_restricted_room(self) -> None:
        await self.setup_users()
        space = await self.create(self.alice, preset="private_chat", invite=["@bob:test"])
        self.assertEqual((await self.post(f"{V3}/rooms/{quote(space)}/join", {}, token=self.bob)).code, 200)
        room_id = await self.create(self.alice, preset="private_chat", initial_state=[
            {"type": "m.room.join_rules",
             "content": {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": space}]}}])
        # Bob may join it (he is in the allowed room): he sees it, with the rooms that allow him.
        r = await self.summary(room_id, self.bob)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual((r.json["join_rule"], r.json["allowed_room_ids"]), ("restricted", [space]))
        self.assertNotIn("membership", r.json)
        # Carol may not, nor may an anonymous request.
        self.assertFalse(await self.visible(room_id, self.carol))
        self.assertFalse(await self.visible(room_id, None))

    async def test_world_readable_and_public(self) -> None:
        await self.setup_users()
        readable = await self.create(self.alice, preset="private_chat", initial_state=[
            {"type": "m.room.history_visibility", "content": {"history_visibility": "world_readable"}}])
        public = await self.create(self.alice, preset="public_chat")
        private = await self.create(self.alice, preset="private_chat")
        for room in (readable, public):
            self.assertTrue(await self.visible(room, None))
            self.assertTrue(await self.visible(room, self.carol))
        self.assertEqual((await self.summary(readable, None)).json["world_readable"], True)
        self.assertFalse(await self.visible(private, None))
        self.assertFalse(await self.visible(private, self.carol))

    async def test_left_and_banned(self) -> None:
        await self.setup_users()
        public = await self.create(self.alice, preset="public_chat")
        private = await self.create(self.alice, preset="private_chat", invite=["@bob:test", "@carol:test"])
        for room in (public, private):
            self.assertEqual((await self.post(f"{V3}/rooms/{quote(room)}/join", {}, token=self.bob)).code, 200)
            r = await self.post(f"{V3}/rooms/{quote(room)}/ban", {"user_id": "@bob:test"}, token=self.alice)
            self.assertEqual(r.code, 200, r.json)
        self.assertEqual((await self.post(f"{V3}/rooms/{quote(private)}/join", {}, token=self.carol)).code, 200)
        self.assertEqual((await self.post(f"{V3}/rooms/{quote(private)}/leave", {}, token=self.carol)).code, 200)
        # A banned user sees what anyone sees, and learns that they are banned.
        r = await self.summary(public, self.bob)
        self.assertEqual((r.code, r.json["membership"]), (200, "ban"))
        self.assertFalse(await self.visible(private, self.bob))
        # Having left a private room, Carol no longer sees it; in a public room she would, as "leave".
        self.assertFalse(await self.visible(private, self.carol))
        self.assertEqual((await self.post(f"{V3}/rooms/{quote(public)}/join", {}, token=self.carol)).code, 200)
        self.assertEqual((await self.post(f"{V3}/rooms/{quote(public)}/leave", {}, token=self.carol)).code, 200)
        self.assertEqual((await self.summary(public, self.carol)).json["membership"], "leave")

    async def test_fields(self) -> None:
        await self.setup_users()
        space = await self.create(self.alice, preset="public_chat", name="Space", creation_content={"type": "m.space"},
                                  room_version="11")
        r = await self.summary(space, self.alice)
        self.assertEqual(r.json, {
            "room_id": space, "name": "Space", "num_joined_members": 1, "world_readable": False,
            "guest_can_join": False, "join_rule": "public", "room_type": "m.space", "room_version": "11",
            "membership": "join"})
        encrypted = await self.create(self.alice, preset="private_chat", invite=["@bob:test"], initial_state=[
            {"type": "m.room.encryption", "content": {"algorithm": "m.megolm.v1.aes-sha2"}},
            {"type": "m.room.avatar", "content": {"url": "mxc://test/avatar"}}])
        r = await self.summary(encrypted, self.bob)
        self.assertEqual({k: r.json.get(k) for k in ("encryption", "avatar_url", "membership", "join_rule",
                                                    "num_joined_members")},
                         {"encryption": "m.megolm.v1.aes-sha2", "avatar_url": "mxc://test/avatar",
                          "membership": "invite", "join_rule": "invite", "num_joined_members": 1})
        self.assertNotIn("allowed_room_ids", r.json)

    async def test_unstable_paths(self) -> None:
        await self.setup_users()
        room_id = await self.create(self.alice, preset="public_chat", name="Cheese", room_alias_name="cheese",
                                    initial_state=[{"type": "m.room.encryption",
                                                    "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
        stable = (await self.summary(room_id, self.bob)).json
        for path in (f"{NHEKO}/summary/{{}}", f"{NHEKO}/rooms/{{}}/summary"):
            for room in (room_id, "#cheese:test"):
                r = await self.summary(room, self.bob, path)
                self.assertEqual(r.code, 200, (path, r.json))
                # The stable fields, and the prefixed names of the proposal's first implementations.
                self.assertEqual(r.json, {**stable, "im.nheko.summary.room_version": stable["room_version"],
                                          "im.nheko.summary.encryption": "m.megolm.v1.aes-sha2"})
            self.assertEqual((await self.summary(room_id, None, path)).json["name"], "Cheese")
            self.assert_error(await self.summary("!nope:test", self.bob, path), 404, "M_NOT_FOUND")

    async def test_via_and_bad_input(self) -> None:
        await self.setup_users()
        room_id = await self.create(self.alice, preset="public_chat")
        r = await self.get(f"{V1}/room_summary/{quote(room_id)}?via=test&via=example.org:8448", token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        for via in ("bad name", "", "example.org:", "ex%FFample.org", "a/b"):
            r = await self.get(f"{V1}/room_summary/{quote(room_id)}?via={quote(via, safe='%')}", token=self.bob)
            self.assert_error(r, 400, "M_INVALID_PARAM")
        self.assert_error(await self.summary("cheese", self.bob), 400, "M_INVALID_PARAM")
        self.assert_error(await self.summary("!unknown:elsewhere", self.bob), 404, "M_NOT_FOUND")


class RoomSummaryGuestTest(OldSyncTestCase):
    config_overrides = {"allow_guest_access": True}

    async def test_guests_may_ask(self) -> None:
        alice = (await self.register("alice"))["access_token"]
        public = await self.create(alice, preset="public_chat")
        private = await self.create(alice, preset="private_chat")
        r = await self.post(f"{V3}/register?kind=guest", {})
        guest = r.json["access_token"]
        r = await self.get(f"{V1}/room_summary/{quote(public)}", token=guest)
        self.assertEqual((r.code, r.json["room_id"]), (200, public))
        self.assert_error(await self.get(f"{V1}/room_summary/{quote(private)}", token=guest), 404, "M_NOT_FOUND")

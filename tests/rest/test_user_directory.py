"""POST /user_directory/search: who can be found, matching, ranking, limits, and the index kept
up to date on joins, leaves, profile changes, room settings and deactivation."""

from urllib.parse import quote

from tests.rest.test_rooms import V3, RoomsTestCase

SEARCH = f"{V3}/user_directory/search"


class UserDirectoryTestCase(RoomsTestCase):
    async def setup_users(self) -> None:
        self.alice = (await self.register("alice"))["access_token"]
        self.bob = (await self.register("bob"))["access_token"]
        self.carol = (await self.register("carol"))["access_token"]
        self.dave = (await self.register("dave"))["access_token"]
        await self.set_name(self.bob, "@bob:test", "Bob Builder")
        await self.set_name(self.carol, "@carol:test", "Carol Alistair")

    async def set_name(self, token: str, user_id: str, name: str) -> None:
        r = await self.request("PUT", f"{V3}/profile/{quote(user_id)}/displayname", {"displayname": name},
                               token=token)
        self.assertEqual(r.code, 200, r.json)

    async def search(self, token: str, term: str, limit: int | None = None) -> dict:
        body = {"search_term": term} if limit is None else {"search_term": term, "limit": limit}
        r = await self.post(SEARCH, body, token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json

    async def found(self, token: str, term: str) -> list[str]:
        return [u["user_id"] for u in (await self.search(token, term))["results"]]

    async def join(self, token: str, room_id: str) -> None:
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=token)
        self.assertEqual(r.code, 200, r.json)


class VisibilityTest(UserDirectoryTestCase):
    async def test_shared_and_public_rooms_only(self) -> None:
        await self.setup_users()
        # Nobody shares a room yet: nobody can be found.
        self.assertEqual(await self.search(self.alice, "bob"), {"results": [], "limited": False})
        private = await self.create(self.alice, preset="private_chat", invite=["@bob:test"])
        await self.join(self.bob, private)
        public = await self.create(self.dave, preset="public_chat")
        await self.join(self.carol, public)
        self.assertEqual(await self.found(self.alice, "bob"), ["@bob:test"])  # shares a room
        self.assertEqual(await self.found(self.alice, "carol"), ["@carol:test"])  # in a public room
        self.assertEqual(await self.found(self.alice, "dave"), ["@dave:test"])  # in a public room
        # Carol (only in the public room) finds Alice? No: Alice is only in a private room.
        self.assertEqual(await self.found(self.carol, "alice"), [])
        # An invitation is not a shared room.
        await self.post(f"{V3}/rooms/{quote(private)}/invite", {"user_id": "@carol:test"}, token=self.alice)
        self.assertEqual(await self.found(self.carol, "alice"), [])

    async def test_world_readable_and_join_rule_changes(self) -> None:
        await self.setup_users()
        room = await self.create(self.dave, preset="private_chat")
        self.assertEqual(await self.found(self.alice, "dave"), [])
        r = await self.request("PUT", f"{V3}/rooms/{quote(room)}/state/m.room.history_visibility/",
                               {"history_visibility": "world_readable"}, token=self.dave)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.found(self.alice, "dave"), ["@dave:test"])
        await self.request("PUT", f"{V3}/rooms/{quote(room)}/state/m.room.history_visibility/",
                           {"history_visibility": "shared"}, token=self.dave)
        self.assertEqual(await self.found(self.alice, "dave"), [])
        await self.request("PUT", f"{V3}/rooms/{quote(room)}/state/m.room.join_rules/", {"join_rule": "public"},
                           token=self.dave)
        self.assertEqual(await self.found(self.alice, "dave"), ["@dave:test"])
        await self.request("PUT", f"{V3}/rooms/{quote(room)}/state/m.room.join_rules/", {"join_rule": "invite"},
                           token=self.dave)
        self.assertEqual(await self.found(self.alice, "dave"), [])


class MatchingTest(UserDirectoryTestCase):
    async def setup_shared(self) -> None:
        await self.setup_users()
        room = await self.create(self.alice, preset="public_chat")
        for token in (self.bob, self.carol, self.dave):
            await self.join(token, room)

    async def test_matches_localpart_name_and_full_id(self) -> None:
        await self.setup_shared()
        self.assertEqual(await self.found(self.alice, "BUILD"), ["@bob:test"])  # word of the name, any case
        self.assertEqual(await self.found(self.alice, "bob b"), ["@bob:test"])  # every word a prefix
        self.assertEqual(await self.found(self.alice, "bob x"), [])
        self.assertEqual(await self.found(self.alice, "uilder"), [])  # prefix of a word, not a substring
        self.assertEqual(await self.found(self.alice, "@carol:te"), ["@carol:test"])  # full user ID
        self.assertEqual(await self.found(self.alice, "@carol:test"), ["@carol:test"])
        self.assertEqual(await self.found(self.alice, "   "), [])
        r = await self.search(self.alice, "bob")
        self.assertEqual(r["results"], [{"user_id": "@bob:test", "display_name": "Bob Builder"}])

    async def test_ranking_exact_then_shared_then_prefix(self) -> None:
        await self.setup_users()
        # "ali" matches alice (localpart prefix) and carol (a word of her name): both visible to
        # dave, who shares a room only with carol.
        room = await self.create(self.dave, preset="private_chat", invite=["@carol:test"])
        await self.join(self.carol, room)
        public = await self.create(self.alice, preset="public_chat")
        self.assertTrue(public)
        self.assertEqual(await self.found(self.dave, "ali"), ["@carol:test", "@alice:test"])
        # An exact match outranks sharing a room.
        self.assertEqual(await self.found(self.dave, "alice"), ["@alice:test"])
        await self.set_name(self.dave, "@dave:test", "Alice")
        self.assertEqual(await self.found(self.carol, "alice"), ["@dave:test", "@alice:test"])

    async def test_limit_and_limited(self) -> None:
        await self.setup_shared()
        for name in ("alpha", "alpine", "alps"):
            await self.set_name((await self.register(name))["access_token"], f"@{name}:test", "Mountain")
            r = await self.post(f"{V3}/createRoom", {"preset": "public_chat"},
                                token=(await self.login(name))["access_token"])
            self.assertEqual(r.code, 200)
        r = await self.search(self.alice, "al", limit=2)
        self.assertEqual(len(r["results"]), 2)
        self.assertTrue(r["limited"])
        r = await self.search(self.alice, "mountain")
        self.assertEqual(len(r["results"]), 3)
        self.assertFalse(r["limited"])
        self.assertEqual(await self.search(self.alice, "al", limit=0), {"results": [], "limited": True})


class UpdatesTest(UserDirectoryTestCase):
    async def test_profile_changes_leave_and_deactivation(self) -> None:
        await self.setup_users()
        room = await self.create(self.alice, preset="private_chat", invite=["@bob:test"])
        await self.join(self.bob, room)
        await self.set_name(self.bob, "@bob:test", "Robert")
        self.assertEqual(await self.found(self.alice, "builder"), [])
        self.assertEqual(await self.found(self.alice, "rob"), ["@bob:test"])
        r = await self.request("PUT", f"{V3}/profile/@bob:test/avatar_url", {"avatar_url": "mxc://test/abc"},
                               token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual((await self.search(self.alice, "rob"))["results"],
                         [{"user_id": "@bob:test", "display_name": "Robert", "avatar_url": "mxc://test/abc"}])
        r = await self.request("DELETE", f"{V3}/profile/@bob:test/displayname", token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.found(self.alice, "rob"), [])
        self.assertEqual((await self.search(self.alice, "bob"))["results"],
                         [{"user_id": "@bob:test", "avatar_url": "mxc://test/abc"}])
        # Leaving the only shared room hides him.
        r = await self.post(f"{V3}/rooms/{quote(room)}/leave", {}, token=self.bob)
        self.assertEqual(r.code, 200)
        self.assertEqual(await self.found(self.alice, "bob"), [])

    async def test_deactivated_users_never_appear(self) -> None:
        await self.setup_users()
        room = await self.create(self.alice, preset="public_chat")
        await self.join(self.bob, room)
        self.assertEqual(await self.found(self.alice, "bob"), ["@bob:test"])
        r = await self.post(f"{V3}/account/deactivate",
                            {"auth": {"type": "m.login.password", "password": "password",
                                      "identifier": {"type": "m.id.user", "user": "bob"}}}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.found(self.alice, "bob"), [])
        self.assertEqual(await self.found(self.alice, "builder"), [])
        rows = await self.hs.database.execute("terms", "SELECT term FROM user_directory_terms WHERE user_id = ?",
                                              "@bob:test")
        self.assertEqual(rows, [])

    async def test_rebuild_indexes_existing_users(self) -> None:
        await self.setup_users()
        room = await self.create(self.alice, preset="public_chat")
        await self.join(self.bob, room)

        def wipe(txn) -> None:
            txn.execute("DELETE FROM user_directory_terms")
            txn.execute("DELETE FROM user_directory")
            txn.execute("INSERT INTO user_directory_rebuild (pending) VALUES (?)", (True,))

        await self.hs.database.run("wipe", wipe)
        self.assertEqual(await self.found(self.alice, "builder"), [])
        self.assertEqual(await self.hs.user_directory_store.rebuild_if_pending(), 4)
        self.assertEqual(await self.found(self.alice, "builder"), ["@bob:test"])
        self.assertEqual(await self.hs.user_directory_store.rebuild_if_pending(), 0)  # done once


class ErrorsTest(UserDirectoryTestCase):
    async def test_bad_requests(self) -> None:
        await self.setup_users()
        await self.assert_rejected_without_change("POST", SEARCH, {}, 400, "M_MISSING_PARAM", token=self.alice)
        await self.assert_rejected_without_change("POST", SEARCH, {"search_term": 5}, 400, "M_BAD_JSON",
                                                  token=self.alice)
        await self.assert_rejected_without_change("POST", SEARCH, {"search_term": "a", "limit": "5"}, 400,
                                                  "M_BAD_JSON", token=self.alice)
        await self.assert_rejected_without_change("POST", SEARCH, {"search_term": "a", "limit": -1}, 400,
                                                  "M_INVALID_PARAM", token=self.alice)
        await self.assert_rejected_without_change("POST", SEARCH, None, 400, "M_NOT_JSON", token=self.alice,
                                                  raw_body=b"{nope")
        await self.assert_rejected_without_change("POST", SEARCH, ["a"], 400, "M_BAD_JSON", token=self.alice)
        await self.assert_rejected_without_change("POST", SEARCH, {"search_term": "a"}, 401, "M_MISSING_TOKEN")


class SearchAllUsersTest(UserDirectoryTestCase):
    config_overrides = {"user_directory": {"search_all_users": True}}

    async def test_everyone_is_found(self) -> None:
        await self.setup_users()
        self.assertEqual(await self.found(self.alice, "dave"), ["@dave:test"])
        self.assertEqual(await self.found(self.alice, "carol"), ["@carol:test"])


class DisabledTest(UserDirectoryTestCase):
    config_overrides = {"user_directory": {"enabled": False, "search_all_users": True}}

    async def test_no_results(self) -> None:
        await self.setup_users()
        self.assertEqual(await self.search(self.alice, "dave"), {"results": [], "limited": False})

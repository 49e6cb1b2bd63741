"""Profiles (with propagation into member events) and account data (with /sync)."""

from urllib.parse import quote

from twisted.internet import defer

from tests.rest.test_rooms import V3, RoomsTestCase


class ProfileTest(RoomsTestCase):
    async def test_get_set_delete_and_propagate(self) -> None:
        await self.users()
        room_id = await self.create(self.alice)
        r = await self.get(f"{V3}/profile/@alice:test", token=self.bob)
        self.assertEqual(r.json, {"displayname": "alice"})
        r = await self.request("PUT", f"{V3}/profile/@alice:test/displayname", {"displayname": "Alice W."},
                               token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        r = await self.request("PUT", f"{V3}/profile/@alice:test/avatar_url", {"avatar_url": "mxc://test/abc"},
                               token=self.alice)
        self.assertEqual(r.code, 200)
        r = await self.request("PUT", f"{V3}/profile/@alice:test/m.tz", {"m.tz": "Europe/Paris"}, token=self.alice)
        self.assertEqual(r.code, 200)
        r = await self.get(f"{V3}/profile/@alice:test", token=self.bob)
        self.assertEqual(r.json, {"displayname": "Alice W.", "avatar_url": "mxc://test/abc", "m.tz": "Europe/Paris"})
        r = await self.get(f"{V3}/profile/@alice:test/displayname", token=self.bob)
        self.assertEqual(r.json, {"displayname": "Alice W."})
        # The room sees the new name through a new member event.
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/state/m.room.member/@alice:test", token=self.alice)
        self.assertEqual((r.json["displayname"], r.json["avatar_url"]), ("Alice W.", "mxc://test/abc"))
        r = await self.request("DELETE", f"{V3}/profile/@alice:test/m.tz", token=self.alice)
        self.assertEqual(r.code, 200)
        r = await self.get(f"{V3}/profile/@alice:test/m.tz", token=self.alice)
        self.assert_error(r, 404, "M_NOT_FOUND")

    async def test_refusals(self) -> None:
        await self.users()
        for path, body, code, errcode in (
            ("/profile/@alice:test/displayname", {"displayname": "x"}, 403, "M_FORBIDDEN"),
            ("/profile/@bob:test/avatar_url", {"avatar_url": "https://x"}, 400, "M_INVALID_PARAM"),
            ("/profile/@bob:test/displayname", {"displayname": 5}, 400, "M_INVALID_PARAM"),
            ("/profile/@bob:test/displayname", {}, 400, "M_MISSING_PARAM"),
            ("/profile/@bob:test/Bad-Key", {"Bad-Key": 1}, 400, "M_INVALID_PARAM"),
        ):
            await self.assert_rejected_without_change("PUT", V3 + path, body, code, errcode, token=self.bob)
        self.assert_error(await self.get(f"{V3}/profile/@nobody:test", token=self.bob), 404, "M_NOT_FOUND")


class ProfileWithoutTokenTest(RoomsTestCase):
    """The spec needs no access token to read a profile (issue 12 item 2)."""

    async def test_profile_and_fields_answer_without_a_token(self) -> None:
        await self.users()
        await self.request("PUT", f"{V3}/profile/@alice:test/m.tz", {"m.tz": "Europe/Paris"}, token=self.alice)
        await self.request("PUT", f"{V3}/profile/@alice:test/avatar_url", {"avatar_url": "mxc://test/a"},
                           token=self.alice)
        r = await self.get(f"{V3}/profile/@alice:test")
        self.assertEqual((r.code, r.json), (200, {"displayname": "alice", "avatar_url": "mxc://test/a",
                                                   "m.tz": "Europe/Paris"}))
        for field, value in (("displayname", "alice"), ("avatar_url", "mxc://test/a"), ("m.tz", "Europe/Paris")):
            r = await self.get(f"{V3}/profile/@alice:test/{field}")
            self.assertEqual((r.code, r.json), (200, {field: value}))
        self.assert_error(await self.get(f"{V3}/profile/@nobody:test"), 404, "M_NOT_FOUND")
        # A token that is sent must still be valid; writing still needs one.
        self.assert_error(await self.get(f"{V3}/profile/@alice:test", token="nope"), 401, "M_UNKNOWN_TOKEN")
        await self.assert_rejected_without_change("PUT", f"{V3}/profile/@alice:test/displayname",
                                                  {"displayname": "x"}, 401, "M_MISSING_TOKEN")


class ProfileRequiresAuthTest(RoomsTestCase):
    config_overrides = {"require_auth_for_profile_requests": True}

    async def test_token_required(self) -> None:
        await self.users()
        for path in ("/profile/@alice:test", "/profile/@alice:test/displayname", "/profile/@alice:test/avatar_url"):
            self.assert_error(await self.get(V3 + path), 401, "M_MISSING_TOKEN")
        r = await self.get(f"{V3}/profile/@alice:test/displayname", token=self.bob)
        self.assertEqual((r.code, r.json), (200, {"displayname": "alice"}))


class ProfileSharedRoomsTest(RoomsTestCase):
    config_overrides = {"limit_profile_requests_to_users_who_share_rooms": True}

    async def test_only_users_who_share_a_room(self) -> None:
        await self.users()
        carol = (await self.register("carol"))["access_token"]
        for path in ("/profile/@alice:test", "/profile/@alice:test/displayname"):
            self.assert_error(await self.get(V3 + path, token=self.bob), 403, "M_FORBIDDEN")
            self.assert_error(await self.get(V3 + path), 403, "M_FORBIDDEN")
        # Unknown users are not told apart from strangers.
        self.assert_error(await self.get(f"{V3}/profile/@nobody:test", token=self.bob), 403, "M_FORBIDDEN")
        # Everyone sees their own profile, even sharing no room.
        r = await self.get(f"{V3}/profile/@carol:test", token=carol)
        self.assertEqual((r.code, r.json), (200, {"displayname": "carol"}))
        room_id = await self.create(self.alice, preset="public_chat")
        self.assertEqual((await self.post(f"{V3}/join/{quote(room_id)}", {}, token=self.bob)).code, 200)
        r = await self.get(f"{V3}/profile/@alice:test/displayname", token=self.bob)
        self.assertEqual((r.code, r.json), (200, {"displayname": "alice"}))
        self.assert_error(await self.get(f"{V3}/profile/@alice:test", token=carol), 403, "M_FORBIDDEN")
        # Leaving the room ends it.
        self.assertEqual((await self.post(f"{V3}/rooms/{quote(room_id)}/leave", {}, token=self.bob)).code, 200)
        self.assert_error(await self.get(f"{V3}/profile/@alice:test", token=self.bob), 403, "M_FORBIDDEN")


class ProfileTooLargeTest(RoomsTestCase):
    config_overrides = {"max_request_body_size": 200_000}

    async def test_profile_limit(self) -> None:
        await self.users()
        await self.assert_rejected_without_change(
            "PUT", f"{V3}/profile/@bob:test/org.example.big", {"org.example.big": "x" * 70000}, 400,
            "M_PROFILE_TOO_LARGE", token=self.bob)


class AccountDataTest(RoomsTestCase):
    async def test_global_and_room_account_data_in_sync(self) -> None:
        await self.users()
        room_id = await self.create(self.alice)
        first = (await self.get(f"{V3}/sync", token=self.alice)).json
        r = await self.request("PUT", f"{V3}/user/@alice:test/account_data/m.direct", {"@bob:test": [room_id]},
                               token=self.alice)
        self.assertEqual(r.code, 200)
        r = await self.request("PUT", f"{V3}/user/@alice:test/rooms/{quote(room_id)}/account_data/org.example.note",
                               {"note": "hi"}, token=self.alice)
        self.assertEqual(r.code, 200)
        r = await self.get(f"{V3}/user/@alice:test/account_data/m.direct", token=self.alice)
        self.assertEqual(r.json, {"@bob:test": [room_id]})
        r = await self.get(f"{V3}/user/@alice:test/rooms/{quote(room_id)}/account_data/org.example.note",
                           token=self.alice)
        self.assertEqual(r.json, {"note": "hi"})
        delta = (await self.get(f"{V3}/sync?since={first['next_batch']}", token=self.alice)).json
        self.assertEqual(delta["account_data"]["events"], [{"type": "m.direct", "content": {"@bob:test": [room_id]}}])
        self.assertEqual(delta["rooms"]["join"][room_id]["account_data"]["events"],
                         [{"type": "org.example.note", "content": {"note": "hi"}}])
        # A waiting sync is woken by an account data change.
        waiting = defer.ensureDeferred(self.get(f"{V3}/sync?since={delta['next_batch']}&timeout=30000",
                                                token=self.alice))
        await self.pump_until(lambda: self.hs.notifier.waiter_count() == 1)
        self.assertFalse(waiting.called)
        await self.request("PUT", f"{V3}/user/@alice:test/account_data/m.ignored_user_list", {"ignored_users": {}},
                           token=self.alice)
        r = await waiting
        self.assertEqual(r.json["account_data"]["events"][0]["type"], "m.ignored_user_list")
        # A first sync has everything.
        full = (await self.get(f"{V3}/sync", token=self.alice)).json
        self.assertEqual({e["type"] for e in full["account_data"]["events"]},
                         {"m.direct", "m.ignored_user_list", "m.push_rules"})  # push rules: the defaults

    async def test_refusals(self) -> None:
        await self.users()
        room_id = await self.create(self.alice)
        for method, path, body, code, errcode in (
            ("PUT", "/user/@bob:test/account_data/x", {}, 403, "M_FORBIDDEN"),
            ("PUT", "/user/@alice:test/account_data/m.fully_read", {"event_id": "$x"}, 405, "M_BAD_JSON"),
            ("PUT", "/user/@alice:test/account_data/x", [1], 400, "M_BAD_JSON"),
            ("PUT", f"/user/@alice:test/rooms/{quote('!nope:test')}/account_data/x", {}, 404, "M_NOT_FOUND"),
        ):
            await self.assert_rejected_without_change(method, V3 + path, body, code, errcode, token=self.alice)
        r = await self.get(f"{V3}/user/@alice:test/account_data/never", token=self.alice)
        self.assert_error(r, 404, "M_NOT_FOUND")
        r = await self.get(f"{V3}/user/@bob:test/rooms/{quote(room_id)}/account_data/x", token=self.alice)
        self.assert_error(r, 403, "M_FORBIDDEN")


class TagsTest(RoomsTestCase):
    async def test_tags(self) -> None:
        await self.users()
        room_id = await self.create(self.alice)
        base = f"{V3}/user/@alice:test/rooms/{quote(room_id)}/tags"
        since = (await self.get(f"{V3}/sync", token=self.alice)).json["next_batch"]
        r = await self.request("PUT", f"{base}/m.favourite", {"order": 0.5}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        r = await self.request("PUT", f"{base}/u.work", {}, token=self.alice)
        self.assertEqual((await self.get(base, token=self.alice)).json,
                         {"tags": {"m.favourite": {"order": 0.5}, "u.work": {}}})
        delta = (await self.get(f"{V3}/sync?since={since}", token=self.alice)).json
        self.assertEqual(delta["rooms"]["join"][room_id]["account_data"]["events"],
                         [{"type": "m.tag", "content": {"tags": {"m.favourite": {"order": 0.5}, "u.work": {}}}}])
        r = await self.request("DELETE", f"{base}/u.work", token=self.alice)
        self.assertEqual((await self.get(base, token=self.alice)).json, {"tags": {"m.favourite": {"order": 0.5}}})
        await self.assert_rejected_without_change("PUT", f"{base}/x", {"order": "first"}, 400, "M_BAD_JSON",
                                                  token=self.alice)
        await self.assert_rejected_without_change("PUT", f"{base}/x", {}, 403, "M_FORBIDDEN", token=self.bob)
        self.assert_error(await self.get(base, token=self.bob), 403, "M_FORBIDDEN")

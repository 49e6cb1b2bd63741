"""/account/password, /account/deactivate, /account/3pid, /devices."""

from tests.server import HomeserverTestCase

WHOAMI = "/_matrix/client/v3/account/whoami"
PASSWORD = "/_matrix/client/v3/account/password"


def password_auth(session: str, password: str, user: str = "alice") -> dict:
    return {"type": "m.login.password", "session": session,
            "identifier": {"type": "m.id.user", "user": user}, "password": password}


class PasswordChangeTest(HomeserverTestCase):
    async def test_change_password_logs_out_other_devices(self) -> None:
        me = await self.register("alice", password="old")
        other = await self.login("alice", "old")
        first = await self.post(PASSWORD, {"new_password": "new"}, token=me["access_token"])
        self.assertEqual(first.code, 401)
        self.assertEqual(first.json["flows"], [{"stages": ["m.login.password"]}])
        wrong = await self.post(PASSWORD, {"new_password": "new", "auth": password_auth(first.json["session"], "x")},
                                token=me["access_token"])
        self.assert_error(wrong, 401, "M_FORBIDDEN")
        self.assertEqual(wrong.json["session"], first.json["session"])
        ok = await self.post(PASSWORD, {"new_password": "new", "auth": password_auth(first.json["session"], "old")},
                             token=me["access_token"])
        self.assertEqual(ok.code, 200, ok.json)
        self.assertEqual((await self.get(WHOAMI, token=me["access_token"])).code, 200)
        self.assert_error(await self.get(WHOAMI, token=other["access_token"]), 401, "M_UNKNOWN_TOKEN")
        r = await self.post("/_matrix/client/v3/login", {"type": "m.login.password", "user": "alice",
                                                         "password": "old"})
        self.assert_error(r, 403, "M_FORBIDDEN")
        await self.login("alice", "new")

    async def test_keep_devices(self) -> None:
        me = await self.register("alice", password="old")
        other = await self.login("alice", "old")
        first = await self.post(PASSWORD, {"new_password": "new", "logout_devices": False}, token=me["access_token"])
        ok = await self.post(PASSWORD, {"new_password": "new", "logout_devices": False,
                                        "auth": password_auth(first.json["session"], "old")},
                             token=me["access_token"])
        self.assertEqual(ok.code, 200)
        self.assertEqual((await self.get(WHOAMI, token=other["access_token"])).code, 200)

    async def test_cannot_authenticate_as_someone_else(self) -> None:
        me = await self.register("alice", password="pw")
        await self.register("bob", password="bobpw")
        first = await self.post(PASSWORD, {"new_password": "new"}, token=me["access_token"])
        before = await self.snapshot()
        r = await self.post(PASSWORD, {"new_password": "new", "auth": password_auth(first.json["session"],
                                                                                     "bobpw", user="bob")},
                            token=me["access_token"])
        self.assert_error(r, 401, "M_FORBIDDEN")
        self.assertEqual(await self.snapshot(), before)

    async def test_session_cannot_be_moved_to_another_operation(self) -> None:
        me = await self.register("alice", password="pw")
        first = await self.post(PASSWORD, {"new_password": "new"}, token=me["access_token"])
        await self.assert_rejected_without_change(
            "POST", "/_matrix/client/v3/account/deactivate", {"auth": password_auth(first.json["session"], "pw")},
            403, "M_FORBIDDEN", token=me["access_token"])

    async def test_missing_new_password(self) -> None:
        me = await self.register("alice", password="pw")
        await self.assert_rejected_without_change("POST", PASSWORD, {}, 400, "M_MISSING_PARAM",
                                                  token=me["access_token"])


class DeactivateTest(HomeserverTestCase):
    async def test_deactivate(self) -> None:
        me = await self.register("alice", password="pw")
        other = await self.login("alice", "pw")
        url = "/_matrix/client/v3/account/deactivate"
        first = await self.post(url, {}, token=me["access_token"])
        self.assertEqual(first.code, 401)
        r = await self.post(url, {"auth": password_auth(first.json["session"], "pw")}, token=me["access_token"])
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json, {"id_server_unbind_result": "no-support"})
        for token in (me["access_token"], other["access_token"]):
            self.assert_error(await self.get(WHOAMI, token=token), 401, "M_UNKNOWN_TOKEN")
        r = await self.post("/_matrix/client/v3/login", {"type": "m.login.password", "user": "alice",
                                                         "password": "pw"})
        self.assertEqual(r.code, 403)
        self.assertIn(r.json["errcode"], ("M_USER_DEACTIVATED", "M_FORBIDDEN"))
        r = await self.post("/_matrix/client/v3/register", {"username": "alice", "password": "pw"})
        self.assert_error(r, 400, "M_USER_IN_USE")
        r = await self.get("/_matrix/client/v3/register/available?username=alice")
        self.assert_error(r, 400, "M_USER_IN_USE")
        snap = await self.snapshot()
        self.assertEqual(snap["devices"], [])
        self.assertEqual(snap["access_tokens"], [])


class DeactivationCleanupTest(HomeserverTestCase):
    async def test_deactivation_leaves_rooms_declines_invites_and_drops_key_backups(self) -> None:
        alice = await self.register("alice", password="pw")
        bob = await self.register("bob")
        v3 = "/_matrix/client/v3"
        joined = (await self.post(f"{v3}/createRoom", {"preset": "public_chat"},
                                  token=bob["access_token"])).json["room_id"]
        r = await self.post(f"{v3}/join/{joined}", {}, token=alice["access_token"])
        self.assertEqual(r.code, 200, r.json)
        invited = (await self.post(f"{v3}/createRoom", {"invite": [alice["user_id"]]},
                                   token=bob["access_token"])).json["room_id"]
        backup = {"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": {"public_key": "abc"}}
        r = await self.post(f"{v3}/room_keys/version", backup, token=alice["access_token"])
        self.assertEqual(r.code, 200, r.json)

        url = f"{v3}/account/deactivate"
        first = await self.post(url, {}, token=alice["access_token"])
        r = await self.post(url, {"auth": password_auth(first.json["session"], "pw")}, token=alice["access_token"])
        self.assertEqual(r.code, 200, r.json)

        for room_id in (joined, invited):
            r = await self.get(f"{v3}/rooms/{room_id}/state/m.room.member/{alice['user_id']}",
                               token=bob["access_token"])
            self.assertEqual(r.json.get("membership"), "leave", room_id)
        self.assertIsNone(await self.hs.key_backup_store.get_current_version_number(alice["user_id"]))


class ThreepidTest(HomeserverTestCase):
    async def test_empty(self) -> None:
        me = await self.register("alice")
        r = await self.get("/_matrix/client/v3/account/3pid", token=me["access_token"])
        self.assertEqual(r.json, {"threepids": []})


class DevicesTest(HomeserverTestCase):
    async def test_list_get_rename(self) -> None:
        me = await self.register("alice", password="pw", initial_device_display_name="Phone")
        token = me["access_token"]
        await self.get(WHOAMI, token=token)
        r = await self.get("/_matrix/client/v3/devices", token=token)
        [device] = r.json["devices"]
        self.assertEqual(device["device_id"], me["device_id"])
        self.assertEqual(device["display_name"], "Phone")
        self.assertEqual(device["last_seen_ip"], "127.0.0.1")
        self.assertEqual(device["last_seen_ts"], int(self.fake_time.seconds() * 1000))

        r = await self.request("PUT", f"/_matrix/client/v3/devices/{me['device_id']}", {"display_name": "Tablet"},
                               token=token)
        self.assertEqual(r.code, 200)
        r = await self.get(f"/_matrix/client/v3/devices/{me['device_id']}", token=token)
        self.assertEqual(r.json["display_name"], "Tablet")

        self.assert_error(await self.get("/_matrix/client/v3/devices/NOPE", token=token), 404, "M_NOT_FOUND")
        await self.assert_rejected_without_change("PUT", "/_matrix/client/v3/devices/NOPE", {"display_name": "x"},
                                                  404, "M_NOT_FOUND", token=token)
        await self.assert_rejected_without_change("PUT", f"/_matrix/client/v3/devices/{me['device_id']}",
                                                  {"display_name": 5}, 400, "M_BAD_JSON", token=token)

    async def test_last_seen_is_written_to_the_database(self) -> None:
        me = await self.register("alice")
        await self.get(WHOAMI, token=me["access_token"])
        self.advance(6)  # the batch is flushed every 5 seconds, in the background
        for _ in range(500):  # let the flush's transaction finish: reactor turns, not sleeps
            rows = await self.hs.database.execute("t", "SELECT last_seen_ip FROM devices")
            if rows != [(None,)]:
                break
        self.assertEqual(rows, [("127.0.0.1",)])

    async def test_cannot_see_other_users_devices(self) -> None:
        alice = await self.register("alice")
        bob = await self.register("bob")
        r = await self.get(f"/_matrix/client/v3/devices/{bob['device_id']}", token=alice["access_token"])
        self.assert_error(r, 404, "M_NOT_FOUND")

    async def test_delete_device_with_uia(self) -> None:
        me = await self.register("alice", password="pw")
        other = await self.login("alice", "pw")
        url = f"/_matrix/client/v3/devices/{other['device_id']}"
        first = await self.request("DELETE", url, token=me["access_token"])
        self.assertEqual(first.code, 401)
        r = await self.request("DELETE", url, {"auth": password_auth(first.json["session"], "pw")},
                               token=me["access_token"])
        self.assertEqual(r.code, 200, r.json)
        self.assert_error(await self.get(WHOAMI, token=other["access_token"]), 401, "M_UNKNOWN_TOKEN")
        self.assert_error(await self.request("DELETE", url, token=me["access_token"]), 404, "M_NOT_FOUND")

    async def test_delete_devices(self) -> None:
        me = await self.register("alice", password="pw")
        a = await self.login("alice", "pw")
        b = await self.login("alice", "pw")
        body = {"devices": [a["device_id"], b["device_id"], "UNKNOWN"]}
        first = await self.post("/_matrix/client/v3/delete_devices", body, token=me["access_token"])
        self.assertEqual(first.code, 401)
        r = await self.post("/_matrix/client/v3/delete_devices",
                            dict(body, auth=password_auth(first.json["session"], "pw")), token=me["access_token"])
        self.assertEqual(r.code, 200, r.json)
        r = await self.get("/_matrix/client/v3/devices", token=me["access_token"])
        self.assertEqual([d["device_id"] for d in r.json["devices"]], [me["device_id"]])
        await self.assert_rejected_without_change("POST", "/_matrix/client/v3/delete_devices", {"devices": "x"},
                                                  400, "M_BAD_JSON", token=me["access_token"])


class UnauthenticatedAccountTest(HomeserverTestCase):
    async def test_password_change_without_access_token(self) -> None:
        me = await self.register("alice", password="old")
        first = await self.post(PASSWORD, {"new_password": "new"})
        self.assertEqual(first.code, 401)
        self.assertEqual(first.json["flows"], [{"stages": ["m.login.password"]}])
        r = await self.post(PASSWORD, {"new_password": "new", "auth": {"type": "m.login.password",
                                                                       "session": first.json["session"],
                                                                       "password": "old"}})
        self.assert_error(r, 401, "M_FORBIDDEN")  # no user named: nobody to check the password of
        r = await self.post(PASSWORD, {"new_password": "new", "auth": password_auth(first.json["session"], "old")})
        self.assertEqual(r.code, 200, r.json)
        self.assert_error(await self.get(WHOAMI, token=me["access_token"]), 401, "M_UNKNOWN_TOKEN")
        await self.login("alice", "new")

    async def test_deactivate_without_access_token(self) -> None:
        await self.register("alice", password="pw")
        url = "/_matrix/client/v3/account/deactivate"
        first = await self.post(url, {})
        r = await self.post(url, {"auth": password_auth(first.json["session"], "pw")})
        self.assertEqual(r.code, 200, r.json)
        r = await self.post("/_matrix/client/v3/login", {"type": "m.login.password", "user": "alice",
                                                         "password": "pw"})
        self.assertEqual(r.code, 403)

    async def test_invalid_token_is_still_rejected(self) -> None:
        await self.assert_rejected_without_change("POST", PASSWORD, {"new_password": "x"}, 401, "M_UNKNOWN_TOKEN",
                                                  token="bogus")

"""Admin API on users (Synapse's paths and shapes): listing, query, create/modify, deactivate,
reset password, admin flag, whois, joined rooms, devices, media, login as user, shadow-ban, lock
and suspend (enforced on every request)."""

from __future__ import annotations

from tests.rest.admin_support import AdminTestCase

V1 = "/_synapse/admin/v1"
V2 = "/_synapse/admin/v2"


class ListUsersTest(AdminTestCase):
    async def test_list_filter_order_page(self) -> None:
        await self.register("bob")
        await self.hs.users_store.set_profile_value("@bob:test", "displayname", "zed")
        await self.register("carol")
        r = await self.get(f"{V2}/users", token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual([u["name"] for u in r.json["users"]], ["@admin:test", "@alice:test", "@bob:test",
                                                                 "@carol:test"])
        self.assertEqual(r.json["total"], 4)
        self.assertNotIn("next_token", r.json)
        first = r.json["users"][0]
        for key in ("is_guest", "admin", "user_type", "deactivated", "erased", "shadow_banned", "displayname",
                    "avatar_url", "creation_ts", "locked", "last_seen_ts"):
            self.assertIn(key, first)
        self.assertIs(first["admin"], True)
        self.assertEqual(first["creation_ts"], 1_700_000_000_000)

        r = await self.get(f"{V2}/users?limit=2&from=1", token=self.admin)
        self.assertEqual([u["name"] for u in r.json["users"]], ["@alice:test", "@bob:test"])
        self.assertEqual((r.json["next_token"], r.json["total"]), ("3", 4))
        r = await self.get(f"{V2}/users?order_by=displayname&dir=b&limit=1", token=self.admin)
        self.assertEqual(r.json["users"][0]["name"], "@bob:test")  # "zed"
        r = await self.get(f"{V2}/users?name=zed", token=self.admin)
        self.assertEqual([u["name"] for u in r.json["users"]], ["@bob:test"])
        r = await self.get(f"{V2}/users?user_id=AR", token=self.admin)
        self.assertEqual([u["name"] for u in r.json["users"]], ["@carol:test"])
        r = await self.get(f"{V2}/users?admins=true", token=self.admin)
        self.assertEqual([u["name"] for u in r.json["users"]], ["@admin:test"])
        r = await self.get(f"{V2}/users?admins=false&user_id=%25", token=self.admin)
        self.assertEqual(r.json["users"], [])  # % is matched literally

    async def test_deactivated_and_locked_hidden_by_default(self) -> None:
        await self.register("bob")
        r = await self.post(f"{V1}/deactivate/@bob:test", {}, token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        r = await self.request("PUT", f"{V2}/users/@alice:test", {"locked": True}, token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        names = [u["name"] for u in (await self.get(f"{V2}/users", token=self.admin)).json["users"]]
        self.assertEqual(names, ["@admin:test"])
        r = await self.get(f"{V2}/users?deactivated=true&locked=true", token=self.admin)
        users = {u["name"]: u for u in r.json["users"]}
        self.assertTrue(users["@bob:test"]["deactivated"])
        self.assertTrue(users["@alice:test"]["locked"])

    async def test_bad_params_and_non_admin(self) -> None:
        await self.assert_admin_only("GET", f"{V2}/users")
        for query in ("order_by=password", "dir=x", "limit=-1", "from=x", "guests=maybe"):
            r = await self.get(f"{V2}/users?{query}", token=self.admin)
            self.assert_error(r, 400, "M_INVALID_PARAM")


class QueryAndModifyUserTest(AdminTestCase):
    async def test_query(self) -> None:
        r = await self.get(f"{V2}/users/@alice:test", token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual((r.json["name"], r.json["displayname"], r.json["admin"], r.json["threepids"]),
                         ("@alice:test", "alice", False, []))
        self.assert_error(await self.get(f"{V2}/users/@nobody:test", token=self.admin), 404, "M_NOT_FOUND")
        self.assert_error(await self.get(f"{V2}/users/@bob:elsewhere", token=self.admin), 400, "M_INVALID_PARAM")
        self.assert_error(await self.get(f"{V2}/users/bob", token=self.admin), 400, "M_INVALID_PARAM")
        await self.assert_admin_only("GET", f"{V2}/users/@alice:test")

    async def test_create_then_modify(self) -> None:
        r = await self.request("PUT", f"{V2}/users/@dave:test", {
            "password": "secret", "displayname": "Dave", "admin": True, "user_type": "bot",
            "avatar_url": "mxc://test/abc"}, token=self.admin)
        self.assertEqual(r.code, 201, r.json)
        self.assertEqual((r.json["displayname"], r.json["admin"], r.json["user_type"], r.json["avatar_url"]),
                         ("Dave", True, "bot", "mxc://test/abc"))
        dave = await self.login("dave", "secret")
        second = await self.login("dave", "secret")
        r = await self.request("PUT", f"{V2}/users/@dave:test", {"displayname": "David", "password": "other",
                                                                 "admin": False, "user_type": None},
                               token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual((r.json["displayname"], r.json["admin"], r.json["user_type"]), ("David", False, None))
        # The new password logged every device out (logout_devices defaults to true).
        for session in (dave, second):
            r = await self.get("/_matrix/client/v3/account/whoami", token=session["access_token"])
            self.assert_error(r, 401, "M_UNKNOWN_TOKEN")
        await self.login("dave", "other")
        r = await self.request("PUT", f"{V2}/users/@dave:test", {"avatar_url": ""}, token=self.admin)
        self.assertIsNone(r.json["avatar_url"])

    async def test_threepids_set_by_an_admin(self) -> None:
        path = f"{V2}/users/@alice:test"
        r = await self.request("PUT", path, {"threepids": [{"medium": "email", "address": "Alice@Example.org"}]},
                               token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual([(t["medium"], t["address"]) for t in r.json["threepids"]], [("email", "alice@example.org")])
        self.assertIn("validated_at", r.json["threepids"][0])
        # The account can now log in with it (m.id.thirdparty) and lists it.
        r = await self.post("/_matrix/client/v3/login", {"type": "m.login.password", "password": "password",
                                                         "identifier": {"type": "m.id.thirdparty", "medium": "email",
                                                                        "address": "alice@example.org"}})
        self.assertEqual((r.code, r.json.get("user_id")), (200, "@alice:test"))
        r = await self.get("/_matrix/client/v3/account/3pid", token=self.alice)
        self.assertEqual([t["address"] for t in r.json["threepids"]], ["alice@example.org"])
        # Another account may not take it; a new user is created with its own.
        await self.assert_rejected_without_change(
            "PUT", f"{V2}/users/@eve:test", {"password": "x", "threepids": [
                {"medium": "email", "address": "alice@example.org"}]}, 400, "M_THREEPID_IN_USE", token=self.admin)
        r = await self.request("PUT", f"{V2}/users/@eve:test", {"password": "x", "threepids": [
            {"medium": "email", "address": "eve@example.org"}]}, token=self.admin)
        self.assertEqual((r.code, [t["address"] for t in r.json["threepids"]]), (201, ["eve@example.org"]))
        # An empty list removes them.
        r = await self.request("PUT", path, {"threepids": []}, token=self.admin)
        self.assertEqual((r.code, r.json["threepids"]), (200, []))

    async def test_deactivate_and_reactivate_through_put(self) -> None:
        r = await self.request("PUT", f"{V2}/users/@alice:test", {"deactivated": True}, token=self.admin)
        self.assertEqual((r.code, r.json["deactivated"]), (200, True))
        r = await self.get("/_matrix/client/v3/account/whoami", token=self.alice)
        self.assert_error(r, 401, "M_UNKNOWN_TOKEN")
        await self.assert_rejected_without_change("PUT", f"{V2}/users/@alice:test", {"deactivated": False}, 400,
                                                  "M_MISSING_PARAM", token=self.admin)
        r = await self.request("PUT", f"{V2}/users/@alice:test", {"deactivated": False, "password": "new"},
                               token=self.admin)
        self.assertEqual((r.code, r.json["deactivated"]), (200, False))
        await self.login("alice", "new")

    async def test_bad_bodies_change_nothing(self) -> None:
        path = f"{V2}/users/@alice:test"
        await self.assert_admin_only("PUT", path, {"admin": True})
        for body, errcode in (({"admin": "yes"}, "M_BAD_JSON"), ({"user_type": "wizard"}, "M_INVALID_PARAM"),
                              ({"threepids": [{"medium": "msisdn", "address": "4412345"}]}, "M_INVALID_PARAM"),
                              ({"threepids": [{"medium": "email", "address": "not an address"}]},
                               "M_INVALID_PARAM"),
                              ({"threepids": [{"medium": "email"}]}, "M_MISSING_PARAM"),
                              ({"avatar_url": "https://x/y"}, "M_INVALID_PARAM"), ([], "M_BAD_JSON")):
            await self.assert_rejected_without_change("PUT", path, body, 400, errcode, token=self.admin)
        await self.assert_rejected_without_change("PUT", f"{V2}/users/@Bad!:test", {"password": "x"}, 400,
                                                  "M_INVALID_USERNAME", token=self.admin)
        await self.assert_rejected_without_change("PUT", f"{V2}/users/@x:elsewhere", {}, 400, "M_INVALID_PARAM",
                                                  token=self.admin)
        for body in ({"admin": False}, {"locked": True}, {"deactivated": True}):
            await self.assert_rejected_without_change("PUT", f"{V2}/users/@admin:test", body, 400,
                                                      "M_INVALID_PARAM", token=self.admin)
        await self.assert_rejected_without_change("PUT", path, None, 400, "M_NOT_JSON", token=self.admin,
                                                  raw_body=b"{not json")


class AccountActionsTest(AdminTestCase):
    async def test_deactivate_with_erase(self) -> None:
        await self.assert_admin_only("POST", f"{V1}/deactivate/@alice:test", {"erase": True})
        await self.assert_rejected_without_change("POST", f"{V1}/deactivate/@nobody:test", {}, 404, "M_NOT_FOUND",
                                                  token=self.admin)
        await self.assert_rejected_without_change("POST", f"{V1}/deactivate/@alice:test", {"erase": "yes"}, 400,
                                                  "M_BAD_JSON", token=self.admin)
        r = await self.post(f"{V1}/deactivate/@alice:test", {"erase": True}, token=self.admin)
        self.assertEqual((r.code, r.json), (200, {"id_server_unbind_result": "success"}))
        details = (await self.get(f"{V2}/users/@alice:test", token=self.admin)).json
        self.assertEqual((details["deactivated"], details["erased"], details["displayname"]), (True, True, None))
        r = await self.post("/_matrix/client/v3/login", {"type": "m.login.password", "password": "password",
                                                         "identifier": {"type": "m.id.user", "user": "alice"}})
        self.assertEqual(r.code, 403)

    async def test_reset_password(self) -> None:
        path = f"{V1}/reset_password/@alice:test"
        await self.assert_admin_only("POST", path, {"new_password": "n"})
        await self.assert_rejected_without_change("POST", path, {}, 400, "M_MISSING_PARAM", token=self.admin)
        await self.assert_rejected_without_change("POST", f"{V1}/reset_password/@nobody:test",
                                                  {"new_password": "n"}, 404, "M_NOT_FOUND", token=self.admin)
        r = await self.post(path, {"new_password": "fresh"}, token=self.admin)
        self.assertEqual((r.code, r.json), (200, {}))
        self.assert_error(await self.get("/_matrix/client/v3/account/whoami", token=self.alice), 401,
                          "M_UNKNOWN_TOKEN")
        await self.login("alice", "fresh")
        token = (await self.login("alice", "fresh"))["access_token"]
        r = await self.post(path, {"new_password": "again", "logout_devices": False}, token=self.admin)
        self.assertEqual(r.code, 200)
        self.assertEqual((await self.get("/_matrix/client/v3/account/whoami", token=token)).code, 200)

    async def test_admin_flag(self) -> None:
        path = f"{V1}/users/@alice:test/admin"
        await self.assert_admin_only("PUT", path, {"admin": True})
        await self.assert_admin_only("GET", path)
        self.assertEqual((await self.get(path, token=self.admin)).json, {"admin": False})
        await self.assert_rejected_without_change("PUT", path, {"admin": 1}, 400, "M_BAD_JSON", token=self.admin)
        await self.assert_rejected_without_change("PUT", path, {}, 400, "M_MISSING_PARAM", token=self.admin)
        await self.assert_rejected_without_change("PUT", f"{V1}/users/@admin:test/admin", {"admin": False}, 400,
                                                  "M_INVALID_PARAM", token=self.admin)
        self.assertEqual((await self.request("PUT", path, {"admin": True}, token=self.admin)).code, 200)
        self.assertEqual((await self.get(path, token=self.admin)).json, {"admin": True})
        self.assertEqual((await self.get(f"{V2}/users", token=self.alice)).code, 200)  # alice is an admin now
        self.assert_error(await self.get(f"{V1}/users/@nobody:test/admin", token=self.admin), 404, "M_NOT_FOUND")

    async def test_whois_and_joined_rooms(self) -> None:
        await self.get("/_matrix/client/v3/account/whoami", token=self.alice)
        room_id = await self.create_room(self.alice)
        r = await self.get(f"{V1}/whois/@alice:test", token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["user_id"], "@alice:test")
        self.assertEqual(len(r.json["devices"]), 1)
        r = await self.get(f"{V1}/users/@alice:test/joined_rooms", token=self.admin)
        self.assertEqual(r.json, {"joined_rooms": [room_id], "total": 1})
        r = await self.get(f"{V1}/users/@alice:test/memberships", token=self.admin)
        self.assertEqual(r.json, {"memberships": {room_id: "join"}})
        for path in (f"{V1}/whois/@alice:test", f"{V1}/users/@alice:test/joined_rooms"):
            await self.assert_admin_only("GET", path)
        for path in (f"{V1}/whois/@nobody:test", f"{V1}/users/@nobody:test/joined_rooms"):
            self.assert_error(await self.get(path, token=self.admin), 404, "M_NOT_FOUND")

    async def test_login_as_user(self) -> None:
        path = f"{V1}/users/@alice:test/login"
        await self.assert_admin_only("POST", path, {})
        await self.assert_rejected_without_change("POST", f"{V1}/users/@admin:test/login", {}, 400,
                                                  "M_INVALID_PARAM", token=self.admin)
        await self.assert_rejected_without_change("POST", f"{V1}/users/@nobody:test/login", {}, 404,
                                                  "M_NOT_FOUND", token=self.admin)
        await self.assert_rejected_without_change("POST", path, {"valid_until_ms": "soon"}, 400, "M_BAD_JSON",
                                                  token=self.admin)
        r = await self.post(path, {"valid_until_ms": 1_700_000_060_000}, token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        token = r.json["access_token"]
        r = await self.get("/_matrix/client/v3/account/whoami", token=token)
        self.assertEqual(r.json["user_id"], "@alice:test")
        self.advance(61)
        self.assert_error(await self.get("/_matrix/client/v3/account/whoami", token=token), 401, "M_UNKNOWN_TOKEN")


class DevicesAndMediaTest(AdminTestCase):
    async def test_devices(self) -> None:
        base = f"{V2}/users/@alice:test"
        await self.get("/_matrix/client/v3/account/whoami", token=self.alice)
        r = await self.get(f"{base}/devices", token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["total"], 1)
        device = r.json["devices"][0]
        self.assertEqual((device["user_id"], device["last_seen_ip"]), ("@alice:test", "127.0.0.1"))
        self.assertIn("last_seen_user_agent", device)
        device_id = device["device_id"]

        self.assertEqual((await self.post(f"{base}/devices", {"device_id": "NEWDEV"}, token=self.admin)).code, 200)
        r = await self.request("PUT", f"{base}/devices/NEWDEV", {"display_name": "Phone"}, token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        r = await self.get(f"{base}/devices/NEWDEV", token=self.admin)
        self.assertEqual((r.json["device_id"], r.json["display_name"]), ("NEWDEV", "Phone"))
        self.assert_error(await self.get(f"{base}/devices/NOPE", token=self.admin), 404, "M_NOT_FOUND")
        await self.assert_rejected_without_change("PUT", f"{base}/devices/NOPE", {"display_name": "x"}, 404,
                                                  "M_NOT_FOUND", token=self.admin)
        await self.assert_rejected_without_change("POST", f"{base}/delete_devices", {"devices": "NEWDEV"}, 400,
                                                  "M_BAD_JSON", token=self.admin)
        await self.assert_rejected_without_change("POST", f"{base}/devices", {}, 400, "M_MISSING_PARAM",
                                                  token=self.admin)
        await self.assert_admin_only("DELETE", f"{base}/devices/{device_id}")
        await self.assert_admin_only("GET", f"{base}/devices")
        await self.assert_rejected_without_change("GET", f"{V2}/users/@nobody:test/devices", None, 404,
                                                  "M_NOT_FOUND", token=self.admin)

        r = await self.request("DELETE", f"{base}/devices/NEWDEV", token=self.admin)
        self.assertEqual(r.code, 200)
        r = await self.post(f"{base}/delete_devices", {"devices": [device_id]}, token=self.admin)
        self.assertEqual(r.code, 200)
        self.assertEqual((await self.get(f"{base}/devices", token=self.admin)).json, {"devices": [], "total": 0})
        self.assert_error(await self.get("/_matrix/client/v3/account/whoami", token=self.alice), 401,
                          "M_UNKNOWN_TOKEN")

    async def _upload(self, name: str, data: bytes) -> str:
        r = await self.request("POST", f"/_matrix/media/v3/upload?filename={name}", raw_body=data,
                               token=self.alice, headers={"Content-Type": "text/plain"})
        self.assertEqual(r.code, 200, r.json)
        return r.json["content_uri"].rsplit("/", 1)[1]

    async def test_media_list_and_delete(self) -> None:
        first = await self._upload("a.txt", b"one")
        self.advance(1)
        second = await self._upload("b.txt", b"second")
        path = f"{V1}/users/@alice:test/media"
        r = await self.get(path, token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual([m["media_id"] for m in r.json["media"]], [second, first])  # newest first
        self.assertEqual(r.json["total"], 2)
        m = r.json["media"][0]
        self.assertEqual((m["media_length"], m["media_type"], m["upload_name"], m["quarantined_by"],
                          m["safe_from_quarantine"]), (6, "text/plain", "b.txt", None, False))
        r = await self.get(f"{path}?order_by=media_length&limit=1", token=self.admin)
        self.assertEqual(([x["media_id"] for x in r.json["media"]], r.json["next_token"]), ([first], 1))
        self.assert_error(await self.get(f"{path}?order_by=size", token=self.admin), 400, "M_INVALID_PARAM")
        await self.assert_admin_only("GET", path)
        await self.assert_admin_only("DELETE", path)
        self.assert_error(await self.get(f"{V1}/users/@nobody:test/media", token=self.admin), 404, "M_NOT_FOUND")
        r = await self.request("DELETE", f"{path}?limit=1", token=self.admin)
        self.assertEqual(r.json, {"deleted_media": [second], "total": 1})
        r = await self.get(path, token=self.admin)
        self.assertEqual([m["media_id"] for m in r.json["media"]], [first])


class ModerationTest(AdminTestCase):
    async def _room_with_bob(self) -> tuple[str, str]:
        bob = (await self.register("bob"))["access_token"]
        room_id = await self.create_room(self.alice, preset="public_chat")
        self.assertEqual((await self.join(bob, room_id)).code, 200)
        return room_id, bob

    async def _bodies_seen_by(self, token: str, room_id: str) -> list[str]:
        r = await self.get(f"/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50", token=token)
        return [e["content"].get("body") for e in r.json["chunk"] if e["type"] == "m.room.message"]

    async def test_shadow_ban(self) -> None:
        room_id, bob = await self._room_with_bob()
        path = f"{V1}/users/@alice:test/shadow_ban"
        await self.assert_admin_only("POST", path)
        self.assert_error(await self.post(f"{V1}/users/@nobody:test/shadow_ban", {}, token=self.admin), 404,
                          "M_NOT_FOUND")
        self.assertEqual((await self.post(path, {}, token=self.admin)).json, {})
        r = await self.send_text(self.alice, room_id, "hidden", "t1")
        self.assertEqual(r.code, 200, r.json)
        self.assertTrue(r.json["event_id"].startswith("$"))
        r = await self.get(f"/_matrix/client/v3/rooms/{room_id}/event/{r.json['event_id']}", token=bob)
        self.assertEqual(r.code, 404)
        r = await self.request("PUT", f"/_matrix/client/v3/rooms/{room_id}/state/m.room.topic/",
                               {"topic": "nope"}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        await self.register("carol")
        r = await self.post(f"/_matrix/client/v3/rooms/{room_id}/invite", {"user_id": "@carol:test"},
                            token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertIsNone(await self.hs.events_store.get_membership(room_id, "@carol:test"))
        r = await self.post("/_matrix/client/v3/createRoom", {"invite": ["@carol:test"]}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.hs.events_store.get_rooms_for_user("@carol:test", "invite"), [])
        self.assertEqual(await self._bodies_seen_by(bob, room_id), [])
        details = (await self.get(f"{V2}/users/@alice:test", token=self.admin)).json
        self.assertTrue(details["shadow_banned"])

        self.assertEqual((await self.request("DELETE", path, token=self.admin)).code, 200)
        self.assertEqual((await self.send_text(self.alice, room_id, "seen", "t2")).code, 200)
        self.assertEqual(await self._bodies_seen_by(bob, room_id), ["seen"])

    async def test_lock(self) -> None:
        path = f"{V2}/users/@alice:test"
        second = (await self.login("alice"))["access_token"]
        self.assertEqual((await self.request("PUT", path, {"locked": True}, token=self.admin)).code, 200)
        r = await self.get("/_matrix/client/v3/account/whoami", token=self.alice)
        self.assert_error(r, 401, "M_USER_LOCKED")
        self.assertIs(r.json["soft_logout"], True)
        r = await self.get("/_matrix/client/v3/sync", token=self.alice)
        self.assert_error(r, 401, "M_USER_LOCKED")
        r = await self.post("/_matrix/client/v3/login", {"type": "m.login.password", "password": "password",
                                                         "identifier": {"type": "m.id.user", "user": "alice"}})
        self.assert_error(r, 401, "M_USER_LOCKED")
        # Logging out is still allowed.
        self.assertEqual((await self.post("/_matrix/client/v3/logout", {}, token=second)).code, 200)
        self.assertTrue((await self.get(path, token=self.admin)).json["locked"])
        self.assertEqual((await self.request("PUT", path, {"locked": False}, token=self.admin)).code, 200)
        self.assertEqual((await self.get("/_matrix/client/v3/account/whoami", token=self.alice)).code, 200)

    async def test_suspend(self) -> None:
        room_id, bob = await self._room_with_bob()
        own = (await self.send_text(self.alice, room_id, "before", "t0")).json["event_id"]
        other_room = await self.create_room(bob, preset="public_chat")
        path = f"{V1}/suspend/@alice:test"
        await self.assert_admin_only("PUT", path, {"suspend": True})
        await self.assert_rejected_without_change("PUT", path, {"suspend": "yes"}, 400, "M_BAD_JSON",
                                                  token=self.admin)
        await self.assert_rejected_without_change("PUT", f"{V1}/suspend/@nobody:test", {"suspend": True}, 404,
                                                  "M_NOT_FOUND", token=self.admin)
        r = await self.request("PUT", path, {"suspend": True}, token=self.admin)
        self.assertEqual((r.code, r.json), (200, {"user_@alice:test_suspended": True}))

        self.assert_error(await self.send_text(self.alice, room_id, "during", "t1"), 403, "M_USER_SUSPENDED")
        self.assert_error(await self.join(self.alice, other_room), 403, "M_USER_SUSPENDED")
        self.assert_error(await self.post("/_matrix/client/v3/createRoom", {}, token=self.alice), 403,
                          "M_USER_SUSPENDED")
        r = await self.request("PUT", "/_matrix/client/v3/profile/@alice:test/displayname", {"displayname": "x"},
                               token=self.alice)
        self.assert_error(r, 403, "M_USER_SUSPENDED")
        r = await self.post(f"/_matrix/client/v3/rooms/{room_id}/invite", {"user_id": "@admin:test"},
                            token=self.alice)
        self.assert_error(r, 403, "M_USER_SUSPENDED")
        # Reading, redacting their own events and leaving stay allowed.
        self.assertEqual(await self._bodies_seen_by(self.alice, room_id), ["before"])
        bobs = (await self.send_text(bob, room_id, "bob's", "b1")).json["event_id"]
        r = await self.request("PUT", f"/_matrix/client/v3/rooms/{room_id}/redact/{bobs}/r1", {}, token=self.alice)
        self.assert_error(r, 403, "M_USER_SUSPENDED")
        r = await self.request("PUT", f"/_matrix/client/v3/rooms/{room_id}/redact/{own}/r2", {}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertTrue((await self.get(f"{V2}/users/@alice:test", token=self.admin)).json["suspended"])
        r = await self.post(f"/_matrix/client/v3/rooms/{room_id}/leave", {}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)

        self.assertEqual((await self.request("PUT", path, {"suspend": False}, token=self.admin)).code, 200)
        self.assertEqual((await self.join(self.alice, room_id)).code, 200)
        self.assertEqual((await self.send_text(self.alice, room_id, "after", "t2")).code, 200)


class OtherUserReadsTest(AdminTestCase):
    async def test_pushers_account_data_username_available(self) -> None:
        r = await self.post("/_matrix/client/v3/pushers/set", {
            "kind": "http", "app_id": "com.example", "pushkey": "key1", "app_display_name": "App",
            "device_display_name": "Phone", "lang": "en", "data": {"url": "https://push.example/_matrix/push/v1/notify"}},
            token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        r = await self.get(f"{V1}/users/@alice:test/pushers", token=self.admin)
        self.assertEqual((r.json["total"], r.json["pushers"][0]["pushkey"]), (1, "key1"))
        await self.request("PUT", "/_matrix/client/v3/user/@alice:test/account_data/org.example.setting",
                           {"on": True}, token=self.alice)
        r = await self.get(f"{V1}/users/@alice:test/accountdata", token=self.admin)
        self.assertEqual(r.json["account_data"]["global"]["org.example.setting"], {"on": True})
        self.assertEqual(r.json["account_data"]["rooms"], {})
        for path in (f"{V1}/users/@alice:test/pushers", f"{V1}/users/@alice:test/accountdata",
                     f"{V1}/username_available?username=x"):
            await self.assert_admin_only("GET", path)
        for path in (f"{V1}/users/@nobody:test/pushers", f"{V1}/users/@nobody:test/accountdata"):
            self.assert_error(await self.get(path, token=self.admin), 404, "M_NOT_FOUND")
        r = await self.get(f"{V1}/username_available?username=newbie", token=self.admin)
        self.assertEqual(r.json, {"available": True})
        self.assert_error(await self.get(f"{V1}/username_available?username=alice", token=self.admin), 400,
                          "M_USER_IN_USE")
        self.assert_error(await self.get(f"{V1}/username_available?username=b%20d", token=self.admin), 400,
                          "M_INVALID_USERNAME")
        self.assert_error(await self.get(f"{V1}/username_available", token=self.admin), 400, "M_MISSING_PARAM")

    async def test_media_statistics(self) -> None:
        for data in (b"a", b"bb"):
            r = await self.request("POST", "/_matrix/media/v3/upload", raw_body=data, token=self.alice,
                                   headers={"Content-Type": "text/plain"})
            self.assertEqual(r.code, 200)
        r = await self.request("POST", "/_matrix/media/v3/upload", raw_body=b"cccc", token=self.admin,
                               headers={"Content-Type": "text/plain"})
        path = f"{V1}/statistics/users/media"
        r = await self.get(path, token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual([(u["user_id"], u["media_count"], u["media_length"]) for u in r.json["users"]],
                         [("@admin:test", 1, 4), ("@alice:test", 2, 3)])
        self.assertEqual(r.json["total"], 2)
        r = await self.get(f"{path}?order_by=media_count&dir=b&limit=1", token=self.admin)
        self.assertEqual(([u["user_id"] for u in r.json["users"]], r.json["next_token"]), (["@alice:test"], 1))
        r = await self.get(f"{path}?search_term=ALI", token=self.admin)
        self.assertEqual([u["user_id"] for u in r.json["users"]], ["@alice:test"])
        r = await self.get(f"{path}?from_ts=1800000000000", token=self.admin)
        self.assertEqual(r.json["users"], [])
        await self.assert_admin_only("GET", path)
        self.assert_error(await self.get(f"{path}?order_by=size", token=self.admin), 400, "M_INVALID_PARAM")

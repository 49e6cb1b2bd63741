"""Guest access (spec: client-server API, guest access module; Synapse's allow_guest_access):
guest registration, what guests may call, m.room.guest_access, world-readable rooms, upgrading a
guest to a full account (issue 12 item 15)."""

from urllib.parse import quote

from tests.rest.test_rooms import V3, RoomsTestCase

REGISTER = f"{V3}/register"


class GuestAccessTest(RoomsTestCase):
    config_overrides = {"allow_guest_access": True}

    async def guest(self, **body) -> dict:
        r = await self.post(f"{REGISTER}?kind=guest", body)
        self.assertEqual(r.code, 200, r.json)
        return r.json

    async def set_guest_access(self, room_id: str, value: str) -> None:
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.guest_access",
                               {"guest_access": value}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)

    async def membership(self, room_id: str, user_id: str) -> str | None:
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/state/m.room.member/{quote(user_id)}", token=self.alice)
        return r.json.get("membership") if r.code == 200 else None

    async def test_guest_registration(self) -> None:
        g = await self.guest(initial_device_display_name="Preview")
        self.assertRegex(g["user_id"], r"^@[0-9]+:test$")
        self.assertEqual(g["home_server"], "test")
        r = await self.get(f"{V3}/account/whoami", token=g["access_token"])
        self.assertEqual(r.json, {"user_id": g["user_id"], "device_id": g["device_id"], "is_guest": True})
        r = await self.get(f"{V3}/devices/{g['device_id']}", token=g["access_token"])
        self.assertEqual((r.code, r.json.get("display_name")), (200, "Preview"))
        # Two guests are two accounts; guests have no password to log in with.
        self.assertNotEqual((await self.guest())["user_id"], g["user_id"])
        r = await self.post(f"{V3}/login", {"type": "m.login.password", "password": "",
                                            "identifier": {"type": "m.id.user", "user": g["user_id"]}})
        self.assert_error(r, 403, "M_FORBIDDEN")
        # Numeric user IDs stay reserved for guests.
        r = await self.post(REGISTER, {"username": g["user_id"][1:].split(":")[0], "password": "password"})
        self.assert_error(r, 400, "M_INVALID_USERNAME")

    async def test_what_guests_may_call(self) -> None:
        await self.users()
        g = await self.guest()
        token, user_id = g["access_token"], g["user_id"]
        for method, path, body in (
            ("POST", f"{V3}/createRoom", {}),
            ("PUT", f"{V3}/profile/{quote(user_id)}/avatar_url", {"avatar_url": "mxc://test/a"}),
            ("DELETE", f"{V3}/profile/{quote(user_id)}/avatar_url", None),
            ("PUT", f"{V3}/user/{quote(user_id)}/account_data/m.something", {"a": 1}),
            ("POST", f"{V3}/account/password", {"new_password": "x"}),
            ("POST", f"{V3}/account/deactivate", {}),
            ("GET", f"{V3}/joined_rooms", None),
            ("POST", f"{V3}/delete_devices", {"devices": []}),
            ("POST", f"{V3}/logout/all", {}),
            ("PUT", f"{V3}/directory/room/{quote('#g:test')}", {"room_id": "!x:test"}),
            ("POST", f"{V3}/user_directory/search", {"search_term": "a"}),
        ):
            await self.assert_rejected_without_change(method, path, body, 403, "M_GUEST_ACCESS_FORBIDDEN",
                                                      token=token)
        # What the spec lets guests do, and a client needs around it.
        r = await self.request("PUT", f"{V3}/profile/{quote(user_id)}/displayname", {"displayname": "Guest"},
                               token=token)
        self.assertEqual(r.code, 200, r.json)
        for method, path, body in (
            ("GET", f"{V3}/sync", None),
            ("GET", f"{V3}/devices", None),
            ("PUT", f"{V3}/devices/{g['device_id']}", {"display_name": "Mine"}),
            ("GET", f"{V3}/capabilities", None),
            ("POST", f"{V3}/keys/query", {"device_keys": {user_id: []}}),
            ("POST", f"{V3}/keys/claim", {"one_time_keys": {}}),
            ("PUT", f"{V3}/sendToDevice/m.test/t1", {"messages": {"@alice:test": {"*": {"x": 1}}}}),
            ("POST", f"{V3}/user/{quote(user_id)}/filter", {"room": {"timeline": {"limit": 5}}}),
            ("GET", f"{V3}/pushrules/", None),
            ("GET", f"{V3}/profile/{quote('@alice:test')}", None),
            ("GET", f"{V3}/publicRooms", None),
            ("DELETE", f"{V3}/profile/{quote(user_id)}/displayname", None),
        ):
            r = await self.request(method, path, body, token=token)
            self.assertEqual(r.code, 200, (method, path, r.json))

    async def test_guests_join_only_rooms_that_allow_them(self) -> None:
        await self.users()
        g = await self.guest()
        token = g["access_token"]
        room_id = await self.create(self.alice, preset="public_chat")  # guest_access forbidden
        before = await self.snapshot()
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=token)
        self.assert_error(r, 403, "M_GUEST_ACCESS_FORBIDDEN")
        r = await self.post(f"{V3}/join/{quote(room_id)}", {}, token=token)
        self.assert_error(r, 403, "M_GUEST_ACCESS_FORBIDDEN")
        self.assertEqual(await self.snapshot(), before)
        # Invited or not, can_join is what lets a guest in.
        await self.post(f"{V3}/rooms/{quote(room_id)}/invite", {"user_id": g["user_id"]}, token=self.alice)
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=token)
        self.assert_error(r, 403, "M_GUEST_ACCESS_FORBIDDEN")
        await self.set_guest_access(room_id, "can_join")
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=token)
        self.assertEqual(r.code, 200, r.json)
        sent = await self.send(token, room_id, "hello from a guest", "t1")
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/m.reaction/t2",
                               {"m.relates_to": {"rel_type": "m.annotation", "event_id": sent, "key": "x"}},
                               token=token)
        self.assertEqual(r.code, 200, r.json)  # any event type (v1.2)
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.topic", {"topic": "t"}, token=token)
        self.assert_error(r, 403, "M_FORBIDDEN")  # allowed endpoint; the power levels say no
        for path in (f"/rooms/{quote(room_id)}/messages?dir=b", f"/rooms/{quote(room_id)}/members",
                     f"/rooms/{quote(room_id)}/state", f"/rooms/{quote(room_id)}/event/{quote(sent)}",
                     f"/rooms/{quote(room_id)}/context/{quote(sent)}", f"/rooms/{quote(room_id)}/initialSync"):
            r = await self.get(V3 + path, token=token)
            self.assertEqual(r.code, 200, (path, r.json))
        for action, body in (("invite", {"user_id": "@bob:test"}), ("kick", {"user_id": "@alice:test"})):
            r = await self.post(f"{V3}/rooms/{quote(room_id)}/{action}", body, token=token)
            self.assert_error(r, 403, "M_GUEST_ACCESS_FORBIDDEN")
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/leave", {}, token=token)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.membership(room_id, g["user_id"]), "leave")

    async def test_guests_leave_when_the_room_stops_admitting_them(self) -> None:
        await self.users()
        guests = [await self.guest() for _ in range(2)]
        room_id = await self.create(self.alice, preset="public_chat")
        await self.set_guest_access(room_id, "can_join")
        for g in guests:
            r = await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=g["access_token"])
            self.assertEqual(r.code, 200, r.json)
        await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        await self.set_guest_access(room_id, "forbidden")
        await self.hs.guest_access_handler.drain()
        for g in guests:
            self.assertEqual(await self.membership(room_id, g["user_id"]), "leave")
        self.assertEqual(await self.membership(room_id, "@bob:test"), "join")
        self.assertEqual(await self.membership(room_id, "@alice:test"), "join")
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=guests[0]["access_token"])
        self.assert_error(r, 403, "M_GUEST_ACCESS_FORBIDDEN")

    async def test_world_readable_rooms_readable_by_guests(self) -> None:
        await self.users()
        token = (await self.guest())["access_token"]
        readable = await self.create(self.alice, preset="public_chat", initial_state=[
            {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "world_readable"}}])
        sent = await self.send(self.alice, readable, "for everyone", "t1")
        closed = await self.create(self.alice, preset="public_chat")
        for path in ("messages?dir=b", "state", f"event/{quote(sent)}", "members", "initialSync",
                     "state/m.room.create/"):
            r = await self.get(f"{V3}/rooms/{quote(readable)}/{path}", token=token)
            self.assertEqual(r.code, 200, (path, r.json))
            r = await self.get(f"{V3}/rooms/{quote(closed)}/{path.replace(quote(sent), '$x')}", token=token)
            self.assertIn(r.code, (403, 404), (path, r.json))
        r = await self.get(f"{V3}/rooms/{quote(readable)}/messages?dir=b", token=token)
        self.assertIn(sent, [e["event_id"] for e in r.json["chunk"]])
        r = await self.get(f"{V3}/events?room_id={quote(readable)}&timeout=0", token=token)
        self.assertEqual(r.code, 200, r.json)

    async def test_upgrade_guest_to_full_account(self) -> None:
        await self.users()
        g = await self.guest()
        localpart = g["user_id"][1:].split(":")[0]
        room_id = await self.create(self.alice, preset="public_chat")
        await self.set_guest_access(room_id, "can_join")
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=g["access_token"])
        self.assertEqual(r.code, 200, r.json)
        r = await self.post(f"{V3}/createRoom", {}, token=g["access_token"])  # the guest token is cached now
        self.assert_error(r, 403, "M_GUEST_ACCESS_FORBIDDEN")

        # Refused: a username that is not the guest's; a token that is not a guest's.
        await self.assert_rejected_without_change(
            "POST", REGISTER, {"username": "someone", "password": "password",
                               "guest_access_token": g["access_token"]}, 403, "M_FORBIDDEN")
        await self.assert_rejected_without_change(
            "POST", REGISTER, {"username": "alice", "password": "password", "guest_access_token": self.alice},
            403, "M_FORBIDDEN")
        await self.assert_rejected_without_change(
            "POST", REGISTER, {"password": "password", "guest_access_token": "nope"}, 403, "M_FORBIDDEN")

        body = {"username": localpart, "password": "a long password", "guest_access_token": g["access_token"],
                "initial_device_display_name": "Full"}
        first = await self.post(REGISTER, body)
        self.assertEqual(first.code, 401, first.json)
        r = await self.post(REGISTER, {**body, "auth": {"type": "m.login.dummy", "session": first.json["session"]}})
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["user_id"], g["user_id"])
        self.assertNotEqual(r.json["access_token"], g["access_token"])
        r = await self.get(f"{V3}/account/whoami", token=r.json["access_token"])
        self.assertFalse(r.json["is_guest"])
        # The guest's own token is a full user's now, and the rooms they joined are still theirs.
        r = await self.get(f"{V3}/account/whoami", token=g["access_token"])
        self.assertFalse(r.json["is_guest"])
        r = await self.post(f"{V3}/createRoom", {}, token=g["access_token"])
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.membership(room_id, g["user_id"]), "join")
        await self.login(g["user_id"], "a long password")
        # No second upgrade.
        r = await self.post(REGISTER, {"password": "x", "guest_access_token": g["access_token"]})
        self.assert_error(r, 403, "M_FORBIDDEN")


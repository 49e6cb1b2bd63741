"""Admin API on rooms (Synapse's paths and shapes): list with ordering and search, details,
members, state, messages, block, delete (v2, background, status; kick into a new room; purge),
make room admin, forward extremities."""

from __future__ import annotations

from tests.rest.admin_support import AdminTestCase

V1 = "/_synapse/admin/v1"
V2 = "/_synapse/admin/v2"


class RoomListAndDetailsTest(AdminTestCase):
    async def test_list_order_search_page(self) -> None:
        bob = (await self.register("bob"))["access_token"]
        big = await self.create_room(self.alice, name="Beta lounge", preset="public_chat",
                                     room_alias_name="lounge", visibility="public")
        self.assertEqual((await self.join(bob, big)).code, 200)
        small = await self.create_room(bob, name="Alpha")
        await self.request("PUT", f"/_matrix/client/v3/rooms/{small}/state/m.room.encryption/",
                           {"algorithm": "m.megolm.v1.aes-sha2"}, token=bob)
        r = await self.get(f"{V1}/rooms", token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual([x["room_id"] for x in r.json["rooms"]], [small, big])  # by name
        self.assertEqual((r.json["total_rooms"], r.json["offset"]), (2, 0))
        self.assertNotIn("next_batch", r.json)
        room = r.json["rooms"][1]
        self.assertEqual({k: room[k] for k in ("name", "canonical_alias", "joined_members", "joined_local_members",
                                               "creator", "encryption", "federatable", "public", "join_rules",
                                               "guest_access", "history_visibility", "room_type")},
                         {"name": "Beta lounge", "canonical_alias": "#lounge:test", "joined_members": 2,
                          "joined_local_members": 2, "creator": "@alice:test", "encryption": None,
                          "federatable": True, "public": True, "join_rules": "public", "guest_access": "forbidden",
                          "history_visibility": "shared", "room_type": None})
        self.assertGreater(room["state_events"], 4)
        self.assertEqual(r.json["rooms"][0]["encryption"], "m.megolm.v1.aes-sha2")

        r = await self.get(f"{V1}/rooms?order_by=joined_members&limit=1", token=self.admin)
        self.assertEqual(([x["room_id"] for x in r.json["rooms"]], r.json["next_batch"]), ([big], 1))
        r = await self.get(f"{V1}/rooms?order_by=joined_members&from=1", token=self.admin)
        self.assertEqual(([x["room_id"] for x in r.json["rooms"]], r.json["prev_batch"]), ([small], 0))
        r = await self.get(f"{V1}/rooms?order_by=name&dir=b", token=self.admin)
        self.assertEqual([x["room_id"] for x in r.json["rooms"]], [big, small])
        for term, expected in (("LOUNGE", [big]), ("alph", [small]), (small[1:6], [small]), ("zzz", [])):
            r = await self.get(f"{V1}/rooms?search_term={term}", token=self.admin)
            self.assertEqual([x["room_id"] for x in r.json["rooms"]], expected, term)
        r = await self.get(f"{V1}/rooms?public_rooms=false", token=self.admin)
        self.assertEqual([x["room_id"] for x in r.json["rooms"]], [small])

        await self.assert_admin_only("GET", f"{V1}/rooms")
        for query in ("order_by=nonsense", "dir=up", "limit=-2", "public_rooms=perhaps"):
            self.assert_error(await self.get(f"{V1}/rooms?{query}", token=self.admin), 400, "M_INVALID_PARAM")

    async def test_details_members_state_messages(self) -> None:
        room_id = await self.create_room(self.alice, name="Room", topic="Talk")
        await self.send_text(self.alice, room_id, "hello", "t1")
        r = await self.get(f"{V1}/rooms/{room_id}", token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual((r.json["name"], r.json["topic"], r.json["joined_local_devices"], r.json["forgotten"]),
                         ("Room", "Talk", 1, False))
        r = await self.get(f"{V1}/rooms/{room_id}/members", token=self.admin)
        self.assertEqual(r.json, {"members": ["@alice:test"], "total": 1})
        r = await self.get(f"{V1}/rooms/{room_id}/state", token=self.admin)
        self.assertIn("m.room.create", [e["type"] for e in r.json["state"]])
        r = await self.get(f"{V1}/rooms/{room_id}/state?type=m.room.topic", token=self.admin)
        self.assertEqual([e["content"]["topic"] for e in r.json["state"]], ["Talk"])
        # The admin is not in the room (and its history is not world readable): still served.
        r = await self.get(f"{V1}/rooms/{room_id}/messages?dir=b&limit=1", token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["chunk"][0]["content"]["body"], "hello")
        self.assertEqual((await self.get(f"/_matrix/client/v3/rooms/{room_id}/messages?dir=b",
                                         token=self.admin)).code, 403)

        for suffix in ("", "/members", "/state", "/messages"):
            await self.assert_admin_only("GET", f"{V1}/rooms/{room_id}{suffix}")
            r = await self.get(f"{V1}/rooms/!unknown:test{suffix}", token=self.admin)
            self.assert_error(r, 404, "M_NOT_FOUND")
            self.assert_error(await self.get(f"{V1}/rooms/nonsense{suffix}", token=self.admin), 400,
                              "M_INVALID_PARAM")
        r = await self.get(f"{V1}/rooms/{room_id}/messages?from=garbage", token=self.admin)
        self.assert_error(r, 400, "M_INVALID_PARAM")


class BlockAndAdminTest(AdminTestCase):
    async def test_block(self) -> None:
        bob = (await self.register("bob"))["access_token"]
        room_id = await self.create_room(self.alice, preset="public_chat")
        path = f"{V1}/rooms/{room_id}/block"
        self.assertEqual((await self.get(path, token=self.admin)).json, {"block": False})
        await self.assert_admin_only("PUT", path, {"block": True})
        await self.assert_rejected_without_change("PUT", path, {"block": "yes"}, 400, "M_BAD_JSON",
                                                  token=self.admin)
        await self.assert_rejected_without_change("PUT", f"{V1}/rooms/bad/block", {"block": True}, 400,
                                                  "M_INVALID_PARAM", token=self.admin)
        r = await self.request("PUT", path, {"block": True}, token=self.admin)
        self.assertEqual(r.json, {"block": True})
        self.assertEqual((await self.get(path, token=self.admin)).json, {"block": True, "user_id": "@admin:test"})
        self.assert_error(await self.join(bob, room_id), 403, "M_FORBIDDEN")
        r = await self.post(f"/_matrix/client/v3/rooms/{room_id}/invite", {"user_id": "@bob:test"},
                            token=self.alice)
        self.assert_error(r, 403, "M_FORBIDDEN")
        # A room unknown here can be blocked ahead.
        r = await self.request("PUT", f"{V1}/rooms/!elsewhere:remote/block", {"block": True}, token=self.admin)
        self.assertEqual(r.code, 200)
        self.assertEqual((await self.request("PUT", path, {"block": False}, token=self.admin)).json,
                         {"block": False})
        self.assertEqual((await self.join(bob, room_id)).code, 200)

    async def test_make_room_admin(self) -> None:
        bob = (await self.register("bob"))["access_token"]
        room_id = await self.create_room(self.alice)  # private: the target is invited
        path = f"{V1}/rooms/{room_id}/make_room_admin"
        await self.assert_admin_only("POST", path, {"user_id": "@bob:test"})
        await self.assert_rejected_without_change("POST", path, {"user_id": "@nobody:test"}, 400, "M_INVALID_PARAM",
                                                  token=self.admin)
        await self.assert_rejected_without_change("POST", f"{V1}/rooms/!unknown:test/make_room_admin", {}, 404,
                                                  "M_NOT_FOUND", token=self.admin)
        r = await self.post(path, {"user_id": "@bob:test"}, token=self.admin)
        self.assertEqual((r.code, r.json), (200, {}))
        self.assertEqual((await self.hs.events_store.get_membership(room_id, "@bob:test"))[0], "invite")
        self.assertEqual((await self.join(bob, room_id)).code, 200)
        r = await self.get(f"/_matrix/client/v3/rooms/{room_id}/state/m.room.power_levels/", token=bob)
        self.assertEqual(r.json["users"]["@bob:test"], 100)
        # Without a body: the calling admin.
        self.assertEqual((await self.post(path, {}, token=self.admin)).code, 200)
        self.assertEqual((await self.hs.events_store.get_membership(room_id, "@admin:test"))[0], "invite")

    async def test_forward_extremities(self) -> None:
        room_id = await self.create_room(self.alice)
        first = (await self.send_text(self.alice, room_id, "one", "t1")).json["event_id"]
        second = (await self.send_text(self.alice, room_id, "two", "t2")).json["event_id"]
        # Fork the DAG: make both events extremities, as a netsplit would.
        await self.hs.database.run("fork", lambda txn: txn.execute(
            "INSERT INTO event_forward_extremities (room_id, event_id) VALUES (?, ?)", (room_id, first)))
        self.hs.events_store.forget_forward_extremities(room_id)
        path = f"{V1}/rooms/{room_id}/forward_extremities"
        r = await self.get(path, token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual((r.json["count"], [x["event_id"] for x in r.json["results"]]), (2, [first, second]))
        await self.assert_admin_only("DELETE", path)
        self.assert_error(await self.get(f"{V1}/rooms/!unknown:test/forward_extremities", token=self.admin), 404,
                          "M_NOT_FOUND")
        self.assertEqual((await self.request("DELETE", path, token=self.admin)).json, {"deleted": 1})
        self.assertEqual(await self.hs.events_store.get_forward_extremity_ids(room_id), [second])
        self.assertEqual((await self.request("DELETE", path, token=self.admin)).json, {"deleted": 0})
        self.assertEqual((await self.send_text(self.alice, room_id, "three", "t3")).code, 200)


class DeleteRoomTest(AdminTestCase):
    async def _finished(self, delete_id: str) -> dict:
        status: dict = {}

        async def done() -> bool:
            status.update((await self.get(f"{V2}/rooms/delete_status/{delete_id}", token=self.admin)).json)
            return status["status"] in ("complete", "failed")

        for _ in range(200):
            if await done():
                return status
            await self.pump(5)
        raise AssertionError(f"deletion never finished: {status}")

    async def test_delete_with_new_room_block_and_purge(self) -> None:
        bob = (await self.register("bob"))["access_token"]
        room_id = await self.create_room(self.alice, name="Bad", preset="public_chat", room_alias_name="bad",
                                         visibility="public")
        self.assertEqual((await self.join(bob, room_id)).code, 200)
        await self.send_text(bob, room_id, "bad things", "t1")
        path = f"{V2}/rooms/{room_id}"
        await self.assert_admin_only("DELETE", path, {})
        await self.assert_rejected_without_change("DELETE", path, None, 400, "M_NOT_JSON", token=self.admin,
                                                  raw_body=b"")
        await self.assert_rejected_without_change("DELETE", path, {"purge": "yes"}, 400, "M_BAD_JSON",
                                                  token=self.admin)
        await self.assert_rejected_without_change("DELETE", path, {"new_room_user_id": "@mod:elsewhere"}, 400,
                                                  "M_INVALID_PARAM", token=self.admin)
        await self.assert_rejected_without_change("DELETE", f"{V2}/rooms/!unknown:test", {}, 404, "M_NOT_FOUND",
                                                  token=self.admin)

        r = await self.request("DELETE", path, {"new_room_user_id": "@moderator:test", "message": "Gone.",
                                                "block": True}, token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        status = await self._finished(r.json["delete_id"])
        self.assertEqual(status["status"], "complete", status)
        shutdown = status["shutdown_room"]
        self.assertEqual((sorted(shutdown["kicked_users"]), shutdown["failed_to_kick_users"],
                          shutdown["local_aliases"]), (["@alice:test", "@bob:test"], [], ["#bad:test"]))
        new_room = shutdown["new_room_id"]
        r = await self.get(f"{V2}/rooms/{room_id}/delete_status", token=self.admin)
        self.assertEqual([x["delete_id"] for x in r.json["results"]], [status["delete_id"]])

        # Purged: the room is gone from the admin API and from the users' rooms; blocked for good.
        self.assert_error(await self.get(f"{V1}/rooms/{room_id}", token=self.admin), 404, "M_NOT_FOUND")
        rooms = (await self.get(f"{V1}/rooms", token=self.admin)).json["rooms"]
        self.assertEqual([x["room_id"] for x in rooms], [new_room])
        self.assertEqual((await self.get("/_matrix/client/v3/joined_rooms", token=bob)).json["joined_rooms"],
                         [new_room])
        r = await self.get(f"/_matrix/client/v3/rooms/{new_room}/messages?dir=b", token=bob)
        self.assertIn("Gone.", [e["content"].get("body") for e in r.json["chunk"]])
        r = await self.get("/_matrix/client/v3/directory/room/%23bad:test", token=bob)
        self.assertEqual(r.json["room_id"], new_room)
        self.assert_error(await self.join(bob, room_id), 403, "M_FORBIDDEN")
        rows = await self.hs.database.execute("left", "SELECT COUNT(*) FROM events WHERE room_id = ?", room_id)
        self.assertEqual(rows[0][0], 0)
        r = await self.post("/_matrix/client/v3/search", {"search_categories": {"room_events": {
            "search_term": "bad things"}}}, token=bob)
        self.assertEqual(r.json["search_categories"]["room_events"]["results"], [])
        self.assertEqual((await self.get("/_matrix/client/v3/sync", token=bob)).code, 200)
        self.assert_error(await self.get(f"{V2}/rooms/delete_status/nope", token=self.admin), 404, "M_NOT_FOUND")

    async def test_delete_without_purge_keeps_history(self) -> None:
        room_id = await self.create_room(self.alice, name="Keep")
        r = await self.request("DELETE", f"{V2}/rooms/{room_id}", {"purge": False}, token=self.admin)
        status = await self._finished(r.json["delete_id"])
        self.assertEqual((status["status"], status["shutdown_room"]["kicked_users"]), ("complete", ["@alice:test"]))
        self.assertEqual((await self.hs.events_store.get_membership(room_id, "@alice:test"))[0], "leave")
        r = await self.get(f"{V1}/rooms/{room_id}", token=self.admin)
        self.assertEqual((r.code, r.json["joined_members"]), (200, 0))


class JoinUserTest(AdminTestCase):
    async def test_join_public_and_private(self) -> None:
        await self.register("bob")
        public = await self.create_room(self.alice, preset="public_chat", room_alias_name="pub")
        r = await self.post(f"{V1}/join/%23pub:test", {"user_id": "@bob:test"}, token=self.admin)
        self.assertEqual((r.code, r.json), (200, {"room_id": public}))
        self.assertEqual((await self.hs.events_store.get_membership(public, "@bob:test"))[0], "join")
        private = await self.create_room(self.alice)
        path = f"{V1}/join/{private}"
        # The admin is not in the private room: refused, nothing changed.
        await self.assert_rejected_without_change("POST", path, {"user_id": "@bob:test"}, 403, "M_FORBIDDEN",
                                                  token=self.admin)
        await self.post(f"/_matrix/client/v3/rooms/{private}/invite", {"user_id": "@admin:test"}, token=self.alice)
        self.assertEqual((await self.join(self.admin, private)).code, 200)
        r = await self.post(path, {"user_id": "@bob:test"}, token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual((await self.hs.events_store.get_membership(private, "@bob:test"))[0], "join")
        await self.assert_admin_only("POST", path, {"user_id": "@bob:test"})
        await self.assert_rejected_without_change("POST", path, {"user_id": "@nobody:test"}, 404, "M_NOT_FOUND",
                                                  token=self.admin)
        await self.assert_rejected_without_change("POST", path, {"user_id": "@x:elsewhere"}, 400,
                                                  "M_INVALID_PARAM", token=self.admin)
        await self.assert_rejected_without_change("POST", path, {}, 400, "M_MISSING_PARAM", token=self.admin)
        await self.assert_rejected_without_change("POST", f"{V1}/join/!unknown:test", {"user_id": "@bob:test"},
                                                  404, "M_NOT_FOUND", token=self.admin)


class RedactUserEventsTest(AdminTestCase):
    async def _status(self, redact_id: str) -> dict:
        for _ in range(200):
            r = await self.get(f"{V1}/user/redact_status/{redact_id}", token=self.admin)
            if r.json["status"] in ("complete", "failed"):
                return r.json
            await self.pump(5)
        raise AssertionError("the redaction never finished")

    async def _bodies(self, room_id: str) -> list:
        r = await self.get(f"/_matrix/client/v3/rooms/{room_id}/messages?dir=b", token=self.alice)
        return [e["content"].get("body") for e in r.json["chunk"] if e["type"] == "m.room.message"]

    async def test_redact_as_the_user_then_as_the_admin(self) -> None:
        bob = (await self.register("bob"))["access_token"]
        room_id = await self.create_room(self.alice, preset="public_chat")
        await self.join(bob, room_id)
        for i in range(3):
            await self.send_text(bob, room_id, f"spam {i}", f"s{i}")
        await self.send_text(self.alice, room_id, "fine", "a1")
        path = f"{V1}/user/@bob:test/redact"
        await self.assert_admin_only("POST", path, {"rooms": []})
        await self.assert_rejected_without_change("POST", path, {}, 400, "M_MISSING_PARAM", token=self.admin)
        await self.assert_rejected_without_change("POST", path, {"rooms": ["nonsense"]}, 400, "M_INVALID_PARAM",
                                                  token=self.admin)
        await self.assert_rejected_without_change("POST", f"{V1}/user/@nobody:test/redact", {"rooms": []}, 404,
                                                  "M_NOT_FOUND", token=self.admin)
        r = await self.post(path, {"rooms": [], "reason": "spam", "limit": 2}, token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self._status(r.json["redact_id"]), {"status": "complete", "failed_redactions": {}})
        self.assertEqual(await self._bodies(room_id), ["fine", None, None, "spam 0"])  # the newest two
        # Bob has left: the admin (not in the room) cannot redact; the failures are listed.
        await self.post(f"/_matrix/client/v3/rooms/{room_id}/leave", {}, token=bob)
        r = await self.post(path, {"rooms": [room_id]}, token=self.admin)
        status = await self._status(r.json["redact_id"])
        self.assertEqual((status["status"], len(status["failed_redactions"])), ("complete", 1))
        self.assert_error(await self.get(f"{V1}/user/redact_status/nope", token=self.admin), 404, "M_NOT_FOUND")


class DeleteRoomV1Test(AdminTestCase):
    async def test_synchronous_delete_and_blocking_unknown_rooms(self) -> None:
        room_id = await self.create_room(self.alice, name="Old")
        r = await self.request("DELETE", f"{V1}/rooms/{room_id}", {}, token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json, {"kicked_users": ["@alice:test"], "failed_to_kick_users": [], "local_aliases": [],
                                  "new_room_id": None})
        self.assert_error(await self.get(f"{V1}/rooms/{room_id}", token=self.admin), 404, "M_NOT_FOUND")
        await self.assert_rejected_without_change("DELETE", f"{V1}/rooms/!unknown:remote", {}, 400,
                                                  "M_INVALID_PARAM", token=self.admin)
        r = await self.request("DELETE", f"{V1}/rooms/!unknown:remote", {"block": True}, token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual((await self.get(f"{V1}/rooms/!unknown:remote/block", token=self.admin)).json["block"], True)
        await self.assert_admin_only("DELETE", f"{V1}/rooms/{room_id}", {})

"""Room aliases and the published room directory through the client API."""

from urllib.parse import quote

from tests.server import HomeserverTestCase

V3 = "/_matrix/client/v3"


def alias_path(alias: str) -> str:
    return f"{V3}/directory/room/{quote(alias, safe='')}"


class DirectoryTestCase(HomeserverTestCase):
    async def users(self) -> None:
        self.alice = (await self.register("alice"))["access_token"]
        self.bob = (await self.register("bob"))["access_token"]

    async def create(self, token: str, **body) -> str:
        # Room v12 IDs are the create event's hash: identical requests in one millisecond collide.
        self.advance(1)
        r = await self.post(f"{V3}/createRoom", body, token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["room_id"]

    async def join(self, token: str, room: str) -> None:
        r = await self.post(f"{V3}/join/{quote(room, safe='')}", {}, token=token)
        self.assertEqual(r.code, 200, r.json)

    async def state(self, token: str, room_id: str, event_type: str):
        return await self.get(f"{V3}/rooms/{quote(room_id)}/state/{event_type}/", token=token)

    async def put_state(self, token: str, room_id: str, event_type: str, content: dict) -> None:
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/{event_type}/", content, token=token)
        self.assertEqual(r.code, 200, r.json)


class AliasTest(DirectoryTestCase):
    async def test_create_resolve_list_delete(self) -> None:
        await self.users()
        room_id = await self.create(self.alice)
        r = await self.request("PUT", alias_path("#room:test"), {"room_id": room_id}, token=self.alice)
        self.assertEqual((r.code, r.json), (200, {}))
        # Resolving needs no access token.
        r = await self.get(alias_path("#room:test"))
        self.assertEqual((r.code, r.json), (200, {"room_id": room_id, "servers": ["test"]}))
        r = await self.request("PUT", alias_path("#other/name:test"), {"room_id": room_id}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/aliases", token=self.alice)
        self.assertEqual((r.code, sorted(r.json["aliases"])), (200, ["#other/name:test", "#room:test"]))

        r = await self.request("DELETE", alias_path("#room:test"), token=self.alice)
        self.assertEqual((r.code, r.json), (200, {}))
        self.assert_error(await self.get(alias_path("#room:test")), 404, "M_NOT_FOUND")
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/aliases", token=self.alice)
        self.assertEqual(r.json, {"aliases": ["#other/name:test"]})
        # The alias is free again, for any room.
        other = await self.create(self.alice)
        r = await self.request("PUT", alias_path("#room:test"), {"room_id": other}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual((await self.get(alias_path("#room:test"))).json["room_id"], other)

    async def test_create_errors_change_nothing(self) -> None:
        await self.users()
        room_id = await self.create(self.alice)
        r = await self.request("PUT", alias_path("#taken:test"), {"room_id": room_id}, token=self.alice)
        self.assertEqual(r.code, 200)
        put = self.assert_rejected_without_change
        await put("PUT", alias_path("#taken:test"), {"room_id": room_id}, 409, "M_UNKNOWN", token=self.alice)
        await put("PUT", alias_path("#x:elsewhere"), {"room_id": room_id}, 400, "M_INVALID_PARAM", token=self.alice)
        await put("PUT", alias_path("nohash:test"), {"room_id": room_id}, 400, "M_INVALID_PARAM", token=self.alice)
        await put("PUT", alias_path("#nodomain"), {"room_id": room_id}, 400, "M_INVALID_PARAM", token=self.alice)
        for bad in ("#with space:test", "#:test", "#tab\t:test", "#a:b:test"):
            await put("PUT", alias_path(bad), {"room_id": room_id}, 400, "M_INVALID_PARAM", token=self.alice)
        long_alias = "#" + "a" * 250 + ":test"
        await put("PUT", alias_path(long_alias), {"room_id": room_id}, 400, "M_INVALID_PARAM", token=self.alice)
        await put("PUT", alias_path("#a:test"), {}, 400, "M_MISSING_PARAM", token=self.alice)
        await put("PUT", alias_path("#a:test"), {"room_id": 5}, 400, "M_BAD_JSON", token=self.alice)
        await put("PUT", alias_path("#a:test"), {"room_id": "nope"}, 400, "M_INVALID_PARAM", token=self.alice)
        await put("PUT", alias_path("#a:test"), {"room_id": "!unknown:test"}, 404, "M_NOT_FOUND", token=self.alice)
        await put("PUT", alias_path("#a:test"), {"room_id": room_id}, 401, "M_MISSING_TOKEN")
        # Only members may point an alias at a room.
        await put("PUT", alias_path("#a:test"), {"room_id": room_id}, 403, "M_FORBIDDEN", token=self.bob)

    async def test_resolve_errors(self) -> None:
        self.assert_error(await self.get(alias_path("#nothing:test")), 404, "M_NOT_FOUND")
        # Another server's alias is asked of it: one that cannot be reached is a 502.
        self.assert_error(await self.get(alias_path("#remote:elsewhere")), 502, "M_UNKNOWN")
        self.assert_error(await self.get(alias_path("bad")), 400, "M_INVALID_PARAM")

    async def test_delete_permissions(self) -> None:
        await self.users()
        carol = (await self.register("carol"))["access_token"]
        room_id = await self.create(self.alice, preset="public_chat")
        await self.join(self.bob, room_id)
        await self.join(carol, room_id)
        for name, token in (("bobs", self.bob), ("bobs2", self.bob), ("alices", self.alice)):
            r = await self.request("PUT", alias_path(f"#{name}:test"), {"room_id": room_id}, token=token)
            self.assertEqual(r.code, 200, r.json)
        # Carol is neither the creator of the alias nor a room admin, nor a server admin.
        await self.assert_rejected_without_change("DELETE", alias_path("#bobs:test"), None, 403, "M_FORBIDDEN",
                                                  token=carol)
        await self.assert_rejected_without_change("DELETE", alias_path("#alices:test"), None, 403, "M_FORBIDDEN",
                                                  token=self.bob)
        await self.assert_rejected_without_change("DELETE", alias_path("#nothing:test"), None, 404, "M_NOT_FOUND",
                                                  token=self.alice)
        await self.assert_rejected_without_change("DELETE", alias_path("#bobs:test"), None, 401, "M_MISSING_TOKEN")
        # The alias's creator may; so may a room admin (power to send m.room.canonical_alias)...
        r = await self.request("DELETE", alias_path("#bobs:test"), token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        r = await self.request("DELETE", alias_path("#bobs2:test"), token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        # ... and a server admin, joined or not.
        dave = (await self.register("dave"))["access_token"]
        await self.hs.users_store.set_admin("@dave:test", True)
        r = await self.request("DELETE", alias_path("#alices:test"), token=dave)
        self.assertEqual(r.code, 200, r.json)
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/aliases", token=self.alice)
        self.assertEqual(r.json, {"aliases": []})

    async def test_delete_updates_canonical_alias(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, room_alias_name="main")
        r = await self.request("PUT", alias_path("#alt:test"), {"room_id": room_id}, token=self.alice)
        self.assertEqual(r.code, 200)
        await self.put_state(self.alice, room_id, "m.room.canonical_alias",
                             {"alias": "#main:test", "alt_aliases": ["#alt:test"]})
        r = await self.request("DELETE", alias_path("#alt:test"), token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        r = await self.state(self.alice, room_id, "m.room.canonical_alias")
        self.assertEqual(r.json, {"alias": "#main:test", "alt_aliases": []})
        r = await self.request("DELETE", alias_path("#main:test"), token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        r = await self.state(self.alice, room_id, "m.room.canonical_alias")
        self.assertEqual(r.json, {"alt_aliases": []})

    async def test_delete_by_creator_without_power_keeps_canonical_alias(self) -> None:
        """The alias goes even when its creator may not update m.room.canonical_alias."""
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        await self.join(self.bob, room_id)
        r = await self.request("PUT", alias_path("#bob:test"), {"room_id": room_id}, token=self.bob)
        self.assertEqual(r.code, 200)
        await self.put_state(self.alice, room_id, "m.room.canonical_alias", {"alias": "#bob:test"})
        r = await self.request("DELETE", alias_path("#bob:test"), token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        self.assert_error(await self.get(alias_path("#bob:test")), 404, "M_NOT_FOUND")
        r = await self.state(self.alice, room_id, "m.room.canonical_alias")
        self.assertEqual(r.json, {"alias": "#bob:test"})

    async def test_room_aliases_visibility(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, room_alias_name="secret")
        path = f"{V3}/rooms/{quote(room_id)}/aliases"
        self.assert_error(await self.get(path, token=self.bob), 403, "M_FORBIDDEN")
        self.assert_error(await self.get(f"{V3}/rooms/{quote('!nope:test')}/aliases", token=self.bob), 403,
                          "M_FORBIDDEN")
        self.assert_error(await self.get(f"{V3}/rooms/nope/aliases", token=self.bob), 400, "M_INVALID_PARAM")
        self.assert_error(await self.get(path), 401, "M_MISSING_TOKEN")
        await self.put_state(self.alice, room_id, "m.room.history_visibility",
                             {"history_visibility": "world_readable"})
        r = await self.get(path, token=self.bob)
        self.assertEqual((r.code, r.json), (200, {"aliases": ["#secret:test"]}))

    async def test_canonical_alias_must_point_to_the_room(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, room_alias_name="here")
        other = await self.create(self.alice, room_alias_name="there")
        path = f"{V3}/rooms/{quote(room_id)}/state/m.room.canonical_alias/"
        reject = self.assert_rejected_without_change
        await reject("PUT", path, {"alias": "#there:test"}, 400, "M_BAD_ALIAS", token=self.alice)
        await reject("PUT", path, {"alias": "#nowhere:test"}, 400, "M_BAD_ALIAS", token=self.alice)
        await reject("PUT", path, {"alias": "#remote:elsewhere"}, 400, "M_BAD_ALIAS", token=self.alice)
        await reject("PUT", path, {"alias": "#here:test", "alt_aliases": ["#there:test"]}, 400, "M_BAD_ALIAS",
                     token=self.alice)
        await reject("PUT", path, {"alias": "not an alias"}, 400, "M_INVALID_PARAM", token=self.alice)
        await reject("PUT", path, {"alias": 7}, 400, "M_INVALID_PARAM", token=self.alice)
        await reject("PUT", path, {"alt_aliases": "#here:test"}, 400, "M_INVALID_PARAM", token=self.alice)
        await reject("PUT", path, {"alt_aliases": ["#here:test", "bad"]}, 400, "M_INVALID_PARAM",
                     token=self.alice)
        r = await self.request("PUT", alias_path("#alt:test"), {"room_id": room_id}, token=self.alice)
        self.assertEqual(r.code, 200)
        for content in ({"alias": "#here:test", "alt_aliases": ["#alt:test"]}, {"alias": None}, {"alias": ""},
                        {}, {"alt_aliases": ["#alt:test"]}):
            await self.put_state(self.alice, room_id, "m.room.canonical_alias", content)
            self.assertEqual((await self.state(self.alice, room_id, "m.room.canonical_alias")).json, content)
        # Other state keys are not the room's canonical alias.
        r = await self.request("PUT", f"{V3}/rooms/{quote(other)}/state/m.room.canonical_alias/x",
                               {"alias": "#here:test"}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)


class CreateRoomAliasTest(DirectoryTestCase):
    async def test_create_room_with_alias(self) -> None:
        await self.users()
        for version in ("10", "11", "12"):
            room_id = await self.create(self.alice, room_alias_name=f"v{version}", room_version=version,
                                        name="Named")
            r = await self.get(alias_path(f"#v{version}:test"))
            self.assertEqual(r.json, {"room_id": room_id, "servers": ["test"]})
            r = await self.state(self.alice, room_id, "m.room.canonical_alias")
            self.assertEqual(r.json, {"alias": f"#v{version}:test"})
            # createRoom's order: the canonical alias comes after the power levels, before the preset.
            r = await self.get(f"{V3}/rooms/{quote(room_id)}/messages?dir=f&limit=20", token=self.alice)
            types = [e["type"] for e in r.json["chunk"]]
            self.assertEqual(types[:5], ["m.room.create", "m.room.member", "m.room.power_levels",
                                         "m.room.canonical_alias", "m.room.join_rules"])
            r = await self.get(f"{V3}/rooms/{quote(room_id)}/aliases", token=self.alice)
            self.assertEqual(r.json, {"aliases": [f"#v{version}:test"]})
        # Not published unless asked.
        r = await self.get(f"{V3}/directory/list/room/{quote(room_id)}")
        self.assertEqual(r.json, {"visibility": "private"})

    async def test_create_room_alias_errors(self) -> None:
        await self.users()
        await self.create(self.alice, room_alias_name="taken")
        create = f"{V3}/createRoom"
        await self.assert_rejected_without_change("POST", create, {"room_alias_name": "taken"}, 400,
                                                  "M_ROOM_IN_USE", token=self.bob)
        for bad in ("", "a:b", "with space", "nul\x00", "tab\t", "x" * 260):
            await self.assert_rejected_without_change("POST", create, {"room_alias_name": bad}, 400,
                                                      "M_INVALID_PARAM", token=self.bob)
        await self.assert_rejected_without_change("POST", create, {"room_alias_name": 3}, 400, "M_BAD_JSON",
                                                  token=self.bob)
        # A taken alias refuses the room even with other valid options.
        await self.assert_rejected_without_change(
            "POST", create, {"room_alias_name": "taken", "visibility": "public", "name": "n"}, 400,
            "M_ROOM_IN_USE", token=self.bob)

    async def test_unicode_alias(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, room_alias_name="café-☕")
        r = await self.get(alias_path("#café-☕:test"))
        self.assertEqual(r.json["room_id"], room_id)

    async def test_alias_reserved_while_room_is_created(self) -> None:
        """Two createRoom calls racing for one alias: the second is refused before it persists."""
        await self.users()
        handler = self.hs.directory_handler
        alias = await handler.reserve_alias("race")
        try:
            await self.assert_rejected_without_change("POST", f"{V3}/createRoom", {"room_alias_name": "race"},
                                                      400, "M_ROOM_IN_USE", token=self.bob)
            room_id = await self.create(self.alice)
            await self.assert_rejected_without_change("PUT", alias_path("#race:test"), {"room_id": room_id},
                                                      409, "M_UNKNOWN", token=self.alice)
        finally:
            handler.release_alias(alias)
        await self.create(self.bob, room_alias_name="race")

    async def test_join_by_alias(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat", room_alias_name="pub")
        r = await self.post(f"{V3}/join/{quote('#pub:test', safe='')}", {}, token=self.bob)
        self.assertEqual((r.code, r.json), (200, {"room_id": room_id}))
        r = await self.get(f"{V3}/joined_rooms", token=self.bob)
        self.assertEqual(r.json["joined_rooms"], [room_id])
        await self.assert_rejected_without_change("POST", f"{V3}/join/{quote('#unknown:test', safe='')}", {}, 404,
                                                  "M_NOT_FOUND", token=self.bob)
        await self.assert_rejected_without_change("POST", f"{V3}/join/{quote('#remote:elsewhere', safe='')}", {},
                                                  502, "M_UNKNOWN", token=self.bob)
        await self.assert_rejected_without_change("POST", f"{V3}/join/{quote('#bad', safe='')}", {}, 400,
                                                  "M_INVALID_PARAM", token=self.bob)
        # An alias of an invite-only room resolves, and the join rules still refuse.
        await self.create(self.alice, room_alias_name="closed")
        await self.assert_rejected_without_change("POST", f"{V3}/join/{quote('#closed:test', safe='')}", {},
                                                  403, "M_FORBIDDEN", token=self.bob)

    async def test_move_to_upgraded_room(self) -> None:
        """The hook room upgrades call (step 4): aliases and publication follow the new room."""
        await self.users()
        old = await self.create(self.alice, visibility="public", preset="public_chat", room_alias_name="old")
        new = await self.create(self.alice, preset="public_chat")
        moved = await self.hs.directory_handler.move_to_upgraded_room(old, new)
        self.assertEqual(moved, ["#old:test"])
        self.assertEqual((await self.get(alias_path("#old:test"))).json["room_id"], new)
        self.assertEqual((await self.get(f"{V3}/directory/list/room/{quote(old)}")).json["visibility"], "private")
        self.assertEqual((await self.get(f"{V3}/directory/list/room/{quote(new)}")).json["visibility"], "public")


class RoomVisibilityTest(DirectoryTestCase):
    async def test_get_and_set(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        path = f"{V3}/directory/list/room/{quote(room_id)}"
        r = await self.get(path)
        self.assertEqual((r.code, r.json), (200, {"visibility": "private"}))
        r = await self.request("PUT", path, {"visibility": "public"}, token=self.alice)
        self.assertEqual((r.code, r.json), (200, {}))
        self.assertEqual((await self.get(path)).json, {"visibility": "public"})
        r = await self.request("PUT", path, {"visibility": "public"}, token=self.alice)  # no change needed
        self.assertEqual(r.code, 200)
        r = await self.request("PUT", path, {"visibility": "private"}, token=self.alice)
        self.assertEqual((await self.get(path)).json, {"visibility": "private"})
        r = await self.request("PUT", path, {}, token=self.alice)  # defaults to public
        self.assertEqual((await self.get(path)).json, {"visibility": "public"})

    async def test_create_room_visibility_public(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, visibility="public")
        r = await self.get(f"{V3}/directory/list/room/{quote(room_id)}")
        self.assertEqual(r.json, {"visibility": "public"})

    async def test_errors_and_permissions(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        path = f"{V3}/directory/list/room/{quote(room_id)}"
        self.assert_error(await self.get(f"{V3}/directory/list/room/{quote('!nope:test')}"), 404, "M_NOT_FOUND")
        reject = self.assert_rejected_without_change
        await reject("PUT", f"{V3}/directory/list/room/{quote('!nope:test')}", {"visibility": "public"}, 404,
                     "M_NOT_FOUND", token=self.alice)
        await reject("PUT", path, {"visibility": "hidden"}, 400, "M_INVALID_PARAM", token=self.alice)
        await reject("PUT", path, {"visibility": "public"}, 401, "M_MISSING_TOKEN")
        # Not in the room; then in it without power.
        await reject("PUT", path, {"visibility": "public"}, 403, "M_FORBIDDEN", token=self.bob)
        await self.join(self.bob, room_id)
        await reject("PUT", path, {"visibility": "public"}, 403, "M_FORBIDDEN", token=self.bob)
        # Given the power to send m.room.canonical_alias, Bob may.
        pl = (await self.state(self.alice, room_id, "m.room.power_levels")).json
        pl["users"]["@bob:test"] = 50
        await self.put_state(self.alice, room_id, "m.room.power_levels", pl)
        r = await self.request("PUT", path, {"visibility": "public"}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        # A server admin may too, without being in the room.
        carol = (await self.register("carol"))["access_token"]
        await self.hs.users_store.set_admin("@carol:test", True)
        r = await self.request("PUT", path, {"visibility": "private"}, token=carol)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual((await self.get(path)).json, {"visibility": "private"})


class PublicRoomsTest(DirectoryTestCase):
    async def test_entries(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, visibility="public", name="Cheese", topic="Tasty cheese",
                                    room_alias_name="cheese")
        await self.put_state(self.alice, room_id, "m.room.avatar", {"url": "mxc://test/abc"})
        await self.put_state(self.alice, room_id, "m.room.history_visibility",
                             {"history_visibility": "world_readable"})
        await self.put_state(self.alice, room_id, "m.room.guest_access", {"guest_access": "can_join"})
        await self.join(self.bob, room_id)
        space = await self.create(self.alice, visibility="public", creation_content={"type": "m.space"})
        await self.create(self.alice, preset="public_chat")  # not published
        # Published but invite-only and not world readable: left out of the listing.
        await self.create(self.alice, visibility="public", preset="private_chat")

        r = await self.get(f"{V3}/publicRooms")  # no access token needed
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["total_room_count_estimate"], 2)
        self.assertNotIn("next_batch", r.json)
        self.assertNotIn("prev_batch", r.json)
        self.assertEqual(r.json["chunk"], [
            {"room_id": room_id, "num_joined_members": 2, "world_readable": True, "guest_can_join": True,
             "name": "Cheese", "topic": "Tasty cheese", "canonical_alias": "#cheese:test",
             "avatar_url": "mxc://test/abc", "join_rule": "public"},
            {"room_id": space, "num_joined_members": 1, "world_readable": False, "guest_can_join": False,
             "join_rule": "public", "room_type": "m.space"},
        ])
        r = await self.post(f"{V3}/publicRooms", {}, token=self.bob)
        self.assertEqual(len(r.json["chunk"]), 2)

    async def test_search_and_room_types(self) -> None:
        await self.users()
        a = await self.create(self.alice, visibility="public", name="Gardening club")
        b = await self.create(self.alice, visibility="public", topic="All about GARDENS")
        c = await self.create(self.alice, visibility="public", room_alias_name="gardeners")
        d = await self.create(self.alice, visibility="public", name="Cooking",
                              creation_content={"type": "m.space"})

        async def search(body: dict) -> list[str]:
            r = await self.post(f"{V3}/publicRooms", body, token=self.alice)
            self.assertEqual(r.code, 200, r.json)
            return sorted(e["room_id"] for e in r.json["chunk"])

        self.assertEqual(await search({"filter": {"generic_search_term": "garden"}}), sorted([a, b, c]))
        self.assertEqual(await search({"filter": {"generic_search_term": "CLUB"}}), [a])
        self.assertEqual(await search({"filter": {"generic_search_term": "nothing"}}), [])
        self.assertEqual(await search({"filter": {"room_types": ["m.space"]}}), [d])
        self.assertEqual(await search({"filter": {"room_types": [None]}}), sorted([a, b, c]))
        self.assertEqual(await search({"filter": {"room_types": [None, "m.space"]}}), sorted([a, b, c, d]))
        self.assertEqual(await search({"filter": {"room_types": []}}), sorted([a, b, c, d]))
        self.assertEqual(await search({"include_all_networks": True}), sorted([a, b, c, d]))
        self.assertEqual(await search({"third_party_instance_id": "irc"}), [])
        r = await self.post(f"{V3}/publicRooms", {"filter": {"generic_search_term": "garden"}, "limit": 2},
                            token=self.alice)
        self.assertEqual((len(r.json["chunk"]), r.json["total_room_count_estimate"]), (2, 3))

    async def test_pagination(self) -> None:
        await self.users()
        rooms = [await self.create(self.alice, visibility="public", name=f"room {i}") for i in range(5)]
        # Bob joins two rooms: they come first, by joined members.
        for room in rooms[3:]:
            await self.join(self.bob, room)
        expected = sorted(rooms[3:]) + sorted(rooms[:3])

        seen: list[str] = []
        tokens: list[str | None] = [None]
        while True:
            since = tokens[-1]
            r = await self.get(f"{V3}/publicRooms?limit=2" + (f"&since={quote(since)}" if since else ""))
            self.assertEqual(r.code, 200, r.json)
            self.assertEqual(r.json["total_room_count_estimate"], 5)
            self.assertEqual("prev_batch" in r.json, bool(seen))
            seen += [e["room_id"] for e in r.json["chunk"]]
            if "next_batch" not in r.json:
                break
            tokens.append(r.json["next_batch"])
        self.assertEqual(seen, expected)
        self.assertEqual(len(tokens), 3)

        # Going back from the last page, through POST.
        r = await self.post(f"{V3}/publicRooms", {"limit": 2, "since": tokens[2]}, token=self.bob)
        self.assertEqual([e["room_id"] for e in r.json["chunk"]], expected[4:])
        r = await self.post(f"{V3}/publicRooms", {"limit": 2, "since": r.json["prev_batch"]}, token=self.bob)
        self.assertEqual([e["room_id"] for e in r.json["chunk"]], expected[2:4])
        self.assertIn("next_batch", r.json)
        r = await self.post(f"{V3}/publicRooms", {"limit": 2, "since": r.json["prev_batch"]}, token=self.bob)
        self.assertEqual([e["room_id"] for e in r.json["chunk"]], expected[:2])
        self.assertNotIn("prev_batch", r.json)

        # A token stays valid when rooms are added before it or when its room leaves the directory.
        r = await self.get(f"{V3}/publicRooms?limit=2&since={quote(tokens[1])}")
        first_page_end = tokens[1]
        await self.request("PUT", f"{V3}/directory/list/room/{quote(expected[1])}", {"visibility": "private"},
                           token=self.alice)
        new = await self.create(self.alice, visibility="public", name="new")
        carol = (await self.register("carol"))["access_token"]
        await self.join(self.bob, new)
        await self.join(carol, new)  # three members: it sorts before the token
        r2 = await self.get(f"{V3}/publicRooms?limit=2&since={quote(first_page_end)}")
        self.assertEqual([e["room_id"] for e in r2.json["chunk"]], [e["room_id"] for e in r.json["chunk"]])
        r = await self.get(f"{V3}/publicRooms?limit=2")
        self.assertEqual([e["room_id"] for e in r.json["chunk"]], [new, expected[0]])

    async def test_errors(self) -> None:
        await self.users()
        self.assert_error(await self.get(f"{V3}/publicRooms?since=garbage"), 400, "M_INVALID_PARAM")
        self.assert_error(await self.get(f"{V3}/publicRooms?limit=x"), 400, "M_INVALID_PARAM")
        self.assert_error(await self.get(f"{V3}/publicRooms?limit=-1"), 400, "M_INVALID_PARAM")
        self.assert_error(await self.get(f"{V3}/publicRooms?server=elsewhere"), 502, "M_UNKNOWN")  # unreachable
        self.assert_error(await self.get(f"{V3}/publicRooms?server=bad%20name"), 400, "M_INVALID_PARAM")
        r = await self.get(f"{V3}/publicRooms?server=test")
        self.assertEqual((r.code, r.json["chunk"]), (200, []))
        self.assert_error(await self.get(f"{V3}/publicRooms", token="bogus"), 401, "M_UNKNOWN_TOKEN")
        self.assert_error(await self.post(f"{V3}/publicRooms", {}), 401, "M_MISSING_TOKEN")
        self.assert_error(await self.post(f"{V3}/publicRooms", {"limit": "2"}, token=self.alice), 400, "M_BAD_JSON")
        self.assert_error(await self.post(f"{V3}/publicRooms", {"since": "zz"}, token=self.alice), 400,
                          "M_INVALID_PARAM")
        self.assert_error(await self.post(f"{V3}/publicRooms", {"filter": {"room_types": [1]}}, token=self.alice),
                          400, "M_BAD_JSON")

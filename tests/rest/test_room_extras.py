"""Event context, timestamp_to_event, reports, forget, knock and room upgrades."""

from urllib.parse import quote

from tests.rest.test_rooms import V3, RoomsTestCase

V1 = "/_matrix/client/v1"


class ExtrasTestCase(RoomsTestCase):
    async def users(self):
        await super().users()
        self.carol = (await self.register("carol"))["access_token"]

    async def create(self, token: str, **body) -> str:
        # Two v12 rooms created by one user in the same millisecond with the same content would
        # have the same create event, hence the same room ID: the fake clock must move.
        self.advance(1)
        return await super().create(token, **body)

    async def state(self, token: str, room_id: str) -> dict:
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/state", token=token)
        self.assertEqual(r.code, 200, r.json)
        return {(e["type"], e["state_key"]): e for e in r.json}

    async def put_state(self, token: str, room_id: str, event_type: str, content: dict, state_key: str = "") -> str:
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/{event_type}/{state_key}", content,
                               token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["event_id"]


class ContextTest(ExtrasTestCase):
    async def test_context_around_an_event(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, name="Room")
        room = quote(room_id)
        ids = [await self.send(self.alice, room_id, f"m{i}", f"t{i}") for i in range(1, 6)]
        r = await self.get(f"{V3}/rooms/{room}/context/{quote(ids[2])}?limit=2", token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["event"]["event_id"], ids[2])
        self.assertEqual([e["event_id"] for e in r.json["events_before"]], [ids[1]])
        self.assertEqual([e["event_id"] for e in r.json["events_after"]], [ids[3]])
        state = {(e["type"], e["state_key"]) for e in r.json["state"]}
        self.assertIn(("m.room.create", ""), state)
        self.assertIn(("m.room.name", ""), state)
        # The tokens continue with /messages.
        fwd = await self.get(f"{V3}/rooms/{room}/messages?dir=f&from={r.json['end']}", token=self.alice)
        self.assertEqual([e["event_id"] for e in fwd.json["chunk"]], [ids[4]])
        back = await self.get(f"{V3}/rooms/{room}/messages?dir=b&limit=1&from={r.json['start']}", token=self.alice)
        self.assertEqual([e["event_id"] for e in back.json["chunk"]], [ids[0]])

        # Default limit 10: before is reverse-chronological, after chronological.
        r = await self.get(f"{V3}/rooms/{room}/context/{quote(ids[2])}", token=self.alice)
        self.assertEqual([e["event_id"] for e in r.json["events_before"]][:2], [ids[1], ids[0]])
        self.assertEqual([e["event_id"] for e in r.json["events_after"]], ids[3:])
        # limit=0: only the event.
        r = await self.get(f"{V3}/rooms/{room}/context/{quote(ids[2])}?limit=0", token=self.alice)
        self.assertEqual((r.json["events_before"], r.json["events_after"]), ([], []))
        self.assertEqual(r.json["event"]["event_id"], ids[2])

    async def test_context_filter(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, name="Room")
        ids = [await self.send(self.alice, room_id, f"m{i}", f"t{i}") for i in range(1, 4)]
        f = quote('{"types":["m.room.message"]}')
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/context/{quote(ids[1])}?limit=10&filter={f}",
                           token=self.alice)
        self.assertEqual([e["event_id"] for e in r.json["events_before"]], [ids[0]])
        self.assertEqual([e["event_id"] for e in r.json["events_after"]], [ids[2]])
        self.assertEqual(r.json["state"], [])  # the filter applies to the state too
        f = quote('{"not_senders":["@alice:test"]}')
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/context/{quote(ids[1])}?filter={f}", token=self.alice)
        self.assertEqual((r.json["events_before"], r.json["events_after"]), ([], []))
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/context/{quote(ids[1])}?filter=nope", token=self.alice)
        self.assert_error(r, 400, "M_NOT_JSON")

    async def test_invisible_and_unknown_events(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        room = quote(room_id)
        await self.put_state(self.alice, room_id, "m.room.history_visibility", {"history_visibility": "joined"})
        secret = await self.send(self.alice, room_id, "secret", "t1")
        r = await self.get(f"{V3}/rooms/{room}/context/{quote(secret)}", token=self.bob)
        self.assert_error(r, 404, "M_NOT_FOUND")
        r = await self.get(f"{V3}/rooms/{room}/context/{quote('$nope')}", token=self.alice)
        self.assert_error(r, 404, "M_NOT_FOUND")
        other = await self.create(self.alice)
        r = await self.get(f"{V3}/rooms/{quote(other)}/context/{quote(secret)}", token=self.alice)
        self.assert_error(r, 404, "M_NOT_FOUND")  # the event is in another room
        # Bob joins a room with "joined" history: he sees events from his join, not before.
        await self.post(f"{V3}/rooms/{room}/join", {}, token=self.bob)
        later = await self.send(self.alice, room_id, "later", "t2")
        r = await self.get(f"{V3}/rooms/{room}/context/{quote(later)}", token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        self.assertNotIn(secret, [e["event_id"] for e in r.json["events_before"]])


class TimestampToEventTest(ExtrasTestCase):
    async def test_nearest_event_each_way(self) -> None:
        await self.users()
        room_id = await self.create(self.alice)
        room = quote(room_id)
        self.advance(100)
        first = await self.send(self.alice, room_id, "first", "t1")
        first_ts = (await self.get(f"{V3}/rooms/{room}/event/{quote(first)}", token=self.alice)).json[
            "origin_server_ts"]
        self.advance(100)
        second = await self.send(self.alice, room_id, "second", "t2")
        middle = first_ts + 50_000
        r = await self.get(f"{V1}/rooms/{room}/timestamp_to_event?ts={middle}&dir=f", token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["event_id"], second)
        self.assertEqual(r.json["origin_server_ts"], first_ts + 100_000)
        r = await self.get(f"{V1}/rooms/{room}/timestamp_to_event?ts={middle}&dir=b", token=self.alice)
        self.assertEqual(r.json, {"event_id": first, "origin_server_ts": first_ts})
        r = await self.get(f"{V1}/rooms/{room}/timestamp_to_event?ts={first_ts}&dir=f", token=self.alice)
        self.assertEqual(r.json["event_id"], first)  # an exact hit counts
        r = await self.get(f"{V1}/rooms/{room}/timestamp_to_event?ts={first_ts + 10**9}&dir=f", token=self.alice)
        self.assert_error(r, 404, "M_NOT_FOUND")
        r = await self.get(f"{V1}/rooms/{room}/timestamp_to_event?ts=0&dir=b", token=self.alice)
        self.assert_error(r, 404, "M_NOT_FOUND")

    async def test_refusals(self) -> None:
        await self.users()
        room_id = await self.create(self.alice)
        room = quote(room_id)
        await self.send(self.alice, room_id, "secret", "t1")
        r = await self.get(f"{V1}/rooms/{room}/timestamp_to_event?ts=0&dir=f", token=self.bob)
        self.assert_error(r, 404, "M_NOT_FOUND")  # an outsider sees no event
        r = await self.get(f"{V1}/rooms/{quote('!nope:test')}/timestamp_to_event?ts=0&dir=f", token=self.alice)
        self.assert_error(r, 404, "M_NOT_FOUND")
        r = await self.get(f"{V1}/rooms/{room}/timestamp_to_event?ts=0", token=self.alice)
        self.assert_error(r, 400, "M_MISSING_PARAM")
        r = await self.get(f"{V1}/rooms/{room}/timestamp_to_event?ts=0&dir=up", token=self.alice)
        self.assert_error(r, 400, "M_INVALID_PARAM")
        r = await self.get(f"{V1}/rooms/{room}/timestamp_to_event?ts=soon&dir=f", token=self.alice)
        self.assert_error(r, 400, "M_INVALID_PARAM")
        r = await self.get(f"{V3}/rooms/{room}/timestamp_to_event?ts=0&dir=f", token=self.alice)
        self.assertEqual(r.code, 404)  # only under /v1


class ReportTest(ExtrasTestCase):
    async def test_report_event(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        room = quote(room_id)
        await self.post(f"{V3}/rooms/{room}/join", {}, token=self.bob)
        event_id = await self.send(self.alice, room_id, "rude", "t1")
        r = await self.post(f"{V3}/rooms/{room}/report/{quote(event_id)}", {"reason": "rude", "score": -100},
                            token=self.bob)
        self.assertEqual((r.code, r.json), (200, {}))
        r = await self.post(f"{V3}/rooms/{room}/report/{quote(event_id)}", {}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        reports = await self.hs.room_extras_store.get_event_reports(room_id)
        self.assertEqual([(x["event_id"], x["user_id"], x["reason"], x["score"]) for x in reports],
                         [(event_id, "@bob:test", "rude", -100), (event_id, "@alice:test", None, None)])

    async def test_report_event_refusals(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        room = quote(room_id)
        event_id = await self.send(self.alice, room_id, "rude", "t1")
        path = f"{V3}/rooms/{room}/report/{quote(event_id)}"
        # Carol is not joined: 404 (the spec's "not joined to the room").
        await self.assert_rejected_without_change("POST", path, {"reason": "x"}, 404, "M_NOT_FOUND",
                                                  token=self.carol)
        await self.assert_rejected_without_change("POST", f"{V3}/rooms/{room}/report/{quote('$nope')}", {},
                                                  404, "M_NOT_FOUND", token=self.alice)
        await self.assert_rejected_without_change("POST", path, {"score": 5}, 400, "M_INVALID_PARAM",
                                                  token=self.alice)
        await self.assert_rejected_without_change("POST", path, {"reason": 1}, 400, "M_BAD_JSON",
                                                  token=self.alice)
        # Bob joins with "joined" history: the event from before his join is invisible to him.
        await self.put_state(self.alice, room_id, "m.room.history_visibility", {"history_visibility": "joined"})
        hidden = await self.send(self.alice, room_id, "before bob", "t2")
        await self.post(f"{V3}/rooms/{room}/join", {}, token=self.bob)
        await self.assert_rejected_without_change("POST", f"{V3}/rooms/{room}/report/{quote(hidden)}", {},
                                                  404, "M_NOT_FOUND", token=self.bob)

    async def test_report_room(self) -> None:
        await self.users()
        room_id = await self.create(self.alice)
        room = quote(room_id)
        # The reporter need not be in the room.
        r = await self.post(f"{V3}/rooms/{room}/report", {"reason": "spam"}, token=self.bob)
        self.assertEqual((r.code, r.json), (200, {}))
        reports = await self.hs.room_extras_store.get_room_reports(room_id)
        self.assertEqual([(x["user_id"], x["reason"]) for x in reports], [("@bob:test", "spam")])
        await self.assert_rejected_without_change("POST", f"{V3}/rooms/{room}/report", {}, 400,
                                                  "M_MISSING_PARAM", token=self.bob)
        await self.assert_rejected_without_change("POST", f"{V3}/rooms/{quote('!nope:test')}/report",
                                                  {"reason": ""}, 404, "M_NOT_FOUND", token=self.bob)


class ForgetTest(ExtrasTestCase):
    async def test_forget_after_leaving(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        room = quote(room_id)
        await self.post(f"{V3}/rooms/{room}/join", {}, token=self.bob)
        event_id = await self.send(self.alice, room_id, "hello", "t1")
        # Joined: must leave first (400 M_UNKNOWN, as the spec's example).
        await self.assert_rejected_without_change("POST", f"{V3}/rooms/{room}/forget", {}, 400, "M_UNKNOWN",
                                                  token=self.bob)
        await self.post(f"{V3}/rooms/{room}/leave", {}, token=self.bob)
        r = await self.get(f"{V3}/rooms/{room}/messages?dir=b", token=self.bob)
        self.assertIn("hello", [e["content"].get("body") for e in r.json["chunk"]])

        r = await self.post(f"{V3}/rooms/{room}/forget", {}, token=self.bob)
        self.assertEqual((r.code, r.json), (200, {}))
        r = await self.post(f"{V3}/rooms/{room}/forget", {}, token=self.bob)
        self.assertEqual(r.code, 200)  # forgetting again is harmless
        self.assert_error(await self.get(f"{V3}/rooms/{room}/messages?dir=b", token=self.bob), 403, "M_FORBIDDEN")
        self.assert_error(await self.get(f"{V3}/rooms/{room}/state", token=self.bob), 403, "M_FORBIDDEN")
        r = await self.get(f"{V3}/rooms/{room}/context/{quote(event_id)}", token=self.bob)
        self.assert_error(r, 404, "M_NOT_FOUND")
        r = await self.get(f"{V3}/rooms/{room}/event/{quote(event_id)}", token=self.bob)
        self.assert_error(r, 404, "M_NOT_FOUND")
        # Alice still reads it; Bob rejoining remembers the room again.
        r = await self.get(f"{V3}/rooms/{room}/messages?dir=b", token=self.alice)
        self.assertEqual(r.code, 200)
        await self.post(f"{V3}/rooms/{room}/join", {}, token=self.bob)
        r = await self.get(f"{V3}/rooms/{room}/messages?dir=b", token=self.bob)
        self.assertEqual(r.code, 200, r.json)

    async def test_forget_refusals(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, invite=["@bob:test"])
        room = quote(room_id)
        # Invited is not left.
        await self.assert_rejected_without_change("POST", f"{V3}/rooms/{room}/forget", {}, 400, "M_UNKNOWN",
                                                  token=self.bob)
        await self.assert_rejected_without_change("POST", f"{V3}/rooms/{room}/forget", {}, 404, "M_NOT_FOUND",
                                                  token=self.carol)
        await self.assert_rejected_without_change("POST", f"{V3}/rooms/{quote('!nope:test')}/forget", {}, 404,
                                                  "M_NOT_FOUND", token=self.alice)


class KnockTest(ExtrasTestCase):
    async def test_knock(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, initial_state=[
            {"type": "m.room.join_rules", "content": {"join_rule": "knock"}}])
        r = await self.post(f"{V3}/knock/{quote(room_id)}", {"reason": "let me in"}, token=self.bob)
        self.assertEqual((r.code, r.json), (200, {"room_id": room_id}))
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/state/m.room.member/@bob:test", token=self.alice)
        self.assertEqual(r.json, {"membership": "knock", "reason": "let me in", "displayname": "bob"})
        # Alice accepts by inviting; Bob joins.
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/invite", {"user_id": "@bob:test"}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        # Joined users cannot knock (the auth rules).
        await self.assert_rejected_without_change("POST", f"{V3}/knock/{quote(room_id)}", {}, 403, "M_FORBIDDEN",
                                                  token=self.bob)

    async def test_knock_restricted_in_v10(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, room_version="10", initial_state=[
            {"type": "m.room.join_rules", "content": {"join_rule": "knock_restricted", "allow": []}}])
        r = await self.post(f"{V3}/knock/{quote(room_id)}", {}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)

    async def test_knock_refusals(self) -> None:
        await self.users()
        public = await self.create(self.alice, preset="public_chat")
        private = await self.create(self.alice)
        for room_id in (public, private):
            await self.assert_rejected_without_change("POST", f"{V3}/knock/{quote(room_id)}", {}, 403,
                                                      "M_FORBIDDEN", token=self.bob)
        await self.assert_rejected_without_change("POST", f"{V3}/knock/{quote('!nope:test')}", {}, 404,
                                                  "M_NOT_FOUND", token=self.bob)
        await self.assert_rejected_without_change("POST", f"{V3}/knock/{quote('#nope:test')}", {}, 404,
                                                  "M_NOT_FOUND", token=self.bob)
        await self.assert_rejected_without_change("POST", f"{V3}/knock/{quote(private)}", {"reason": 3}, 400,
                                                  "M_BAD_JSON", token=self.bob)
        # A banned user cannot knock.
        knock_room = await self.create(self.alice, initial_state=[
            {"type": "m.room.join_rules", "content": {"join_rule": "knock"}}])
        r = await self.post(f"{V3}/rooms/{quote(knock_room)}/ban", {"user_id": "@bob:test"}, token=self.alice)
        self.assertEqual(r.code, 200)
        await self.assert_rejected_without_change("POST", f"{V3}/knock/{quote(knock_room)}", {}, 403,
                                                  "M_FORBIDDEN", token=self.bob)


class UpgradeTest(ExtrasTestCase):
    async def upgrade(self, token: str, room_id: str, **body) -> str:
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/upgrade", body, token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["replacement_room"]

    async def test_upgrade_v11_to_v12(self) -> None:
        await self.users()
        old = await self.create(self.alice, room_version="11", preset="public_chat", name="Room", topic="About",
                                invite=["@carol:test"],
                                creation_content={"type": "m.space"})
        await self.post(f"{V3}/rooms/{quote(old)}/join", {}, token=self.bob)
        await self.put_state(self.alice, old, "m.room.avatar", {"url": "mxc://test/a"})
        await self.put_state(self.alice, old, "m.room.encryption", {"algorithm": "m.megolm.v1.aes-sha2"})
        await self.put_state(self.alice, old, "m.room.history_visibility", {"history_visibility": "invited"})
        await self.put_state(self.alice, old, "com.example.custom", {"x": 1})
        last = await self.send(self.alice, old, "last words", "t1")
        new = await self.upgrade(self.alice, old, new_version="12", additional_creators=["@bob:test"])
        self.assertNotEqual(new, old)

        old_state = await self.state(self.alice, old)
        tombstone = old_state[("m.room.tombstone", "")]["content"]
        self.assertEqual(tombstone["replacement_room"], new)
        self.assertIsInstance(tombstone["body"], str)
        old_pl = old_state[("m.room.power_levels", "")]["content"]
        self.assertEqual((old_pl["events_default"], old_pl["invite"]), (50, 50))

        new_state = await self.state(self.alice, new)
        create = new_state[("m.room.create", "")]["content"]
        self.assertEqual(create["room_version"], "12")
        self.assertEqual(create["predecessor"], {"room_id": old, "event_id": last})
        self.assertEqual(create["type"], "m.space")
        self.assertEqual(create["additional_creators"], ["@bob:test"])
        self.assertNotIn("creator", create)
        for t in ("m.room.name", "m.room.topic", "m.room.avatar", "m.room.encryption", "m.room.join_rules",
                  "m.room.history_visibility", "m.room.guest_access"):
            self.assertEqual(new_state[(t, "")]["content"], old_state[(t, "")]["content"], t)
        self.assertNotIn(("com.example.custom", ""), new_state)
        self.assertNotIn(("m.room.tombstone", ""), new_state)
        pl = new_state[("m.room.power_levels", "")]["content"]
        self.assertNotIn("@alice:test", pl["users"])  # v12 creators are not listed
        self.assertNotIn("@bob:test", pl["users"])
        self.assertEqual(pl["events"], old_pl["events"])
        self.assertEqual(pl["events_default"], 0)  # the new room is not restricted
        # Members are not copied; invitees are invited again.
        self.assertEqual(new_state[("m.room.member", "@carol:test")]["content"]["membership"], "invite")
        self.assertEqual(new_state[("m.room.member", "@alice:test")]["content"]["membership"], "join")
        self.assertNotIn(("m.room.member", "@bob:test"), new_state)

    async def test_additional_creators_are_not_carried_over(self) -> None:
        await self.users()
        old = await self.create(self.alice, preset="trusted_private_chat", invite=["@bob:test"])
        old_create = (await self.state(self.alice, old))[("m.room.create", "")]["content"]
        self.assertEqual(old_create["additional_creators"], ["@bob:test"])
        new = await self.upgrade(self.alice, old, new_version="12")
        state = await self.state(self.alice, new)
        self.assertNotIn("additional_creators", state[("m.room.create", "")]["content"])  # the spec's note
        self.assertEqual(state[("m.room.member", "@bob:test")]["content"]["membership"], "invite")
        old_pl = (await self.state(self.alice, old))[("m.room.power_levels", "")]["content"]
        self.assertEqual((old_pl["events_default"], old_pl["invite"]), (50, 50))

    async def test_upgrade_v10_to_v11_keeps_levels(self) -> None:
        await self.users()
        old = await self.create(self.alice, room_version="10", preset="public_chat")
        await self.post(f"{V3}/rooms/{quote(old)}/join", {}, token=self.bob)
        pl = (await self.state(self.alice, old))[("m.room.power_levels", "")]["content"]
        pl["users"]["@bob:test"] = 60
        await self.put_state(self.alice, old, "m.room.power_levels", pl)
        new = await self.upgrade(self.alice, old, new_version="11", additional_creators=["@bob:test"])
        state = await self.state(self.alice, new)
        create = state[("m.room.create", "")]["content"]
        self.assertNotIn("additional_creators", create)  # ignored below v12
        self.assertEqual(create["predecessor"]["room_id"], old)
        self.assertNotIn("creator", create)  # v11: the sender is the creator
        self.assertEqual(state[("m.room.guest_access", "")]["content"], {"guest_access": "forbidden"})
        new_pl = state[("m.room.power_levels", "")]["content"]
        self.assertEqual(new_pl["users"], {"@alice:test": 100, "@bob:test": 60})

    async def test_upgrader_raised_then_restored(self) -> None:
        await self.users()
        old = await self.create(self.alice, room_version="11", preset="public_chat", name="Room",
                                power_level_content_override={
                                    "events": {"m.room.tombstone": 50, "m.room.name": 100,
                                               "m.room.power_levels": 100}})
        await self.post(f"{V3}/rooms/{quote(old)}/join", {}, token=self.bob)
        pl = (await self.state(self.alice, old))[("m.room.power_levels", "")]["content"]
        pl["users"]["@bob:test"] = 50
        await self.put_state(self.alice, old, "m.room.power_levels", pl)
        # Bob (50) may send the tombstone, so he may upgrade; he needs 100 for the name in the new room.
        new = await self.upgrade(self.bob, old, new_version="11")
        state = await self.state(self.bob, new)
        self.assertEqual(state[("m.room.name", "")]["content"], {"name": "Room"})
        new_pl = state[("m.room.power_levels", "")]["content"]
        self.assertEqual(new_pl["users"]["@bob:test"], 50)  # back to his old level
        self.assertEqual(new_pl["users"]["@alice:test"], 100)
        old_state = await self.state(self.alice, old)
        self.assertEqual(old_state[("m.room.tombstone", "")]["content"]["replacement_room"], new)
        # Bob could not change the old room's levels (100 needed): left as they were.
        self.assertEqual(old_state[("m.room.power_levels", "")]["content"]["events_default"], 0)

    async def test_upgrade_refusals(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        room = quote(room_id)
        await self.post(f"{V3}/rooms/{room}/join", {}, token=self.bob)
        path = f"{V3}/rooms/{room}/upgrade"
        await self.assert_rejected_without_change("POST", path, {"new_version": "12"}, 403, "M_FORBIDDEN",
                                                  token=self.bob)  # power 0
        await self.assert_rejected_without_change("POST", path, {"new_version": "12"}, 403, "M_FORBIDDEN",
                                                  token=self.carol)  # not in the room
        for version in ("13", "0", "1.0", "nope"):
            await self.assert_rejected_without_change("POST", path, {"new_version": version}, 400,
                                                      "M_UNSUPPORTED_ROOM_VERSION", token=self.alice)
        await self.assert_rejected_without_change("POST", path, {}, 400, "M_MISSING_PARAM", token=self.alice)
        await self.assert_rejected_without_change("POST", path, {"new_version": 12}, 400, "M_BAD_JSON",
                                                  token=self.alice)
        await self.assert_rejected_without_change("POST", path, {"new_version": "12", "additional_creators": ["x"]},
                                                  400, "M_INVALID_PARAM", token=self.alice)
        await self.assert_rejected_without_change("POST", f"{V3}/rooms/{quote('!nope:test')}/upgrade",
                                                  {"new_version": "12"}, 403, "M_FORBIDDEN", token=self.alice)


class UpgradeMovesAliasesTest(RoomsTestCase):
    async def test_aliases_follow_the_upgrade(self) -> None:
        alice = (await self.register("alice"))["access_token"]
        r = await self.post("/_matrix/client/v3/createRoom", {"room_version": "11", "room_alias_name": "lobby",
                                                               "visibility": "public"}, token=alice)
        old = r.json["room_id"]
        r = await self.post(f"/_matrix/client/v3/rooms/{quote(old)}/upgrade", {"new_version": "12"}, token=alice)
        self.assertEqual(r.code, 200, r.json)
        new = r.json["replacement_room"]
        r = await self.get(f"/_matrix/client/v3/directory/room/{quote('#lobby:test')}")
        self.assertEqual(r.json["room_id"], new)
        r = await self.get(f"/_matrix/client/v3/rooms/{quote(new)}/state/m.room.canonical_alias", token=alice)
        self.assertEqual(r.json["alias"], "#lobby:test")
        r = await self.get(f"/_matrix/client/v3/rooms/{quote(old)}/state/m.room.canonical_alias", token=alice)
        self.assertEqual(r.json, {})
        r = await self.get(f"/_matrix/client/v3/directory/list/room/{quote(new)}")
        self.assertEqual(r.json, {"visibility": "public"})

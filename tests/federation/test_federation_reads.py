"""Other servers reading our rooms: /event, /state_ids, /state, /event_auth, /backfill,
/get_missing_events, /timestamp_to_event; only servers in the room; content they may not see
comes redacted."""

from __future__ import annotations

from urllib.parse import quote

from tests.federation.support import FakeRemote
from tests.server import HomeserverTestCase

F = "/_matrix/federation/v1"


class FederationReadsTest(HomeserverTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.remote = FakeRemote(self)
        me = await self.register("alice")
        self.token = me["access_token"]
        r = await self.post("/_matrix/client/v3/createRoom", {"preset": "public_chat"}, token=self.token)
        self.room_id = r.json["room_id"]
        self.q = quote(self.room_id)

    async def say(self, body: str) -> str:
        r = await self.request("PUT", f"/_matrix/client/v3/rooms/{self.q}/send/m.room.message/{quote(body)}",
                               {"msgtype": "m.text", "body": body}, token=self.token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["event_id"]

    async def join_remote(self) -> str:
        return await self.remote.send_event(self.room_id, "m.room.member", {"membership": "join"},
                                            self.remote.user("bob"), self.remote.user("bob"))

    async def test_a_server_not_in_the_room_is_refused(self) -> None:
        event_id = await self.say("hi")
        for path in (f"{F}/event/{quote(event_id)}", f"{F}/state_ids/{self.q}?event_id={quote(event_id)}",
                     f"{F}/state/{self.q}?event_id={quote(event_id)}", f"{F}/event_auth/{self.q}/{quote(event_id)}",
                     f"{F}/backfill/{self.q}?v={quote(event_id)}&limit=5"):
            r = await self.remote.request("GET", path)
            self.assert_error(r, 403, "M_FORBIDDEN")
        self.assert_error(await self.get(f"{F}/event/{quote(event_id)}"), 401, "M_UNAUTHORIZED")

    async def test_event_state_and_auth(self) -> None:
        first = await self.say("first")
        join = await self.join_remote()
        r = await self.remote.request("GET", f"{F}/event/{quote(first)}")
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["origin"], self.hs.config.server_name)
        (pdu,) = r.json["pdus"]
        self.assertEqual(pdu["content"]["body"], "first")
        self.assertNotIn("unsigned", pdu)

        r = await self.remote.request("GET", f"{F}/state_ids/{self.q}?event_id={quote(join)}")
        self.assertEqual(r.code, 200, r.json)
        state = await self.hs.events_store.get_current_state_ids(self.room_id)
        # The state *before* the join: everything but the join itself.
        self.assertEqual(set(r.json["pdu_ids"]), set(state.values()) - {join})
        self.assertTrue(set(r.json["auth_chain_ids"]) <= set(state.values()))
        r = await self.remote.request("GET", f"{F}/state/{self.q}?event_id={quote(join)}")
        self.assertEqual(len(r.json["pdus"]), len(state) - 1)
        self.assertTrue(all("type" in p for p in r.json["pdus"] + r.json["auth_chain"]))

        r = await self.remote.request("GET", f"{F}/event_auth/{self.q}/{quote(join)}")
        types = sorted(p["type"] for p in r.json["auth_chain"])
        self.assertIn("m.room.join_rules", types)
        self.assertIn("m.room.power_levels", types)

        self.assert_error(await self.remote.request("GET", f"{F}/event/$nope"), 404, "M_NOT_FOUND")
        self.assert_error(await self.remote.request("GET", f"{F}/state_ids/{self.q}"), 400, "M_MISSING_PARAM")

    async def test_backfill_and_missing_events(self) -> None:
        await self.join_remote()
        sent = [await self.say(f"m{i}") for i in range(6)]
        r = await self.remote.request("GET", f"{F}/backfill/{self.q}?v={quote(sent[-1])}&limit=3")
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual([p["content"].get("body") for p in r.json["pdus"]], ["m5", "m4", "m3"])
        r = await self.remote.request("GET", f"{F}/backfill/{self.q}?limit=3")
        self.assert_error(r, 400, "M_INVALID_PARAM")

        r = await self.remote.request("POST", f"{F}/get_missing_events/{self.q}",
                                      {"earliest_events": [sent[1]], "latest_events": [sent[5]], "limit": 10})
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual([p["content"]["body"] for p in r.json["events"]], ["m2", "m3", "m4"])
        r = await self.remote.request("POST", f"{F}/get_missing_events/{self.q}",
                                      {"earliest_events": [], "latest_events": [sent[5]], "limit": 2})
        self.assertEqual([p["content"]["body"] for p in r.json["events"]], ["m3", "m4"])
        r = await self.remote.request("POST", f"{F}/get_missing_events/{self.q}", {"latest_events": "x"})
        self.assertEqual(r.code, 400)

    async def test_history_it_may_not_see_comes_redacted(self) -> None:
        r = await self.request("PUT", f"/_matrix/client/v3/rooms/{self.q}/state/m.room.history_visibility/",
                               {"history_visibility": "joined"}, token=self.token)
        self.assertEqual(r.code, 200)
        secret = await self.say("before bob")
        await self.join_remote()
        after = await self.say("after bob")
        r = await self.remote.request("GET", f"{F}/backfill/{self.q}?v={quote(after)}&limit=10")
        contents = [p["content"] for p in r.json["pdus"] if p["type"] == "m.room.message"]
        self.assertIn({"msgtype": "m.text", "body": "after bob"}, contents)
        self.assertIn({}, contents)  # "before bob", redacted
        r = await self.remote.request("GET", f"{F}/event/{quote(secret)}")
        self.assertEqual(r.json["pdus"][0]["content"], {})

    async def test_timestamp_to_event(self) -> None:
        await self.join_remote()
        event_id = await self.say("now")
        ts = self.hs.clock.time_msec()
        r = await self.remote.request("GET", f"{F}/timestamp_to_event/{self.q}?ts={ts}&dir=b")
        self.assertEqual((r.code, r.json["event_id"]), (200, event_id))
        r = await self.remote.request("GET", f"{F}/timestamp_to_event/{self.q}?ts={2**70}&dir=b")
        self.assertEqual(r.code, 400)

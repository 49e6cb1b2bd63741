"""Backfill: a user of B pages back in /messages through the history of a room of A from before
B joined it (GET /backfill from A, checked, persisted as the room's past); nothing fetched twice;
a server that is down or answers garbage; history visibility; /sync never shows the past."""

from __future__ import annotations

from typing import Any
from unittest import mock
from urllib.parse import quote

from twisted.internet import defer

from tests.federation.two_servers import NAME_A, TwoServerTestCase

V3 = "/_matrix/client/v3"


class BackfillTest(TwoServerTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.alice, self.token_a = await self.register_on(self.site, "alice")
        self.bob, self.token_b = await self.register_on(self.site_b, "bob")

    async def room_with_history(self, count: int, **body: Any) -> str:
        r = await self.post(f"{V3}/createRoom", {"preset": "public_chat", **body}, token=self.token_a)
        self.assertEqual(r.code, 200, r.json)
        room_id = r.json["room_id"]
        for i in range(count):
            r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/m.room.message/t{i}",
                                   {"msgtype": "m.text", "body": f"m{i}"}, token=self.token_a)
            self.assertEqual(r.code, 200, r.json)
        return room_id

    async def join_b(self, room_id: str) -> None:
        r = await self.request("POST", f"{V3}/join/{quote(room_id)}?server_name={quote(NAME_A)}", {},
                               token=self.token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        await self.pump()

    async def page(self, room_id: str, on_b: bool, start: str | None, limit: int = 10) -> dict[str, Any]:
        path = f"{V3}/rooms/{quote(room_id)}/messages?dir=b&limit={limit}"
        if start is not None:
            path += f"&from={quote(start)}"
        r = await self.request("GET", path, token=self.token_b if on_b else self.token_a,
                               site=self.site_b if on_b else self.site)
        self.assertEqual(r.code, 200, r.json)
        return r.json

    async def history(self, room_id: str, on_b: bool = True, limit: int = 10) -> list[dict[str, Any]]:
        """Every event /messages gives, paging back until it has no `end`, newest first."""
        events: list[dict[str, Any]] = []
        token = None
        for _ in range(100):
            page = await self.page(room_id, on_b, token, limit)
            events += page["chunk"]
            if "end" not in page:
                return events
            token = page["end"]
        raise AssertionError("history never ended")

    def backfill_requests(self) -> int:
        return sum(1 for _, _, uri in self.link_b.requests if "/backfill/" in uri)

    async def timeline_rows(self, hs: Any, room_id: str) -> int:
        rows = await hs.database.execute(
            "count", "SELECT COUNT(*) FROM events WHERE room_id = ? AND outlier = 0 AND rejection_reason IS NULL",
            room_id)
        return rows[0][0]

    async def test_pages_back_through_the_history_of_another_server(self) -> None:
        room_id = await self.room_with_history(60)
        await self.join_b(room_id)
        store_b = self.hs_b.events_store
        self.assertTrue(await store_b.get_backward_extremities(room_id, 20))

        on_a = await self.history(room_id, on_b=False, limit=50)
        on_b = await self.history(room_id)
        ids_b = [e["event_id"] for e in on_b]
        self.assertEqual(len(ids_b), len(set(ids_b)))  # no duplicates
        self.assertEqual(ids_b, [e["event_id"] for e in on_a])  # the same history, in the same order
        self.assertEqual(on_b[-1]["type"], "m.room.create")
        bodies = [e["content"]["body"] for e in reversed(on_b) if e["type"] == "m.room.message"]
        self.assertEqual(bodies, [f"m{i}" for i in range(60)])
        self.assertEqual(await store_b.get_backward_extremities(room_id, 20), [])
        requests = self.backfill_requests()
        self.assertGreaterEqual(requests, 2)  # 60 messages do not fit one batch

        # The past never changed the room's current state or its forward extremities.
        self.assertEqual(await store_b.get_current_state_ids(room_id),
                         await self.hs.events_store.get_current_state_ids(room_id))
        self.assertEqual(await store_b.get_forward_extremity_ids(room_id),
                         await self.hs.events_store.get_forward_extremity_ids(room_id))

        # A second pagination reads what is held: nothing is asked again.
        again = await self.history(room_id, limit=7)
        self.assertEqual([e["event_id"] for e in again], ids_b)
        self.assertEqual(self.backfill_requests(), requests)

        # The room goes on: a new message is the newest, the past stays behind the join.
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/m.room.message/late",
                               {"msgtype": "m.text", "body": "late"}, token=self.token_a)
        self.assertEqual(r.code, 200, r.json)

        async def arrived() -> bool:
            return (await self.page(room_id, True, None, 1))["chunk"][0]["content"].get("body") == "late"

        await self.eventually(arrived)
        latest = await self.history(room_id, limit=25)
        self.assertEqual([e["event_id"] for e in latest[1:]], ids_b)

        # Forwards from the start: the same events, oldest first.
        r = await self.request("GET", f"{V3}/rooms/{quote(room_id)}/messages?dir=f&limit=100",
                               token=self.token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual([e["event_id"] for e in r.json["chunk"]], list(reversed([e["event_id"] for e in latest])))

    async def test_the_past_never_appears_in_sync(self) -> None:
        room_id = await self.room_with_history(15)
        await self.join_b(room_id)
        r = await self.request("GET", f"{V3}/sync", token=self.token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        since = r.json["next_batch"]
        history = await self.history(room_id)
        self.assertEqual(len([e for e in history if e["type"] == "m.room.message"]), 15)
        past = {e["event_id"] for e in history if not (e["type"] == "m.room.member" and e["state_key"] == self.bob)}

        # Nothing new since: the past is not news.
        r = await self.request("GET", f"{V3}/sync?since={quote(since)}&timeout=0", token=self.token_b,
                               site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        self.assertNotIn(room_id, r.json.get("rooms", {}).get("join", {}))
        # A first sync's timeline holds only what happened here (our join), the state is current.
        r = await self.request("GET", f"{V3}/sync", token=self.token_b, site=self.site_b)
        timeline = r.json["rooms"]["join"][room_id]["timeline"]
        self.assertEqual(past & {e["event_id"] for e in timeline["events"]}, set())
        self.assertEqual([e["type"] for e in timeline["events"]], ["m.room.member"])
        # Its prev_batch leads /messages into the past.
        page = await self.page(room_id, True, timeline["prev_batch"], 5)
        self.assertEqual(len(page["chunk"]), 5)
        self.assertTrue({e["event_id"] for e in page["chunk"]} <= past)

    async def test_a_server_that_is_down(self) -> None:
        room_id = await self.room_with_history(12)
        await self.join_b(room_id)
        before = await self.timeline_rows(self.hs_b, room_id)
        self.link_b.down.add(NAME_A)
        page = await self.page(room_id, True, None, 10)
        self.assertEqual([e["type"] for e in page["chunk"]], ["m.room.member"])  # what we hold: our join
        self.assertNotIn("end", page)
        self.assertEqual(await self.timeline_rows(self.hs_b, room_id), before)
        # Back up: the history comes.
        self.link_b.down.clear()
        history = await self.history(room_id)
        self.assertEqual(len([e for e in history if e["type"] == "m.room.message"]), 12)

    async def test_garbage_and_bad_signatures_are_not_kept(self) -> None:
        room_id = await self.room_with_history(12)
        await self.join_b(room_id)
        before = await self.timeline_rows(self.hs_b, room_id)
        extremities = await self.hs_b.events_store.get_backward_extremities(room_id, 20)
        api = self.hs_b.federation_api
        real_backfill = api.backfill
        answers: list[Any] = []

        async def tampered(destination: str, room: str, event_ids: list[str], limit: int) -> Any:
            answer = await real_backfill(destination, room, event_ids, limit)
            bad = []
            for pdu in answer["pdus"]:
                pdu = dict(pdu)
                pdu["origin_server_ts"] += 1  # covered by the signature
                bad.append(pdu)
            bad += ["not an event", {"room_id": room, "type": "m.room.message"}, 17]
            other = dict(answer["pdus"][0])
            other["room_id"] = "!elsewhere:" + NAME_A
            bad.append(other)
            answers.append(bad)
            return {"origin": NAME_A, "origin_server_ts": 0, "pdus": bad}

        for garbage in (tampered, None):
            with mock.patch.object(api, "backfill", garbage or self.garbage_answer):
                page = await self.page(room_id, True, None, 10)
            self.assertEqual([e["type"] for e in page["chunk"]], ["m.room.member"])
            self.assertNotIn("end", page)
            self.assertEqual(await self.timeline_rows(self.hs_b, room_id), before)
            self.assertEqual(await self.hs_b.events_store.get_backward_extremities(room_id, 20), extremities)
        self.assertTrue(answers)
        # An honest answer afterwards: the whole history.
        history = await self.history(room_id)
        self.assertEqual([e["content"]["body"] for e in reversed(history) if e["type"] == "m.room.message"],
                         [f"m{i}" for i in range(12)])

    async def garbage_answer(self, destination: str, room: str, event_ids: list[str], limit: int) -> Any:
        return ["pdus", 1]

    async def test_history_before_the_join_stays_hidden_when_visibility_says_joined(self) -> None:
        room_id = await self.room_with_history(
            8, initial_state=[{"type": "m.room.history_visibility", "state_key": "",
                               "content": {"history_visibility": "joined"}}])
        await self.join_b(room_id)
        history = await self.history(room_id)
        # The room's setup came before its history became `joined` (it was `shared` until then:
        # seen by anyone who joins later); the messages after it are not for bob.
        self.assertEqual([(e["type"], e.get("state_key")) for e in history],
                         [("m.room.member", self.bob), ("m.room.history_visibility", ""),
                          ("m.room.guest_access", ""), ("m.room.join_rules", ""), ("m.room.power_levels", ""),
                          ("m.room.member", self.alice), ("m.room.create", "")])
        # They were fetched (redacted by A, whose rules said B's server may not read them) and kept.
        rows = await self.hs_b.database.execute(
            "count", "SELECT COUNT(*) FROM events WHERE room_id = ? AND type = ? AND outlier = 0", room_id,
            "m.room.message")
        self.assertEqual(rows[0][0], 8)
        self.assertEqual(await self.hs_b.events_store.get_backward_extremities(room_id, 20), [])

    async def test_concurrent_pages_share_one_backfill(self) -> None:
        room_id = await self.room_with_history(5)
        await self.join_b(room_id)
        pages = await defer.gatherResults([defer.ensureDeferred(self.page(room_id, True, None, 50))
                                           for _ in range(3)])
        self.assertEqual(self.backfill_requests(), 1)
        for page in pages:
            self.assertEqual(len([e for e in page["chunk"] if e["type"] == "m.room.message"]), 5)

    async def test_auth_events_we_lack_are_fetched(self) -> None:
        room_id = await self.room_with_history(5)
        first_levels = (await self.hs.events_store.get_current_state_ids(room_id))[("m.room.power_levels", "")]
        levels = (await self.hs.events_store.get_event(first_levels)).content
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.power_levels/",
                               {**levels, "ban": 60}, token=self.token_a)
        self.assertEqual(r.code, 200, r.json)
        for i in range(5, 50):
            r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/m.room.message/t{i}",
                                   {"msgtype": "m.text", "body": f"m{i}"}, token=self.token_a)
            self.assertEqual(r.code, 200, r.json)
        await self.join_b(room_id)
        # B's copy of the auth chain loses the first power levels, which the first messages and the
        # second power levels name; the first batch of 50 reaches them but not it.
        store_b = self.hs_b.events_store
        self.assertIn(first_levels, await store_b.get_seen_event_ids([first_levels]))
        def forget(txn: Any) -> None:
            for table in ("events", "event_auth"):
                txn.execute(f"DELETE FROM {table} WHERE event_id = ?", (first_levels,))

        await self.hs_b.database.run("forget", forget)
        store_b._event_cache.pop(first_levels)

        history = await self.history(room_id, limit=50)
        self.assertEqual([e["content"]["body"] for e in reversed(history) if e["type"] == "m.room.message"],
                         [f"m{i}" for i in range(50)])
        self.assertIn(first_levels, {e["event_id"] for e in history})
        self.assertTrue(any("/event_auth/" in uri for _, _, uri in self.link_b.requests))

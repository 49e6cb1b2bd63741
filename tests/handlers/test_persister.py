"""EventPersister: every event goes through it; after the commit each listener hears of it once,
in order, and one failing listener does not keep the others from hearing."""

from __future__ import annotations

from tests.server import HomeserverTestCase


class EventPersisterTest(HomeserverTestCase):
    async def test_listeners_hear_every_event_in_order_despite_failures(self) -> None:
        heard: list[tuple[str, str]] = []

        def failing(persisted) -> None:
            heard.append(("failing", persisted.event.type))
            raise RuntimeError("boom")

        self.hs.event_persister.add_listener(failing)
        self.hs.event_persister.add_listener(lambda p: heard.append(("second", p.event.type)))
        me = await self.register("alice")
        r = await self.post("/_matrix/client/v3/createRoom", {"name": "x"}, token=me["access_token"])
        self.assertEqual(r.code, 200, r.json)
        types = [t for who, t in heard if who == "second"]
        self.assertEqual(types[:3], ["m.room.create", "m.room.member", "m.room.power_levels"])
        self.assertIn("m.room.name", types)
        self.assertEqual([t for who, t in heard if who == "failing"], types)
        self.flushLoggedErrors(RuntimeError)

    async def test_listener_runs_after_commit(self) -> None:
        seen: list[bool] = []

        def listener(persisted) -> None:
            # The event is readable at its position once listeners hear of it.
            seen.append(self.hs.events_store.stream.current >= persisted.stream_ordering)

        self.hs.event_persister.add_listener(listener)
        me = await self.register("alice")
        await self.post("/_matrix/client/v3/createRoom", {}, token=me["access_token"])
        self.assertTrue(seen and all(seen))


class ForkedGraphTest(HomeserverTestCase):
    """Current state is the resolution of the states at every forward extremity, however the
    graph forks (here: events of our own server built by hand, as federation will bring them)."""

    async def _set_up(self) -> None:
        await super()._set_up()
        me = await self.register("alice")
        self.token = me["access_token"]
        self.alice = me["user_id"]
        r = await self.post("/_matrix/client/v3/createRoom", {"preset": "public_chat"}, token=self.token)
        self.room_id = r.json["room_id"]
        self.version = await self.hs.events_store.get_room_version(self.room_id)

    async def craft(self, event_type: str, content: dict, prev: list[str], state_key: str | None = None,
                    depth: int | None = None) -> str:
        from homeserver.events.auth import auth_types_for_event
        from homeserver.events.signing import sign_event
        from homeserver.handlers.persister import EventContext

        groups = await self.hs.state_groups_store.get_event_state_groups(prev)
        self.assertEqual(len(prev), 1)
        group = groups[prev[0]][1]
        state = await self.hs.state_groups_store.get_state(group)
        prev_depth = (await self.hs.events_store.get_event(prev[0])).depth
        wanted = auth_types_for_event(event_type, self.alice, state_key, content, self.version)
        pdu = {"room_id": self.room_id, "type": event_type, "sender": self.alice, "content": content,
               "prev_events": prev, "depth": depth or prev_depth + 1, "origin_server_ts": 1_700_000_000_000,
               "auth_events": sorted(state[k] for k in wanted if k in state)}
        if state_key is not None:
            pdu["state_key"] = state_key
        pdu = sign_event(pdu, self.hs.config.server_name, self.hs.signing_key, self.version)
        event = await self.hs.event_checker.check_received(pdu, self.version)
        outcome = await self.hs.event_checker.check_auth(event, state, None)
        self.assertIsNone(outcome.rejected)
        async with self.hs.event_persister.room_lock.queue(self.room_id):
            await self.hs.event_persister.persist(event, EventContext(group, state))
        return event.event_id

    async def topic(self) -> str:
        r = await self.get(f"/_matrix/client/v3/rooms/{self.room_id}/state/m.room.topic/", token=self.token)
        return r.json.get("topic") if r.code == 200 else None

    async def extremities(self) -> set[str]:
        return set(await self.hs.events_store.get_forward_extremity_ids(self.room_id))

    async def db_current_topic(self) -> str | None:
        rows = await self.hs.database.execute(
            "t", "SELECT e.json FROM current_state_events c JOIN events e ON e.event_id = c.event_id "
            "WHERE c.room_id = ? AND c.type = 'm.room.topic'", self.room_id)
        import json
        return json.loads(rows[0][0])["content"]["topic"] if rows else None

    async def test_a_fork_keeps_the_state_of_both_branches(self) -> None:
        (x,) = await self.extremities()
        t = await self.craft("m.room.topic", {"topic": "one"}, [x], state_key="")
        self.assertEqual(await self.topic(), "one")
        m = await self.craft("m.room.message", {"msgtype": "m.text", "body": "concurrent"}, [x])
        self.assertEqual(await self.extremities(), {t, m})
        # The message's branch never saw the topic; the room's current state still has it.
        self.assertEqual(await self.topic(), "one")
        self.assertEqual(await self.db_current_topic(), "one")
        # A local send merges the fork.
        r = await self.request("PUT", f"/_matrix/client/v3/rooms/{self.room_id}/send/m.room.message/1",
                               {"msgtype": "m.text", "body": "merge"}, token=self.token)
        self.assertEqual(r.code, 200, r.json)
        merged = await self.hs.events_store.get_event(r.json["event_id"])
        self.assertEqual(set(merged.prev_event_ids), {t, m})
        self.assertEqual(await self.extremities(), {r.json["event_id"]})
        self.assertEqual(await self.topic(), "one")

    async def test_more_extremities_than_a_send_takes_stay_in_current_state(self) -> None:
        from homeserver.handlers.events import MAX_PREV_EVENTS
        (x,) = await self.extremities()
        t = await self.craft("m.room.topic", {"topic": "kept"}, [x], state_key="")
        deep = [await self.craft("m.room.message", {"msgtype": "m.text", "body": str(i)}, [x], depth=1000)
                for i in range(MAX_PREV_EVENTS + 1)]
        self.assertEqual(await self.extremities(), {t, *deep})
        r = await self.request("PUT", f"/_matrix/client/v3/rooms/{self.room_id}/send/m.room.message/1",
                               {"msgtype": "m.text", "body": "merge"}, token=self.token)
        self.assertEqual(r.code, 200, r.json)
        sent = await self.hs.events_store.get_event(r.json["event_id"])
        self.assertNotIn(t, sent.prev_event_ids)  # the topic's branch is shallower: left out of prev_events
        self.assertIn(t, await self.extremities())
        self.assertEqual(await self.topic(), "kept")
        self.assertEqual(await self.db_current_topic(), "kept")

    async def test_a_late_event_does_not_become_an_extremity(self) -> None:
        (x,) = await self.extremities()
        a = await self.craft("m.room.message", {"msgtype": "m.text", "body": "a"}, [x])
        # An event whose child we already hold (the child arrived first): not an extremity.
        from homeserver.storage.database import Transaction

        def add_edge(txn: Transaction) -> None:
            txn.execute("INSERT INTO event_edges (event_id, prev_event_id) VALUES (?, ?)", (a, "$late"))
        await self.hs.database.run("edge", add_edge)
        self.assertEqual(await self.extremities(), {a})

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

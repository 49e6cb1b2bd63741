"""Presence survives a restart: written behind (coalesced, not on every sync), flushed on stop,
read back by a second HomeServer on the same database; nothing is stored when presence is off."""

from urllib.parse import quote

from twisted.internet import reactor

from homeserver.clock import Clock
from homeserver.handlers.presence import CHECK_INTERVAL_S
from homeserver.server import HomeServer
from tests.rest.test_presence import presence_of
from tests.rest.test_rooms import V3, RoomsTestCase

ALICE = "@alice:test"


class PresencePersistenceTest(RoomsTestCase):
    async def restart(self) -> None:
        """Stop the server and start another on the same database and clock (tokens and all)."""
        await self.hs.stop()
        self.hs = HomeServer(self.config, reactor, Clock(self.fake_time))
        await self.hs.start()
        self.site = self.hs.build_site()
        self.site.timeOut = None

    async def sync(self, token: str, since: str | None = None) -> dict:
        r = await self.get(f"{V3}/sync?set_presence=offline" + (f"&since={since}" if since else ""), token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json

    async def stored(self) -> dict[str, tuple]:
        rows = await self.hs.database.execute(
            "test", "SELECT user_id, presence, status_msg, last_active_ts, stream_id FROM presence_state")
        return {r[0]: tuple(r[1:]) for r in rows}

    async def stored_when(self, condition) -> dict[str, tuple]:
        """The stored rows once `condition(rows)` holds (the periodic check runs in the background)."""
        for _ in range(200):
            rows = await self.stored()
            if condition(rows):
                return rows
        raise AssertionError(f"never stored as expected: {rows}")

    async def test_status_survives_a_restart(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        bob_before = (await self.get(f"{V3}/sync", token=self.bob)).json
        r = await self.request("PUT", f"{V3}/presence/{quote(ALICE)}/status",
                               {"presence": "unavailable", "status_msg": "gone fishing"}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.stored(), {})  # written behind, not in the request
        await self.restart()  # stop() flushes

        r = await self.get(f"{V3}/presence/{quote(ALICE)}/status", token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual((r.json["presence"], r.json["status_msg"]), ("unavailable", "gone fishing"))
        # An initial sync after the restart shows it...
        first = await self.sync(self.bob)
        self.assertEqual(presence_of(first, ALICE)["status_msg"], "gone fishing")
        # ... and a token from before the restart still gets it once (the stream position was restored).
        delta = await self.sync(self.bob, bob_before["next_batch"])
        self.assertEqual(presence_of(delta, ALICE)["status_msg"], "gone fishing")
        again = await self.sync(self.bob, delta["next_batch"])
        self.assertIsNone(presence_of(again, ALICE))
        # A change after the restart moves the stream on past the old positions.
        r = await self.request("PUT", f"{V3}/presence/{quote(ALICE)}/status",
                               {"presence": "online", "status_msg": "back"}, token=self.alice)
        later = await self.sync(self.bob, again["next_batch"])
        self.assertEqual(presence_of(later, ALICE)["status_msg"], "back")

    async def test_written_behind_and_not_on_every_sync(self) -> None:
        await self.users()
        first = (await self.get(f"{V3}/sync", token=self.alice)).json  # alice is online
        self.assertEqual(await self.stored(), {})
        self.advance(CHECK_INTERVAL_S)  # the periodic check writes the change
        stored = await self.stored_when(lambda rows: ALICE in rows)
        self.assertEqual(stored[ALICE][:2], ("online", None))
        # Syncing again within a minute moves last_active in memory only: no write.
        for _ in range(3):
            self.advance(10)
            await self.get(f"{V3}/sync?since={first['next_batch']}", token=self.alice)
        self.advance(CHECK_INTERVAL_S)
        await self.pump(100)
        self.assertEqual(await self.stored(), stored)
        # A minute on, the newer last_active is written (once).
        self.advance(30)
        await self.get(f"{V3}/sync?since={first['next_batch']}", token=self.alice)
        self.advance(CHECK_INTERVAL_S)
        newer = await self.stored_when(lambda rows: rows[ALICE] != stored[ALICE])
        self.assertGreater(newer[ALICE][2], stored[ALICE][2])
        self.assertEqual(newer[ALICE][3], stored[ALICE][3])  # no presence change: same stream position

    async def test_going_offline_is_stored(self) -> None:
        await self.users()
        await self.get(f"{V3}/sync", token=self.alice)
        self.advance(120)  # no more syncs: the timeout makes alice offline
        await self.stored_when(lambda rows: rows.get(ALICE, ("",))[0] == "offline")
        await self.restart()
        r = await self.get(f"{V3}/presence/{quote(ALICE)}/status", token=self.alice)
        self.assertEqual(r.json["presence"], "offline")
        self.assertIn("last_active_ago", r.json)  # read from the database on demand


class PresenceOffPersistenceTest(RoomsTestCase):
    config_overrides = {"presence": {"enabled": False}}

    async def test_nothing_stored(self) -> None:
        await self.users()
        await self.request("PUT", f"{V3}/presence/{quote(ALICE)}/status",
                           {"presence": "unavailable", "status_msg": "x"}, token=self.alice)
        await self.get(f"{V3}/sync", token=self.alice)
        self.advance(CHECK_INTERVAL_S * 4)
        await self.pump()
        await self.hs.presence_handler.flush()
        rows = await self.hs.database.execute("test", "SELECT COUNT(*) FROM presence_state")
        self.assertEqual(rows[0][0], 0)
        self.assertFalse(self.hs.presence_handler._states)

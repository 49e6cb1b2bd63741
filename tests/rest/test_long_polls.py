"""Long-polls under abuse: a client gone away stops costing anything (its sync is cancelled where
it waits), and a user's open long-polls are capped (the oldest answered early, as on a timeout)."""

from __future__ import annotations

from urllib.parse import quote

from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from tests.rest.test_rooms import V3, RoomsTestCase


class LongPollTestCase(RoomsTestCase):
    config_overrides = {"max_long_polls_per_user": 2}

    def open_sync(self, token: str, since: str) -> tuple[object, StringTransport]:
        """A /sync long-poll on a connection of its own, left open: (channel, transport)."""
        channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
        channel.makeConnection(transport)
        channel.dataReceived(
            (
                f"GET {V3}/sync?since={quote(since)}&timeout=30000&set_presence=offline HTTP/1.1\r\nHost: matrix.test\r\n"
                f"Authorization: Bearer {token}\r\n\r\n"
            ).encode()
        )
        return channel, transport

    async def first_sync(self, token: str) -> str:
        # Offline: nobody's presence is news to the others' long-polls.
        r = await self.get(f"{V3}/sync?set_presence=offline", token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["next_batch"]

    async def test_disconnected_sync_is_cancelled(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        since = await self.first_sync(self.bob)
        channel, transport = self.open_sync(self.bob, since)
        await self.pump_until(lambda: self.hs.notifier.waiter_count() == 1)
        presence = self.hs.presence_handler._states["@bob:test"]
        self.assertEqual(presence.syncs_in_flight, 1)
        timers = len(self.fake_time.getDelayedCalls())
        channel.connectionLost(Failure(ConnectionDone()))
        # Cancelled where it waited: no waiter, no timer, and it no longer counts as syncing.
        self.assertEqual(self.hs.notifier.waiter_count(), 0)
        self.assertEqual(len(self.fake_time.getDelayedCalls()), timers - 1)
        self.assertEqual(presence.syncs_in_flight, 0)
        # News in the room wakes nothing and nothing is written to the gone client.
        await self.send(self.alice, room_id, "anyone there?", "t1")
        self.advance(31)
        await self.pump()
        self.assertEqual(transport.value(), b"")
        # The server carries on as before for everyone else.
        r = await self.get(f"{V3}/sync?since={quote(since)}&set_presence=offline", token=self.bob)
        self.assertEqual(r.code, 200)
        self.assertIn(room_id, r.json["rooms"]["join"])

    async def test_oldest_long_poll_answered_early_beyond_the_cap(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        since = await self.first_sync(self.bob)
        alice_since = await self.first_sync(self.alice)
        alice_wait = defer.ensureDeferred(
            self.get(
                f"{V3}/sync?since={quote(alice_since)}&timeout=30000&set_presence=offline", token=self.alice
            )
        )
        opened = []
        for _ in range(2):
            opened.append(self.open_sync(self.bob, since))
            await self.pump_until(lambda n=len(opened): self.hs.notifier.waiter_count() == n + 1)
        self.assertEqual([t.value() for _, t in opened], [b"", b""])
        opened.append(self.open_sync(self.bob, since))
        # The oldest of bob's answers at once, as on a timeout: 200, nothing new, the same token.
        await self.pump_until(lambda: opened[0][1].value() != b"")
        first = self._parse(opened[0][1].value())
        self.assertEqual(first.code, 200)
        self.assertEqual(first.json["next_batch"], since)
        self.assertEqual(first.json.get("rooms", {}), {})
        await self.pump_until(lambda: self.hs.notifier.waiter_count() == 3)
        self.assertEqual([t.value() for _, t in opened[1:]], [b"", b""])
        self.assertFalse(alice_wait.called)  # another user's long-poll is untouched
        sent = await self.send(self.alice, room_id, "news", "t1")
        for _, transport in opened[1:]:
            await self.pump_until(lambda t=transport: t.value() != b"")
            r = self._parse(transport.value())
            self.assertEqual(
                [e["event_id"] for e in r.json["rooms"]["join"][room_id]["timeline"]["events"]], [sent]
            )
        self.assertEqual((await alice_wait).code, 200)
        for channel, _ in opened:
            channel.connectionLost(Failure(ConnectionDone()))

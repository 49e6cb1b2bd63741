"""FederationSender: our users' events go out to the servers in their rooms, per destination, in
order, batched, retried after failures, at once when the peer talks to us."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from homeserver.events.hashing import event_from_pdu
from tests.federation.support import FakeRemote
from tests.server import HomeserverTestCase

V3 = "/_matrix/client/v3"


class RecordingClient:
    """Stands for the federation client: records the transactions sent, fails while `down`."""

    def __init__(self, remote: FakeRemote):
        self.remote = remote
        self.down: set[str] = set()
        self.sent: list[tuple[str, str, dict]] = []

    async def get_json(self, destination: str, path: str, query: dict | None = None) -> Any:
        return await self.remote.get_json(destination, path, query)

    async def post_json(self, destination: str, path: str, body: Any) -> Any:
        return await self.remote.post_json(destination, path, body)

    async def put_json(self, destination: str, path: str, body: Any, query: dict | None = None) -> Any:
        if destination in self.down:
            raise ConnectionError(f"{destination} is down")
        self.sent.append((destination, path, body))
        return {"pdus": {}}


class FederationSenderTest(HomeserverTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.remote = FakeRemote(self)
        self.client = RecordingClient(self.remote)
        self.hs.federation_api._client = self.client
        self.bob = self.remote.user("bob")
        self.token = (await self.register("alice"))["access_token"]
        r = await self.post(f"{V3}/createRoom", {"preset": "public_chat"}, token=self.token)
        self.room_id = r.json["room_id"]
        self.version = await self.hs.events_store.get_room_version(self.room_id)
        await self.remote.send_event(self.room_id, "m.room.member", {"membership": "join"}, self.bob, self.bob)
        await self.pump()
        self.client.sent.clear()

    async def say(self, body: str) -> str:
        r = await self.request("PUT", f"{V3}/rooms/{quote(self.room_id)}/send/m.room.message/{quote(body)}",
                               {"msgtype": "m.text", "body": body}, token=self.token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["event_id"]

    def sent_ids(self, destination: str | None = None) -> list[str]:
        return [event_from_pdu(p, self.version).event_id for d, _, body in self.client.sent
                for p in body["pdus"] if destination in (None, d)]

    async def test_a_message_goes_to_the_servers_in_the_room(self) -> None:
        event_id = await self.say("hello")
        await self.pump_until(lambda: self.client.sent)
        self.assertEqual(len(self.client.sent), 1)
        destination, path, body = self.client.sent[0]
        self.assertEqual(destination, self.remote.name)
        self.assertTrue(path.startswith("/_matrix/federation/v1/send/"), path)
        self.assertEqual(body["origin"], self.hs.config.server_name)
        self.assertEqual(body["edus"], [])
        self.assertEqual(self.sent_ids(), [event_id])

    async def test_events_of_other_servers_and_rooms_without_them_stay_here(self) -> None:
        await self.remote.send_event(self.room_id, "m.room.message", {"msgtype": "m.text", "body": "x"}, self.bob)
        r = await self.post(f"{V3}/createRoom", {}, token=self.token)
        self.assertEqual(r.code, 200)
        await self.pump()
        self.assertEqual(self.client.sent, [])

    async def test_a_failing_server_gets_everything_in_order_later(self) -> None:
        self.client.down.add(self.remote.name)
        ids = [await self.say(f"m{i}") for i in range(60)]
        await self.pump()
        self.assertEqual(self.client.sent, [])
        self.assertEqual(self.hs.federation_sender.pending(self.remote.name), 60)
        self.client.down.clear()
        self.advance(13)  # the first retry comes within 10 s +- 20 %
        await self.pump_until(lambda: len(self.client.sent) == 2)
        self.assertEqual([len(body["pdus"]) for _, _, body in self.client.sent], [50, 10])
        self.assertEqual(self.sent_ids(), ids)
        self.assertEqual(self.hs.federation_sender.pending(self.remote.name), 0)
        txn_ids = [path for _, path, _ in self.client.sent]
        self.assertEqual(len(set(txn_ids)), 2)

    async def test_retries_back_off_and_resume_when_the_peer_talks_to_us(self) -> None:
        self.client.down.add(self.remote.name)
        event_id = await self.say("waiting")
        await self.pump()
        for _ in range(4):  # 10, 20, 40, 80 s
            self.advance(100)
            await self.pump()
        self.assertEqual(self.client.sent, [])
        self.client.down.clear()
        self.advance(100)  # the wait is now 160 s +- 20 %: not yet
        await self.pump()
        self.assertEqual(self.client.sent, [])
        r = await self.remote.request("GET", "/_matrix/federation/v1/version")  # unauthenticated: no contact
        r = await self.remote.request("GET", f"/_matrix/federation/v1/state_ids/{quote(self.room_id)}"
                                             f"?event_id={quote(event_id, safe='')}")
        self.assertEqual(r.code, 200, r.json)
        await self.pump_until(lambda: self.client.sent)
        self.assertEqual(self.sent_ids(), [event_id])

    async def test_a_kicked_user_s_server_hears_of_it(self) -> None:
        r = await self.post(f"{V3}/rooms/{quote(self.room_id)}/kick", {"user_id": self.bob}, token=self.token)
        self.assertEqual(r.code, 200, r.json)
        await self.pump_until(lambda: self.sent_ids(self.remote.name))
        self.assertEqual(len(self.sent_ids(self.remote.name)), 1)
        await self.say("after the kick")  # nobody of theirs is left: nothing more goes there
        await self.pump()
        self.assertEqual(len(self.sent_ids(self.remote.name)), 1)

    async def test_servers_outside_the_whitelist_get_nothing(self) -> None:
        self.hs.config.federation_domain_whitelist = frozenset({"elsewhere.test"})
        await self.say("private")
        await self.pump()
        self.assertEqual(self.client.sent, [])

    def fresh_sender(self) -> tuple[Any, RecordingClient]:
        """A sender as a restarted server builds it: nothing in memory, the same database."""
        from homeserver.federation.api import FederationApi
        from homeserver.federation.sender import FederationSender
        client = RecordingClient(self.remote)
        sender = FederationSender(self.hs.config.server_name, self.hs.clock, self.hs.events_store,
                                  FederationApi(client), lambda s: True, self.hs.destinations_store)
        return sender, client

    async def test_after_a_restart_a_peer_that_missed_events_is_caught_up(self) -> None:
        self.client.down.add(self.remote.name)
        await self.say("one")
        await self.say("two")
        last = await self.say("three")
        await self.pump()
        self.assertEqual(self.client.sent, [])
        sender, client = self.fresh_sender()  # the queue in memory is gone
        await sender.catch_up()
        await self.pump_until(lambda: client.sent)
        await self.pump()
        # The latest event of the room: the peer asks for the two before it with get_missing_events.
        self.assertEqual([event_from_pdu(p, self.version).event_id for _, _, b in client.sent for p in b["pdus"]],
                         [last])
        # Acknowledged now: a further restart has nothing to catch up.
        again, client2 = self.fresh_sender()
        await again.catch_up()
        await self.pump()
        self.assertEqual(client2.sent, [])

    async def test_nothing_to_catch_up_when_everything_was_delivered(self) -> None:
        await self.say("delivered")
        await self.pump_until(lambda: self.client.sent)
        await self.pump()
        self.assertEqual(len(self.client.sent), 1)
        sender, client = self.fresh_sender()
        await sender.catch_up()
        await self.pump()
        self.assertEqual(client.sent, [])

    async def test_a_request_from_the_peer_ends_its_backoff_in_the_federation_client(self) -> None:
        # Without this the sender's retry at the peer's contact failed at once on the client's
        # own backoff ("backing off after failures") and waited for the next retry.
        backoff = self.hs.federation_client.backoff
        backoff.failed(self.remote.name)
        self.assertIsNotNone(backoff.retry_at(self.remote.name))
        r = await self.remote.request("GET", "/_matrix/federation/v1/version")  # unauthenticated: no contact
        self.assertIsNotNone(backoff.retry_at(self.remote.name))
        r = await self.remote.request("GET", f"/_matrix/federation/v1/state_ids/{quote(self.room_id)}"
                                             f"?event_id={quote(await self.say('x'), safe='')}")
        self.assertEqual(r.code, 200, r.json)
        self.assertIsNone(backoff.retry_at(self.remote.name))

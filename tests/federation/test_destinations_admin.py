"""Destinations: the backoff written through to the destinations table (and read back after a
restart), and Synapse's admin API over it: list, details, rooms, reset_connection."""

from __future__ import annotations

from urllib.parse import quote

from homeserver.federation.backoff import Backoff
from homeserver.federation.client import FederationUnreachable
from tests.federation.support import FakeRemote
from tests.server import HomeserverTestCase

A = "/_synapse/admin/v1/federation/destinations"
V3 = "/_matrix/client/v3"


class DestinationsTestCase(HomeserverTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.backoff = self.hs.federation_backoff
        self.admin = await self.make_admin()
        self.user = (await self.register("alice"))["access_token"]

    async def make_admin(self) -> str:
        token = (await self.register("root"))["access_token"]
        await self.hs.users_store.set_admin("@root:test", True)
        return token

    async def fail(self, destination: str, times: int = 1) -> None:
        for _ in range(times):
            self.backoff.failed(destination)
            self.advance(self.backoff.state(destination).interval_ms / 1000)
        await self.backoff.flushed()


class BackoffPersistenceTest(DestinationsTestCase):
    async def test_failed_request_is_recorded(self) -> None:
        now = self.hs.clock.time_msec()
        with self.assertRaises(FederationUnreachable):
            await self.hs.federation_client.get_json("dead.example:8448", "/_matrix/federation/v1/version")
        await self.backoff.flushed()
        row = await self.hs.destinations_store.get_destination("dead.example:8448")
        self.assertEqual((row.failure_ts, row.retry_last_ts, row.retry_interval, row.failures), (now, now, 10_000, 1))

    async def test_written_through_and_loaded_after_a_restart(self) -> None:
        start = self.hs.clock.time_msec()
        self.backoff.failed("a.example")
        self.advance(10)
        self.backoff.failed("a.example")
        self.backoff.failed("a.example")  # failed together with the one before: counts once
        self.backoff.succeeded("b.example")  # first contact, fine
        await self.backoff.flushed()
        a = await self.hs.destinations_store.get_destination("a.example")
        self.assertEqual((a.failure_ts, a.retry_last_ts, a.retry_interval, a.failures),
                         (start, start + 10_000, 20_000, 2))
        b = await self.hs.destinations_store.get_destination("b.example")
        self.assertEqual((b.failure_ts, b.retry_last_ts, b.retry_interval), (None, 0, 0))

        restarted = Backoff(self.hs.clock, store=self.hs.destinations_store)
        await restarted.load()
        self.assertEqual(restarted.retry_at("a.example"), start + 30_000)
        self.assertIsNone(restarted.retry_at("b.example"))
        self.advance(20)
        restarted.failed("a.example")  # the doubling goes on from where it was
        self.assertEqual(restarted.state("a.example").interval_ms, 40_000)
        restarted.succeeded("a.example")
        await restarted.flushed()
        a = await self.hs.destinations_store.get_destination("a.example")
        self.assertEqual((a.failure_ts, a.retry_last_ts, a.retry_interval, a.failures), (None, 0, 0, 0))
        again = Backoff(self.hs.clock, store=self.hs.destinations_store)
        await again.load()
        self.assertIsNone(again.state("a.example"))

    async def test_a_known_good_destination_costs_no_writes(self) -> None:
        self.backoff.succeeded("b.example")
        await self.backoff.flushed()
        calls = []
        original = self.hs.destinations_store.set_retry_states

        async def counting(states):  # type: ignore[no-untyped-def]
            calls.append(states)
            await original(states)

        self.hs.destinations_store.set_retry_states = counting  # type: ignore[method-assign]
        for _ in range(5):
            self.backoff.succeeded("b.example")
        await self.backoff.flushed()
        self.assertEqual(calls, [])
        self.backoff.failed("b.example")
        self.backoff.succeeded("b.example")
        await self.backoff.flushed()
        row = await self.hs.destinations_store.get_destination("b.example")
        self.assertEqual(row.retry_interval, 0)


class DestinationsAdminTest(DestinationsTestCase):
    async def test_list(self) -> None:
        r = await self.get(A, token=self.admin)
        self.assertEqual((r.code, r.json), (200, {"destinations": [], "total": 0}))
        await self.fail("c.example", 3)
        await self.fail("a.example", 1)
        self.backoff.succeeded("b.example")
        await self.backoff.flushed()
        r = await self.get(A, token=self.admin)
        self.assertEqual([d["destination"] for d in r.json["destinations"]], ["a.example", "b.example", "c.example"])
        self.assertEqual(r.json["total"], 3)
        self.assertNotIn("next_token", r.json)
        b = r.json["destinations"][1]
        self.assertEqual(b, {"destination": "b.example", "retry_last_ts": 0, "retry_interval": 0, "failure_ts": None,
                             "last_successful_stream_ordering": None})

        r = await self.get(f"{A}?order_by=retry_interval&dir=b", token=self.admin)
        self.assertEqual([d["destination"] for d in r.json["destinations"]], ["c.example", "a.example", "b.example"])
        r = await self.get(f"{A}?order_by=failure_ts", token=self.admin)
        self.assertEqual([d["destination"] for d in r.json["destinations"]], ["b.example", "c.example", "a.example"])
        await self.hs.destinations_store.set_last_successful_stream_ordering("a.example", 7)
        r = await self.get(f"{A}?order_by=last_successful_stream_ordering&dir=b", token=self.admin)
        self.assertEqual(r.json["destinations"][0]["last_successful_stream_ordering"], 7)
        r = await self.get(f"{A}?order_by=retry_last_ts", token=self.admin)
        self.assertEqual(r.json["destinations"][0]["destination"], "b.example")

        r = await self.get(f"{A}?limit=2", token=self.admin)
        self.assertEqual((len(r.json["destinations"]), r.json["next_token"], r.json["total"]), (2, "2", 3))
        r = await self.get(f"{A}?limit=2&from=2", token=self.admin)
        self.assertEqual([d["destination"] for d in r.json["destinations"]], ["c.example"])
        self.assertNotIn("next_token", r.json)

    async def test_list_bad_input_and_auth(self) -> None:
        for query in ("order_by=nope", "dir=x", "from=-1", "limit=-1", "from=x", f"limit={2**70}"):
            r = await self.get(f"{A}?{query}", token=self.admin)
            self.assertEqual(r.code, 400, (query, r.json))
        self.assert_error(await self.get(A, token=self.user), 403, "M_FORBIDDEN")
        self.assert_error(await self.get(A), 401, "M_MISSING_TOKEN")

    async def test_details(self) -> None:
        now = self.hs.clock.time_msec()
        await self.fail("a.example:8448", 2)
        r = await self.get(f"{A}/{quote('a.example:8448')}", token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json, {"destination": "a.example:8448", "retry_last_ts": now + 10_000,
                                  "retry_interval": 20_000, "failure_ts": now,
                                  "last_successful_stream_ordering": None})
        self.assert_error(await self.get(f"{A}/nope.example", token=self.admin), 404, "M_NOT_FOUND")
        self.assert_error(await self.get(f"{A}/{quote('bad_name!')}", token=self.admin), 400, "M_INVALID_PARAM")
        self.assert_error(await self.get(f"{A}/a.example", token=self.user), 403, "M_FORBIDDEN")

    async def test_rooms(self) -> None:
        remote = FakeRemote(self)
        rooms = []
        for _ in range(3):
            r = await self.post(f"{V3}/createRoom", {"preset": "public_chat"}, token=self.user)
            rooms.append(r.json["room_id"])
        for room_id in rooms[:2]:
            await remote.send_event(room_id, "m.room.member", {"membership": "join"}, remote.user("bob"),
                                    remote.user("bob"))
        await remote.send_event(rooms[0], "m.room.member", {"membership": "join"}, remote.user("carol"),
                                remote.user("carol"))
        path = f"{A}/{quote(remote.name)}/rooms"
        self.assert_error(await self.get(path, token=self.admin), 404, "M_NOT_FOUND")  # never contacted
        self.backoff.succeeded(remote.name)
        await self.hs.destinations_store.set_destination_rooms([remote.name, "other.example"], rooms[1], 42)
        r = await self.get(path, token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        expected = sorted(rooms[:2])
        self.assertEqual([x["room_id"] for x in r.json["rooms"]], expected)
        self.assertEqual({x["room_id"]: x["stream_ordering"] for x in r.json["rooms"]},
                         {rooms[0]: None, rooms[1]: 42})
        self.assertEqual(r.json["total"], 2)
        r = await self.get(f"{path}?limit=1&dir=b", token=self.admin)
        self.assertEqual(([x["room_id"] for x in r.json["rooms"]], r.json["next_token"]), ([expected[1]], "1"))
        r = await self.get(f"{path}?limit=1&from=1&dir=b", token=self.admin)
        self.assertEqual([x["room_id"] for x in r.json["rooms"]], [expected[0]])
        self.assertNotIn("next_token", r.json)
        # A server whose name ends like another's shares none of its rooms.
        self.backoff.succeeded("test:8448")
        r = await self.get(f"{A}/{quote('test:8448')}/rooms", token=self.admin)
        self.assertEqual(r.json, {"rooms": [], "total": 0})
        for query in ("dir=x", "from=-1", "limit=nope"):
            self.assertEqual((await self.get(f"{path}?{query}", token=self.admin)).code, 400, query)
        self.assert_error(await self.get(f"{A}/{quote('bad_name!')}/rooms", token=self.admin), 400, "M_INVALID_PARAM")

    async def test_reset_connection(self) -> None:
        reset = []
        self.backoff.reset_listeners.append(reset.append)
        await self.fail("a.example", 3)
        self.backoff.failed("a.example")
        self.assertIsNotNone(self.backoff.retry_at("a.example"))
        path = f"{A}/a.example/reset_connection"
        self.assert_error(await self.post(path, {}, token=self.user), 403, "M_FORBIDDEN")
        r = await self.post(path, {}, token=self.admin)
        self.assertEqual((r.code, r.json), (200, {}))
        self.assertIsNone(self.backoff.retry_at("a.example"))
        self.assertEqual(reset, ["a.example"])
        r = await self.get(f"{A}/a.example", token=self.admin)
        self.assertEqual((r.json["retry_last_ts"], r.json["retry_interval"], r.json["failure_ts"]), (0, 0, None))
        # Not failing any more: nothing to reset.
        self.assert_error(await self.post(path, {}, token=self.admin), 400, "M_UNKNOWN")
        self.assert_error(await self.post(f"{A}/nope.example/reset_connection", {}, token=self.admin), 404,
                          "M_NOT_FOUND")
        await self.fail("a.example")
        r = await self.request("POST", path, token=self.admin, raw_body=b"not json")
        self.assertEqual(r.code, 400)
        self.assertIsNotNone(self.backoff.state("a.example"))  # bad input changed nothing
        r = await self.request("POST", path, token=self.admin, raw_body=b"")
        self.assertEqual(r.code, 200, r.json)


class IncomingRequestResetsBackoffTest(DestinationsTestCase):
    async def test_a_signed_request_from_a_failing_server_resets_it(self) -> None:
        remote = FakeRemote(self)
        self.backoff.failed(remote.name)
        await self.backoff.flushed()
        self.assertIsNotNone(self.backoff.retry_at(remote.name))
        r = await remote.request("GET", "/_matrix/federation/v1/query/directory?room_alias=%23x%3Atest")
        self.assert_error(r, 404, "M_NOT_FOUND")
        self.assertIsNone(self.backoff.state(remote.name))
        await self.backoff.flushed()
        row = await self.hs.destinations_store.get_destination(remote.name)
        self.assertEqual((row.retry_interval, row.failure_ts), (0, None))
        # A server we never contacted is not added to the destinations by asking us something.
        other = FakeRemote(self, name="other.test")
        await other.request("GET", "/_matrix/federation/v1/query/directory?room_alias=%23x%3Atest")
        await self.backoff.flushed()
        self.assertIsNone(await self.hs.destinations_store.get_destination("other.test"))
        # An unsigned request changes nothing.
        self.backoff.failed(remote.name)
        await self.get("/_matrix/federation/v1/query/directory?room_alias=%23x%3Atest")
        self.assertIsNotNone(self.backoff.state(remote.name))


class ResetConnectionWakesTheSenderTest(DestinationsTestCase):
    async def test_queued_events_go_at_once(self) -> None:
        from tests.federation.test_sender import RecordingClient

        remote = FakeRemote(self)
        client = RecordingClient(remote)
        self.hs.federation_api._client = client
        r = await self.post(f"{V3}/createRoom", {"preset": "public_chat"}, token=self.user)
        room_id = r.json["room_id"]
        await remote.send_event(room_id, "m.room.member", {"membership": "join"}, remote.user("bob"),
                                remote.user("bob"))
        client.down.add(remote.name)
        self.backoff.failed(remote.name)  # as the federation client records the failure
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/m.room.message/t1",
                               {"msgtype": "m.text", "body": "waiting"}, token=self.user)
        self.assertEqual(r.code, 200)
        await self.pump()
        self.assertEqual(client.sent, [])
        client.down.clear()
        r = await self.post(f"{A}/{quote(remote.name)}/reset_connection", {}, token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        await self.pump()
        bodies = [p["content"].get("body") for _, _, body in client.sent for p in body["pdus"]]
        self.assertIn("waiting", bodies)

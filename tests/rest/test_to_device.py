"""Send-to-device: delivery in /sync exactly once (as the client sees it), batching, "*" fan-out,
transaction idempotency, long-poll wake-up on the fake clock, size limit and bad bodies."""

from twisted.internet import defer

from homeserver.handlers.to_device import SYNC_BATCH_LIMIT, ToDeviceHandler
from tests.server import HomeserverTestCase

V3 = "/_matrix/client/v3"


class ToDeviceTest(HomeserverTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.alice = await self.register("alice")
        self.bob = await self.register("bob")
        self.bob2 = await self.login("bob")
        await self.pump()  # let the logins' device-list updates land before tokens are taken

    async def send(self, sender: dict, messages: dict, txn_id: str, event_type: str = "m.test") -> None:
        r = await self.request("PUT", f"{V3}/sendToDevice/{event_type}/{txn_id}", {"messages": messages},
                               token=sender["access_token"])
        self.assertEqual((r.code, r.json), (200, {}))

    async def sync(self, who: dict, since: str | None = None, timeout: int = 0) -> dict:
        query = f"?since={since}&timeout={timeout}" if since else ""
        r = await self.get(f"{V3}/sync{query}", token=who["access_token"])
        self.assertEqual(r.code, 200, r.json)
        return r.json

    @staticmethod
    def events(sync: dict) -> list[dict]:
        return sync.get("to_device", {}).get("events", [])

    async def test_delivered_once_and_retry_gets_them_again(self) -> None:
        first = await self.sync(self.bob)
        self.assertEqual(self.events(first), [])
        await self.send(self.alice, {"@bob:test": {self.bob["device_id"]: {"n": 1}}}, "t1")
        await self.send(self.alice, {"@bob:test": {self.bob["device_id"]: {"n": 2}}}, "t2", "m.other")
        second = await self.sync(self.bob, first["next_batch"])
        self.assertEqual(self.events(second), [
            {"sender": "@alice:test", "type": "m.test", "content": {"n": 1}},
            {"sender": "@alice:test", "type": "m.other", "content": {"n": 2}},
        ])
        # The response was lost: the client retries with the same token and gets them again.
        retried = await self.sync(self.bob, first["next_batch"])
        self.assertEqual(self.events(retried), self.events(second))
        self.assertEqual(retried["next_batch"], second["next_batch"])
        # The next sync acknowledges them: gone, and deleted from the database.
        third = await self.sync(self.bob, second["next_batch"])
        self.assertEqual(self.events(third), [])
        rows = await self.hs.database.execute("inbox", "SELECT COUNT(*) FROM device_inbox")
        self.assertEqual(rows[0][0], 0)
        # Bob's other device got nothing.
        self.assertEqual(self.events(await self.sync(self.bob2)), [])

    async def test_initial_sync_delivers_pending(self) -> None:
        await self.send(self.alice, {"@bob:test": {self.bob["device_id"]: {"early": True}}}, "t1")
        first = await self.sync(self.bob)
        self.assertEqual([e["content"] for e in self.events(first)], [{"early": True}])
        second = await self.sync(self.bob, first["next_batch"])
        self.assertEqual(self.events(second), [])

    async def test_wildcard_fans_out_and_named_device_gets_its_own(self) -> None:
        await self.send(self.alice, {"@bob:test": {"*": {"all": True}}}, "t1")
        for device in (self.bob, self.bob2):
            self.assertEqual(self.events(await self.sync(device)),
                             [{"sender": "@alice:test", "type": "m.test", "content": {"all": True}}])
        await self.send(self.alice, {"@bob:test": {"*": {"all": True}, self.bob2["device_id"]: {"mine": 1}}}, "t2")
        rows = await self.hs.database.execute(
            "inbox", "SELECT device_id, content FROM device_inbox WHERE stream_id = "
                     "(SELECT MAX(stream_id) FROM device_inbox) ORDER BY device_id")
        self.assertEqual(dict(rows), {self.bob["device_id"]: '{"all": true}', self.bob2["device_id"]: '{"mine": 1}'})

    async def test_txn_id_is_idempotent_per_device(self) -> None:
        since = (await self.sync(self.bob))["next_batch"]
        message = {"@bob:test": {self.bob["device_id"]: {"once": True}}}
        await self.send(self.alice, message, "same")
        await self.send(self.alice, message, "same")  # a retry: nothing new
        # Two concurrent requests with the same transaction ID store it once too.
        retries = [defer.ensureDeferred(self.send(self.alice, message, "concurrent")) for _ in range(2)]
        await defer.gatherResults(retries)
        got = self.events(await self.sync(self.bob, since))
        self.assertEqual([e["content"] for e in got], [{"once": True}, {"once": True}])
        # The same transaction ID from another device of the sender is another request.
        alice2 = await self.login("alice")
        await self.send(alice2, message, "same")
        self.assertEqual(len(self.events(await self.sync(self.bob, since))), 3)

    async def test_txn_ids_expire(self) -> None:
        since = (await self.sync(self.bob))["next_batch"]
        message = {"@bob:test": {self.bob["device_id"]: {"x": 1}}}
        await self.send(self.alice, message, "old")
        self.advance(6 * 24 * 3600)
        await self.hs.to_device_handler.expire_old_txns()
        await self.send(self.alice, message, "old")  # still remembered after 6 days
        self.assertEqual(len(self.events(await self.sync(self.bob, since))), 1)
        self.advance(2 * 24 * 3600)
        await self.hs.to_device_handler.expire_old_txns()
        await self.send(self.alice, message, "old")  # forgotten after 7: a new request
        self.assertEqual(len(self.events(await self.sync(self.bob, since))), 2)

    async def test_unknown_and_remote_recipients_are_dropped(self) -> None:
        since = (await self.sync(self.bob))["next_batch"]
        await self.send(self.alice, {
            "@nobody:test": {"*": {"x": 1}, "DEV": {"x": 2}},
            "@bob:test": {"NOSUCHDEVICE": {"x": 3}, self.bob["device_id"]: {"x": 4}},
            "@carol:elsewhere.example": {"*": {"x": 5}},
        }, "t1")
        self.assertEqual([e["content"] for e in self.events(await self.sync(self.bob, since))], [{"x": 4}])
        rows = await self.hs.database.execute("inbox", "SELECT user_id, device_id FROM device_inbox")
        self.assertEqual(rows, [("@bob:test", self.bob["device_id"])])

    async def test_batches_of_at_most_the_limit(self) -> None:
        first = await self.sync(self.bob)
        total = SYNC_BATCH_LIMIT + 5
        for i in range(total):
            await self.send(self.alice, {"@bob:test": {self.bob["device_id"]: {"i": i}}}, f"t{i}")
        second = await self.sync(self.bob, first["next_batch"], timeout=30000)
        self.assertEqual([e["content"]["i"] for e in self.events(second)], list(range(SYNC_BATCH_LIMIT)))
        # The rest comes with the next sync, at once (no long-poll wait).
        third = await self.sync(self.bob, second["next_batch"], timeout=30000)
        self.assertEqual([e["content"]["i"] for e in self.events(third)], list(range(SYNC_BATCH_LIMIT, total)))
        fourth = await self.sync(self.bob, third["next_batch"])
        self.assertEqual(self.events(fourth), [])

    async def test_long_poll_woken_by_message(self) -> None:
        since = (await self.sync(self.bob))["next_batch"]
        waiting = defer.ensureDeferred(self.sync(self.bob, since, timeout=30000))
        await self.pump_until(lambda: self.hs.notifier.waiter_count() == 1)
        self.advance(5)
        self.assertFalse(waiting.called)
        await self.send(self.alice, {"@bob:test": {self.bob["device_id"]: {"wake": True}}}, "t1")
        got = await waiting
        self.assertEqual([e["content"] for e in self.events(got)], [{"wake": True}])

    async def test_long_poll_times_out_without_messages(self) -> None:
        since = (await self.sync(self.bob))["next_batch"]
        waiting = defer.ensureDeferred(self.sync(self.bob, since, timeout=10000))
        await self.pump_until(lambda: self.hs.notifier.waiter_count() == 1)
        self.advance(11)
        got = await waiting
        self.assertEqual(self.events(got), [])
        self.assertEqual(got["next_batch"], since)

    async def test_deleting_device_deletes_its_inbox(self) -> None:
        await self.send(self.alice, {"@bob:test": {"*": {"x": 1}}}, "t1")
        r = await self.request("DELETE", f"{V3}/devices/{self.bob2['device_id']}",
                               {"auth": {"type": "m.login.password", "password": "password",
                                         "identifier": {"type": "m.id.user", "user": "bob"}}},
                               token=self.bob["access_token"])
        self.assertEqual(r.code, 200, r.json)
        rows = await self.hs.database.execute("inbox", "SELECT device_id FROM device_inbox")
        self.assertEqual(rows, [(self.bob["device_id"],)])

    async def test_since_token_ahead_of_stream_is_refused(self) -> None:
        token = (await self.sync(self.bob))["next_batch"]
        parts = token.split("_")
        parts[5] = "999999"
        r = await self.get(f"{V3}/sync?since={'_'.join(parts)}", token=self.bob["access_token"])
        self.assert_error(r, 400, "M_INVALID_PARAM")

    async def test_stream_position_survives_restart_after_delivery(self) -> None:
        first = await self.sync(self.bob)
        await self.send(self.alice, {"@bob:test": {self.bob["device_id"]: {"n": 1}}}, "t1")
        second = await self.sync(self.bob, first["next_batch"])
        await self.sync(self.bob, second["next_batch"])  # acknowledged: the inbox is empty now
        await self.hs.to_device_store.load()  # as at start-up
        self.assertEqual(self.hs.to_device_handler.current_position, 1)
        await self.send(self.alice, {"@bob:test": {self.bob["device_id"]: {"n": 2}}}, "t2")
        third = await self.sync(self.bob, second["next_batch"])
        self.assertEqual([e["content"] for e in self.events(third)], [{"n": 2}])

    async def test_acknowledged_after_restart(self) -> None:
        """Delivered before a restart, acknowledged after it: still deleted (the server keeps no
        memory of what it handed out across restarts)."""
        first = await self.sync(self.bob)
        await self.send(self.alice, {"@bob:test": {self.bob["device_id"]: {"n": 1}}}, "t1")
        second = await self.sync(self.bob, first["next_batch"])
        self.assertEqual(len(self.events(second)), 1)
        fresh = ToDeviceHandler("test", self.hs.clock, self.hs.to_device_store, self.hs.devices_store,
                                self.hs.notifier, 65536)
        await fresh.acknowledge("@bob:test", self.bob["device_id"], int(second["next_batch"].split("_")[5]))
        rows = await self.hs.database.execute("inbox", "SELECT COUNT(*) FROM device_inbox")
        self.assertEqual(rows[0][0], 0)

    async def test_refusals_change_nothing(self) -> None:
        token = self.alice["access_token"]
        device = self.bob["device_id"]
        path = f"{V3}/sendToDevice/m.test/bad"
        big = {"data": "x" * (64 * 1024)}
        await self.assert_rejected_without_change(
            "PUT", path, {"messages": {"@bob:test": {"*": {"ok": 1}, device: big}}}, 413, "M_TOO_LARGE", token=token)
        for body, code, errcode in (
            ({}, 400, "M_MISSING_PARAM"),
            ({"messages": []}, 400, "M_BAD_JSON"),
            ({"messages": {"@bob:test": "x"}}, 400, "M_BAD_JSON"),
            ({"messages": {"@bob:test": {device: "not an object"}}}, 400, "M_BAD_JSON"),
            ({"messages": {"bob": {device: {}}}}, 400, "M_INVALID_PARAM"),
        ):
            await self.assert_rejected_without_change("PUT", path, body, code, errcode, token=token)
        await self.assert_rejected_without_change("PUT", path, None, 400, "M_NOT_JSON", token=token,
                                                  raw_body=b"{nope")
        await self.assert_rejected_without_change("PUT", path, {"messages": {}}, 401, "M_MISSING_TOKEN")
        # A refused request did not use up its transaction ID.
        await self.send(self.alice, {"@bob:test": {device: {"ok": 1}}}, "bad")
        self.assertEqual(len(self.events(await self.sync(self.bob))), 1)


class ToDeviceSizeConfigTest(HomeserverTestCase):
    config_overrides = {"max_to_device_message_size": "1K"}

    async def test_configured_limit(self) -> None:
        alice = await self.register("alice")
        path = f"{V3}/sendToDevice/m.test/t1"
        await self.assert_rejected_without_change(
            "PUT", path, {"messages": {"@alice:test": {"*": {"d": "x" * 1024}}}}, 413, "M_TOO_LARGE",
            token=alice["access_token"])
        r = await self.request("PUT", path, {"messages": {"@alice:test": {"*": {"d": "x" * 900}}}},
                               token=alice["access_token"])
        self.assertEqual(r.code, 200, r.json)

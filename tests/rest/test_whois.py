"""GET /admin/whois/{userId}: the user themself or a server admin; devices, sessions, connections."""

from typing import Any

from twisted.internet import defer

from tests.server import HomeserverTestCase

V3 = "/_matrix/client/v3"


class WhoisTest(HomeserverTestCase):
    async def test_self_sees_each_device_and_its_latest_connection(self) -> None:
        alice = await self.register("alice")
        phone = await self.login("alice", device_id="PHONE")
        r = await self.request("GET", f"{V3}/admin/whois/@alice:test", token=alice["access_token"],
                               headers={"User-Agent": "TestClient/1.0"})
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["user_id"], "@alice:test")
        self.assertEqual(set(r.json["devices"]), {alice["device_id"], "PHONE"})
        # This request is the registration device's latest one (not yet written to the database).
        [session] = r.json["devices"][alice["device_id"]]["sessions"]
        self.assertEqual(session["connections"], [
            {"ip": "127.0.0.1", "last_seen": int(self.fake_time.seconds() * 1000), "user_agent": "TestClient/1.0"}])
        # The phone has made no request since its login: no connection yet.
        self.assertEqual(r.json["devices"]["PHONE"], {"sessions": [{"connections": []}]})

        await self.request("GET", f"{V3}/account/whoami", token=phone["access_token"],
                           headers={"User-Agent": "Phone/2"})
        used_at = int(self.fake_time.seconds() * 1000)
        await self.hs.devices_store.flush_last_seen()  # read back from the database now
        r = await self.get(f"{V3}/admin/whois/@alice:test", token=alice["access_token"])
        self.assertEqual(r.json["devices"]["PHONE"]["sessions"][0]["connections"],
                         [{"ip": "127.0.0.1", "last_seen": used_at, "user_agent": "Phone/2"}])

    async def test_last_seen_readable_while_being_written(self) -> None:
        alice = await self.register("alice")
        await self.request("GET", f"{V3}/account/whoami", token=alice["access_token"], headers={"User-Agent": "A"})
        seen_at = int(self.fake_time.seconds() * 1000)
        # Hold the write-behind's transaction until the reads are done.
        gate: defer.Deferred = defer.Deferred()
        run = self.hs.database.run

        async def held_run(name: str, *args: Any, **kwargs: Any) -> Any:
            if name == "flush_last_seen":
                await gate
            return await run(name, *args, **kwargs)

        self.patch(self.hs.database, "run", held_run)
        writing = defer.ensureDeferred(self.hs.devices_store.flush_last_seen())
        connections = await self.hs.devices_store.get_last_connections("@alice:test")
        device = await self.hs.devices_store.get_device("@alice:test", alice["device_id"])
        self.assertFalse(writing.called)
        gate.callback(None)
        await writing
        self.assertEqual(connections[alice["device_id"]], (seen_at, "127.0.0.1", "A"))
        self.assertEqual((device.last_seen_ts, device.last_seen_ip), (seen_at, "127.0.0.1"))

    async def test_other_users_only_for_admins(self) -> None:
        alice = await self.register("alice")
        bob = await self.register("bob")
        r = await self.get(f"{V3}/admin/whois/@alice:test", token=bob["access_token"])
        self.assert_error(r, 403, "M_FORBIDDEN")
        await self.hs.users_store.set_admin("@bob:test", True)
        r = await self.get(f"{V3}/admin/whois/@alice:test", token=bob["access_token"])
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(list(r.json["devices"]), [alice["device_id"]])
        r = await self.get(f"{V3}/admin/whois/@nobody:test", token=bob["access_token"])
        self.assert_error(r, 404, "M_NOT_FOUND")
        r = await self.get(f"{V3}/admin/whois/not-a-user-id", token=bob["access_token"])
        self.assert_error(r, 400, "M_INVALID_PARAM")
        r = await self.get(f"{V3}/admin/whois/@alice:test")
        self.assert_error(r, 401, "M_MISSING_TOKEN")

"""/keys/upload, /keys/query, /keys/claim: device identity keys, one-time and fallback keys."""

from __future__ import annotations

import threading

from twisted.internet import defer, reactor
from twisted.internet.task import deferLater

from tests.rest.e2e_support import E2ETestCase, FakeDevice
from tests.rest.test_rooms import V3


class UploadTest(E2ETestCase):
    async def test_upload_query_and_counts(self) -> None:
        alice, device = await self.account("alice")
        r = await self.upload(alice["access_token"], {"device_keys": device.device_keys(),
                                                      "one_time_keys": device.one_time_keys(5)})
        self.assertEqual(r["one_time_key_counts"], {"signed_curve25519": 5})
        bob, _ = await self.account("bob")
        result = await self.query(bob["access_token"], {"@alice:test": []})
        keys = result["device_keys"]["@alice:test"][device.device_id]
        self.assertEqual(keys["keys"], device.device_keys()["keys"])
        self.assertEqual(keys["signatures"], device.device_keys()["signatures"])
        self.assertEqual(keys["unsigned"], {})  # registered without a device name
        self.assertEqual(result["failures"], {})
        # Renamed: the new name is in unsigned.
        await self.request("PUT", f"{V3}/devices/{device.device_id}", {"display_name": "Phone"},
                           token=alice["access_token"])
        result = await self.query(bob["access_token"], {"@alice:test": [device.device_id]})
        self.assertEqual(result["device_keys"]["@alice:test"][device.device_id]["unsigned"],
                         {"device_display_name": "Phone"})
        sync = await self.sync(alice["access_token"])
        self.assertEqual(sync["device_one_time_keys_count"], {"signed_curve25519": 5})
        self.assertEqual(sync["device_unused_fallback_key_types"], [])

    async def test_counts_present_from_the_start(self) -> None:
        alice, _ = await self.account("alice")
        r = await self.upload(alice["access_token"], {})
        self.assertEqual(r["one_time_key_counts"], {"signed_curve25519": 0})
        sync = await self.sync(alice["access_token"])
        self.assertEqual(sync["device_one_time_keys_count"], {"signed_curve25519": 0})
        again = await self.sync(alice["access_token"], sync["next_batch"])
        self.assertEqual(again["device_one_time_keys_count"], {"signed_curve25519": 0})
        self.assertEqual(again["device_unused_fallback_key_types"], [])

    async def test_reupload_identical_is_fine_new_identity_replaces_old_keys(self) -> None:
        alice, device = await self.account("alice")
        token = alice["access_token"]
        await self.upload(token, {"device_keys": device.device_keys(), "one_time_keys": device.one_time_keys(2),
                                  "fallback_keys": device.fallback_key()})
        await self.upload(token, {"device_keys": device.device_keys()})
        # Same device ID, new identity keys (a re-login that lost its crypto store): the new keys
        # replace the old ones, and the old identity's one-time and fallback keys go; new key IDs
        # may repeat the old ones (a fresh account counts from the start again).
        other = FakeDevice(device.user_id, device.device_id)
        new_one_time_key = other.one_time_keys(1)
        r = await self.upload(token, {"device_keys": other.device_keys(), "one_time_keys": new_one_time_key})
        self.assertEqual(r["one_time_key_counts"], {"signed_curve25519": 1})
        result = await self.query(token, {"@alice:test": []})
        self.assertEqual(result["device_keys"]["@alice:test"][device.device_id]["keys"], other.device_keys()["keys"])
        self.assertEqual((await self.sync(token))["device_unused_fallback_key_types"], [])
        bob, _ = await self.account("bob")
        claimed = await self.claim(bob["access_token"], {"@alice:test": {device.device_id: "signed_curve25519"}})
        self.assertEqual(claimed["one_time_keys"]["@alice:test"][device.device_id], new_one_time_key)

    async def test_bad_device_keys_change_nothing(self) -> None:
        alice, device = await self.account("alice")
        token = alice["access_token"]
        other_device = FakeDevice(device.user_id, "OTHERDEVICE")
        other_user = FakeDevice("@bob:test", device.device_id)
        unsigned = device.device_keys()
        unsigned["signatures"] = {}
        forged = device.device_keys()
        forged["keys"][f"curve25519:{device.device_id}"] = FakeDevice("@x:test", "X").curve25519
        missing_curve = device.device_keys(keys={f"ed25519:{device.device_id}": device.ed25519})
        cases = [
            (other_device.device_keys(), "M_INVALID_PARAM"),
            (other_user.device_keys(), "M_INVALID_PARAM"),
            (unsigned, "M_INVALID_SIGNATURE"),
            (forged, "M_INVALID_SIGNATURE"),
            (missing_curve, "M_INVALID_PARAM"),
            (device.device_keys(keys={"ed25519": device.ed25519}), "M_INVALID_PARAM"),
            (device.device_keys(keys={f"ed25519:{device.device_id}": "short",
                                      f"curve25519:{device.device_id}": device.curve25519}), "M_INVALID_PARAM"),
            ({"user_id": device.user_id, "device_id": device.device_id}, "M_MISSING_PARAM"),
            (device.device_keys(algorithms="olm"), "M_BAD_JSON"),
        ]
        for keys, errcode in cases:
            # A bad part spoils the whole request: its one-time keys are not stored either.
            await self.assert_rejected_without_change(
                "POST", f"{V3}/keys/upload", {"device_keys": keys, "one_time_keys": device.one_time_keys(2)},
                400, errcode, token=token)

    async def test_bad_one_time_and_fallback_keys(self) -> None:
        alice, device = await self.account("alice")
        token = alice["access_token"]
        good = device.one_time_keys(1)
        cases = [
            {"one_time_keys": {"signed_curve25519": next(iter(good.values()))}},
            {"one_time_keys": {":AAAA": "x"}},
            {"one_time_keys": {"signed_curve25519:": next(iter(good.values()))}},
            {"one_time_keys": {"signed_curve25519:A": "not an object"}},
            {"one_time_keys": {"signed_curve25519:A": {"signatures": {}}}},
            {"one_time_keys": {"curve25519:A": 5}},
            {"fallback_keys": {"signed_curve25519:F1": {"key": "k", "signatures": {}},
                               "signed_curve25519:F2": {"key": "k", "signatures": {}}}},
            {"fallback_keys": {"bad key id": {"key": "k", "signatures": {}}}},
            {"one_time_keys": []},
        ]
        for body in cases:
            errcode = "M_BAD_JSON" if body.get("one_time_keys") == [] else "M_INVALID_PARAM"
            await self.assert_rejected_without_change("POST", f"{V3}/keys/upload", body, 400, errcode, token=token)

    async def test_one_time_key_id_reused_with_other_content(self) -> None:
        alice, device = await self.account("alice")
        token = alice["access_token"]
        keys = device.one_time_keys(3)
        await self.upload(token, {"one_time_keys": keys})
        # The same keys again (a retried request): fine, nothing doubles.
        r = await self.upload(token, {"one_time_keys": keys})
        self.assertEqual(r["one_time_key_counts"], {"signed_curve25519": 3})
        clash = {**device.one_time_keys(1, start=10), **device.one_time_keys(1, start=1)}
        r = await self.assert_rejected_without_change("POST", f"{V3}/keys/upload", {"one_time_keys": clash}, 400,
                                                      "M_INVALID_PARAM", token=token)
        self.assertIn("signed_curve25519:AAAA1", r.json["error"])
        # Plain curve25519 keys are accepted too.
        r = await self.upload(token, {"one_time_keys": {"curve25519:P1": "cGxhaW4"}})
        self.assertEqual(r["one_time_key_counts"], {"signed_curve25519": 3, "curve25519": 1})

    async def test_unauthenticated(self) -> None:
        r = await self.post(f"{V3}/keys/upload", {})
        self.assert_error(r, 401, "M_MISSING_TOKEN")
        r = await self.post(f"{V3}/keys/query", {"device_keys": {}})
        self.assert_error(r, 401, "M_MISSING_TOKEN")
        r = await self.post(f"{V3}/keys/claim", {"one_time_keys": {}})
        self.assert_error(r, 401, "M_MISSING_TOKEN")


class QueryTest(E2ETestCase):
    async def test_unknown_remote_and_specific_devices(self) -> None:
        alice, device = await self.account("alice")
        token = alice["access_token"]
        await self.upload(token, {"device_keys": device.device_keys()})
        second = await self.login("alice")
        device2 = FakeDevice("@alice:test", second["device_id"])
        await self.upload(second["access_token"], {"device_keys": device2.device_keys()})
        third = await self.login("alice")  # a device without keys is not listed
        result = await self.query(token, {"@alice:test": [], "@nobody:test": [], "@carol:elsewhere.example": []})
        self.assertEqual(set(result["device_keys"]), {"@alice:test"})
        self.assertEqual(set(result["device_keys"]["@alice:test"]), {device.device_id, device2.device_id})
        self.assertNotIn(third["device_id"], result["device_keys"]["@alice:test"])
        self.assertEqual(list(result["failures"]), ["elsewhere.example"])
        result = await self.query(token, {"@alice:test": [device2.device_id, "NOSUCHDEVICE"]})
        self.assertEqual(list(result["device_keys"]["@alice:test"]), [device2.device_id])
        # Deleting a device takes its keys along.
        await self.post(f"{V3}/logout", {}, token=second["access_token"])
        result = await self.query(token, {"@alice:test": []})
        self.assertEqual(list(result["device_keys"]["@alice:test"]), [device.device_id])

    async def test_bad_query_bodies(self) -> None:
        alice, _ = await self.account("alice")
        token = alice["access_token"]
        for body, code in [({}, "M_MISSING_PARAM"), ({"device_keys": {"alice": []}}, "M_INVALID_PARAM"),
                           ({"device_keys": {"@alice:test": "DEVICE"}}, "M_BAD_JSON"),
                           ({"device_keys": {"@alice:test": [1]}}, "M_BAD_JSON"),
                           ({"device_keys": []}, "M_BAD_JSON")]:
            await self.assert_rejected_without_change("POST", f"{V3}/keys/query", body, 400, code, token=token)


class ClaimTest(E2ETestCase):
    async def test_each_key_once_then_the_fallback(self) -> None:
        alice, device = await self.account("alice")
        atoken = alice["access_token"]
        fallback = device.fallback_key()
        await self.upload(atoken, {"device_keys": device.device_keys(), "one_time_keys": device.one_time_keys(2),
                                   "fallback_keys": fallback})
        self.assertEqual((await self.sync(atoken))["device_unused_fallback_key_types"], ["signed_curve25519"])
        bob, _ = await self.account("bob")
        btoken = bob["access_token"]
        wanted = {"@alice:test": {device.device_id: "signed_curve25519"}}
        seen = []
        for _ in range(2):
            result = await self.claim(btoken, wanted)
            ((key_id, key),) = result["one_time_keys"]["@alice:test"][device.device_id].items()
            self.assertTrue(key_id.startswith("signed_curve25519:AAAA"))
            self.assertNotIn("fallback", key)
            seen.append(key_id)
        self.assertEqual(len(set(seen)), 2)
        sync = await self.sync(atoken)
        self.assertEqual(sync["device_one_time_keys_count"], {"signed_curve25519": 0})
        # None left: the fallback key, as often as asked, marked used (not deleted).
        for _ in range(2):
            result = await self.claim(btoken, wanted)
            self.assertEqual(result["one_time_keys"]["@alice:test"][device.device_id], fallback)
        self.assertEqual((await self.sync(atoken))["device_unused_fallback_key_types"], [])
        # A new fallback key is unused again.
        await self.upload(atoken, {"fallback_keys": device.fallback_key("FFF2")})
        self.assertEqual((await self.sync(atoken))["device_unused_fallback_key_types"], ["signed_curve25519"])

    async def test_unknown_users_devices_and_remote_servers(self) -> None:
        alice, device = await self.account("alice")
        await self.upload(alice["access_token"], {"one_time_keys": device.one_time_keys(1)})
        bob, _ = await self.account("bob")
        body = {"one_time_keys": {"@nobody:test": {"DEV": "signed_curve25519"},
                                  "@alice:test": {"NOSUCHDEVICE": "signed_curve25519",
                                                  device.device_id: "unknown_algorithm"},
                                  "@carol:elsewhere.example": {"DEV": "signed_curve25519"}}}
        before = await self.snapshot()
        result = await self.claim(bob["access_token"], body["one_time_keys"])
        self.assertEqual(result["one_time_keys"], {})
        self.assertEqual(list(result["failures"]), ["elsewhere.example"])
        self.assertEqual(await self.snapshot(), before)

    async def test_bad_claim_bodies(self) -> None:
        bob, _ = await self.account("bob")
        for body, code in [({}, "M_MISSING_PARAM"), ({"one_time_keys": {"bob": {}}}, "M_INVALID_PARAM"),
                           ({"one_time_keys": {"@bob:test": ["DEV"]}}, "M_BAD_JSON"),
                           ({"one_time_keys": {"@bob:test": {"DEV": 1}}}, "M_BAD_JSON")]:
            await self.assert_rejected_without_change("POST", f"{V3}/keys/claim", body, 400, code,
                                                      token=bob["access_token"])

    async def test_concurrent_claims_never_share_a_key(self) -> None:
        alice, device = await self.account("alice")
        await self.upload(alice["access_token"], {"one_time_keys": device.one_time_keys(3)})
        claimers = [(await self.account(f"claimer{i}"))[0]["access_token"] for i in range(5)]
        wanted = {"@alice:test": {device.device_id: "signed_curve25519"}}
        results = await defer.gatherResults([
            defer.ensureDeferred(self.post(f"{V3}/keys/claim", {"one_time_keys": wanted}, token=t))
            for t in claimers])
        claimed = []
        for r in results:
            self.assertEqual(r.code, 200, r.json)
            claimed += list(r.json["one_time_keys"].get("@alice:test", {}).get(device.device_id, {}))
        # Three keys, five claimers, no fallback: three distinct keys, two empty answers.
        self.assertEqual(sorted(claimed), ["signed_curve25519:AAAA0", "signed_curve25519:AAAA1",
                                           "signed_curve25519:AAAA2"])

    async def test_claims_during_an_open_claim_transaction(self) -> None:
        """A first claim holds its transaction open after taking a key. A second claim takes
        the other key; a third, finding only the key being taken, waits for that transaction
        (PostgreSQL: its row lock; SQLite: its turn) and then gets the fallback key: never a
        key handed out twice, never the fallback while a key might still be free."""
        alice, device = await self.account("alice")
        fallback = device.fallback_key()
        await self.upload(alice["access_token"], {"one_time_keys": device.one_time_keys(2),
                                                  "fallback_keys": fallback})
        store = self.hs.e2e_keys_store
        claims = [("@alice:test", device.device_id, "signed_curve25519")]
        taken, release = threading.Event(), threading.Event()
        postgres = self.hs.database.engine.name == "psycopg2"

        def hold_open(txn: object) -> dict:
            result = store.claim_keys_txn(txn, claims)
            taken.set()
            release.wait(30)
            return result

        def key_of(result: dict) -> str:
            return result[("@alice:test", device.device_id)][0]

        async def lock_waiters() -> int:
            rows = await self.hs.database.execute(
                "lock_waiters", "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")
            return rows[0][0]

        first = defer.ensureDeferred(self.hs.database.run("hold_claim_open", hold_open))
        await wait_for(lambda: taken.is_set())
        second = defer.ensureDeferred(store.claim_keys(claims))
        if postgres:
            await wait_for(lambda: second.called)  # it skipped the locked key: no waiting for the first
        third = defer.ensureDeferred(store.claim_keys(claims))
        if postgres:
            await wait_for(lambda: defer.ensureDeferred(lock_waiters()))  # it waits for the first's row lock
        self.assertFalse(third.called)
        release.set()
        results = await defer.gatherResults([first, second, third])
        self.assertEqual([key_of(r) for r in results], ["AAAA0", "AAAA1", "FFFF"])


async def wait_for(condition, timeout: float = 20.0) -> None:
    """Poll `condition` (a value or a Deferred of one) in real time: for work in database threads."""
    for _ in range(int(timeout / 0.05)):
        result = condition()
        if isinstance(result, defer.Deferred):
            result = await result
        if result:
            return
        await deferLater(reactor, 0.05, lambda: None)
    raise AssertionError("condition never held")

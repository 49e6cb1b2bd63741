"""Device lists of the other server's users, tracked while a room is shared (spec: server-server
API, "Device Management"): fetched once and kept, updated in place by m.device_list_update EDUs
whose prev_id chain we hold, fetched again after a gap, cross-signing keys replaced by
m.signing_key_update, dropped when no room is shared any more; wrongly signed keys and answers for
other users are not kept; a peer that does not answer within the client's timeout is a failure."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from twisted.internet import defer

from tests.federation.two_servers import NAME_A, NAME_B, TwoServerTestCase
from tests.rest.e2e_support import CrossSigning, FakeDevice

V3 = "/_matrix/client/v3"
F = "/_matrix/federation/v1"


class RemoteDeviceListsTest(TwoServerTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.alice, self.token_a = await self.register_on(self.site, "alice")
        r = await self.request("POST", f"{V3}/register", {"username": "bob", "password": "password",
                                                         "auth": {"type": "m.login.dummy"}}, site=self.site_b)
        self.bob, self.token_b, self.bob_device = r.json["user_id"], r.json["access_token"], r.json["device_id"]
        self.bob_keys = FakeDevice(self.bob, self.bob_device)
        r = await self.request("POST", f"{V3}/keys/upload", {"device_keys": self.bob_keys.device_keys()},
                               token=self.token_b, site=self.site_b)
        assert r.code == 200, r.json
        r = await self.post(f"{V3}/createRoom", {"preset": "private_chat", "invite": [self.bob]}, token=self.token_a)
        self.room_id = r.json["room_id"]
        r = await self.request("POST", f"{V3}/join/{quote(self.room_id)}", {}, token=self.token_b, site=self.site_b)
        assert r.code == 200, r.json
        self.txn = 0

    def device_fetches(self) -> int:
        return sum(1 for _, dest, uri in self.link_a.requests if dest == NAME_B and uri.startswith(f"{F}/user/devices/"))

    async def query(self, **body: Any) -> dict[str, Any]:
        r = await self.post(f"{V3}/keys/query", {"device_keys": {self.bob: []}, **body}, token=self.token_a)
        self.assertEqual(r.code, 200, r.json)
        return r.json

    async def kept(self) -> Any:
        return (await self.hs.remote_device_lists_store.get([self.bob])).get(self.bob)

    async def edu(self, edu_type: str, content: dict[str, Any], origin_link: Any = None) -> None:
        self.txn += 1
        link = origin_link or self.link_b
        origin = NAME_B if link is self.link_b else NAME_A
        await link.put_json(NAME_A, f"{F}/send/dl{self.txn}", {
            "origin": origin, "origin_server_ts": 1, "pdus": [], "edus": [{"edu_type": edu_type, "content": content}]})

    async def test_fetched_once_then_answered_from_the_kept_list(self) -> None:
        answer = await self.query()
        self.assertEqual(list(answer["device_keys"][self.bob]), [self.bob_device])
        self.assertEqual(self.device_fetches(), 1)
        answer = await self.query()
        self.assertEqual(self.device_fetches(), 1)
        self.assertEqual(answer["device_keys"][self.bob][self.bob_device]["keys"], self.bob_keys.device_keys()["keys"])
        # The other server down: its user's keys are still known, no failure.
        self.link_a.down.add(NAME_B)
        answer = await self.query()
        self.assertEqual(answer["failures"], {})
        self.assertIn(self.bob_device, answer["device_keys"][self.bob])

    async def test_an_update_in_the_chain_is_applied_in_place(self) -> None:
        await self.query()
        stream_id = (await self.kept()).stream_id
        phone = FakeDevice(self.bob, "PHONE")
        await self.edu("m.device_list_update", {
            "user_id": self.bob, "device_id": "PHONE", "stream_id": int(stream_id) + 1, "prev_id": [int(stream_id)],
            "deleted": False, "device_display_name": "Bob's phone", "keys": phone.device_keys()})
        answer = await self.query()
        self.assertEqual(self.device_fetches(), 1)  # no new fetch
        self.assertEqual(sorted(answer["device_keys"][self.bob]), sorted([self.bob_device, "PHONE"]))
        self.assertEqual(answer["device_keys"][self.bob]["PHONE"]["unsigned"], {"device_display_name": "Bob's phone"})
        # Then deleted, in the chain.
        await self.edu("m.device_list_update", {
            "user_id": self.bob, "device_id": "PHONE", "stream_id": int(stream_id) + 2,
            "prev_id": [int(stream_id) + 1], "deleted": True})
        answer = await self.query()
        self.assertEqual(list(answer["device_keys"][self.bob]), [self.bob_device])
        self.assertEqual(self.device_fetches(), 1)

    async def test_a_gap_fetches_the_list_again(self) -> None:
        await self.query()
        since = (await self.request("GET", f"{V3}/sync", token=self.token_a)).json["next_batch"]
        # B's real changes (a new login, its keys) go out as EDUs naming updates A never saw.
        r = await self.request("POST", f"{V3}/login", {"type": "m.login.password", "identifier": {
            "type": "m.id.user", "user": "bob"}, "password": "password"}, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        new_device, new_token = r.json["device_id"], r.json["access_token"]
        r = await self.request("POST", f"{V3}/keys/upload", {"device_keys": FakeDevice(self.bob, new_device).device_keys()},
                               token=new_token, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)

        async def refetched() -> bool:
            kept = await self.kept()
            return kept is not None and not kept.stale and new_device in kept.devices

        await self.eventually(refetched)
        self.assertGreaterEqual(self.device_fetches(), 2)
        r = await self.request("GET", f"{V3}/sync?since={since}", token=self.token_a)
        self.assertIn(self.bob, r.json["device_lists"]["changed"])
        fetches = self.device_fetches()
        answer = await self.query()
        self.assertEqual(sorted(answer["device_keys"][self.bob]), sorted([self.bob_device, new_device]))
        self.assertEqual(self.device_fetches(), fetches)

    async def test_a_forged_or_broken_update_changes_nothing(self) -> None:
        await self.query()
        before = await self.kept()
        # About a user of another server than the sender's: dropped.
        phone = FakeDevice(self.bob, "PHONE")
        await self.edu("m.device_list_update", {
            "user_id": self.bob, "device_id": "PHONE", "stream_id": 999, "prev_id": [int(before.stream_id)],
            "deleted": False, "keys": phone.device_keys()}, origin_link=self.link_a)
        # Keys not signed by the device: not kept (the update still counts in the chain).
        await self.edu("m.device_list_update", {
            "user_id": self.bob, "device_id": "PHONE", "stream_id": int(before.stream_id) + 1,
            "prev_id": [int(before.stream_id)], "deleted": False,
            "keys": {**phone.device_keys(), "signatures": {self.bob: {"ed25519:PHONE": "bad"}}}})
        answer = await self.query()
        self.assertEqual(list(answer["device_keys"][self.bob]), [self.bob_device])
        self.assertEqual(self.device_fetches(), 1)

    async def test_signing_key_update_replaces_the_cross_signing_keys(self) -> None:
        await self.query()
        cross = CrossSigning(self.bob)
        await self.edu("m.signing_key_update", {"user_id": self.bob, "master_key": cross.key("master"),
                                                "self_signing_key": cross.key("self_signing")})
        answer = await self.query()
        self.assertEqual(answer["master_keys"][self.bob]["keys"], cross.key("master")["keys"])
        self.assertEqual(answer["self_signing_keys"][self.bob]["keys"], cross.key("self_signing")["keys"])
        self.assertEqual(self.device_fetches(), 1)

    async def test_dropped_when_no_room_is_shared(self) -> None:
        await self.query()
        self.assertIsNotNone(await self.kept())
        r = await self.request("POST", f"{V3}/rooms/{quote(self.room_id)}/leave", {}, token=self.token_b,
                               site=self.site_b)
        self.assertEqual(r.code, 200, r.json)

        async def forgotten() -> bool:
            return await self.kept() is None

        await self.eventually(forgotten)
        # Not shared: asked of B at each query, and not kept.
        await self.query()
        await self.query()
        self.assertIsNone(await self.kept())
        self.assertEqual(sum(1 for _, d, u in self.link_a.requests if d == NAME_B and u == f"{F}/user/keys/query"), 2)

    async def test_wrongly_signed_keys_and_answers_for_others_are_not_kept(self) -> None:
        def tamper(uri: str, answer: Any) -> Any:
            if uri.startswith(f"{F}/user/devices/"):
                for device in answer["devices"]:
                    device["keys"]["keys"][f"curve25519:{device['device_id']}"] = "A" * 43  # signature now wrong
            return answer

        self.link_a.rewrite_json = tamper
        answer = await self.query()
        self.assertEqual(answer["device_keys"][self.bob], {})
        # An answer about someone else: a failure, nothing kept.
        await self.hs.remote_device_lists_store.delete([self.bob])
        self.link_a.rewrite_json = lambda uri, answer: {**answer, "user_id": "@mallory:" + NAME_B}
        answer = await self.query()
        self.assertIn(NAME_B, answer["failures"])
        self.assertIsNone(await self.kept())

    async def test_a_peer_that_hangs_is_a_failure_after_the_timeout(self) -> None:
        self.link_a.hanging.add(NAME_B)
        pending = defer.ensureDeferred(self.post(f"{V3}/keys/query", {"device_keys": {self.bob: []}, "timeout": 2000},
                                                 token=self.token_a))
        await self.pump()
        self.assertFalse(pending.called)
        self.advance(2)
        r = await pending
        self.assertEqual(r.code, 200, r.json)
        self.assertIn(NAME_B, r.json["failures"])
        pending = defer.ensureDeferred(self.post(f"{V3}/keys/claim", {
            "one_time_keys": {self.bob: {self.bob_device: "signed_curve25519"}}, "timeout": 1000}, token=self.token_a))
        await self.pump()
        self.advance(1)
        r = await pending
        self.assertIn(NAME_B, r.json["failures"])

"""End-to-end encryption across two servers (spec: server-server "End-to-End Encryption",
"Device Management", "Send-to-device messaging"): keys queried and claimed from the other server
(failures named when it is down), to-device messages delivered once, and a device change of a
user of the other server reaching /sync device_lists."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.federation.two_servers import NAME_A, NAME_B, TwoServerTestCase
from tests.rest.e2e_support import FakeDevice

V3 = "/_matrix/client/v3"
F = "/_matrix/federation/v1"


class E2EAcrossServersTest(TwoServerTestCase):
    async def register_device(self, site: Any, name: str) -> tuple[str, str, str]:
        r = await self.request("POST", f"{V3}/register", {"username": name, "password": "password",
                                                         "auth": {"type": "m.login.dummy"}}, site=site)
        assert r.code == 200, r.json
        return r.json["user_id"], r.json["access_token"], r.json["device_id"]

    async def _set_up(self) -> None:
        await super()._set_up()
        self.alice, self.token_a, self.alice_device = await self.register_device(self.site, "alice")
        self.bob, self.token_b, self.bob_device = await self.register_device(self.site_b, "bob")
        self.bob_keys = FakeDevice(self.bob, self.bob_device)
        r = await self.request("POST", f"{V3}/keys/upload", {"device_keys": self.bob_keys.device_keys(),
                                                            "one_time_keys": self.bob_keys.one_time_keys(2)},
                               token=self.token_b, site=self.site_b)
        assert r.code == 200, r.json
        r = await self.post(f"{V3}/createRoom", {"preset": "private_chat", "invite": [self.bob]}, token=self.token_a)
        self.room_id = r.json["room_id"]
        r = await self.request("POST", f"{V3}/join/{quote(self.room_id)}", {}, token=self.token_b, site=self.site_b)
        assert r.code == 200, r.json

    async def test_keys_of_the_other_server_s_user(self) -> None:
        r = await self.post(f"{V3}/keys/query", {"device_keys": {self.bob: []}}, token=self.token_a)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["failures"], {})
        self.assertEqual(r.json["device_keys"][self.bob][self.bob_device]["keys"],
                         self.bob_keys.device_keys()["keys"])
        r = await self.post(f"{V3}/keys/claim", {"one_time_keys": {self.bob: {self.bob_device: "signed_curve25519"}}},
                            token=self.token_a)
        self.assertEqual(r.code, 200, r.json)
        claimed = r.json["one_time_keys"][self.bob][self.bob_device]
        self.assertEqual(len(claimed), 1)
        self.assertTrue(next(iter(claimed)).startswith("signed_curve25519:"))
        # The other server down: a user we share no room with cannot be asked (named in
        # failures); bob's list is kept (tests/federation/test_remote_device_lists.py); our own
        # users still answered.
        self.link_a.down.add(NAME_B)
        carol = f"@carol:{NAME_B}"
        r = await self.post(f"{V3}/keys/query", {"device_keys": {carol: [], self.alice: []}}, token=self.token_a)
        self.assertEqual(r.code, 200, r.json)
        self.assertIn(NAME_B, r.json["failures"])
        self.assertIn(self.alice, r.json["device_keys"])
        r = await self.post(f"{V3}/keys/claim", {"one_time_keys": {self.bob: {self.bob_device: "signed_curve25519"}}},
                            token=self.token_a)
        self.assertIn(NAME_B, r.json["failures"])

    async def test_the_answering_side(self) -> None:
        answer = await self.link_a.get_json(NAME_B, f"{F}/user/devices/{quote(self.bob)}")
        self.assertEqual(answer["user_id"], self.bob)
        self.assertEqual([d["device_id"] for d in answer["devices"]], [self.bob_device])
        self.assertIsInstance(answer["stream_id"], int)
        answer = await self.link_a.post_json(NAME_B, f"{F}/user/keys/query",
                                             {"device_keys": {self.bob: [], self.alice: []}})
        self.assertEqual(list(answer["device_keys"]), [self.bob])  # only its own users
        answer = await self.link_a.post_json(NAME_B, f"{F}/user/keys/claim",
                                             {"one_time_keys": {self.bob: {self.bob_device: "signed_curve25519"}}})
        self.assertEqual(len(answer["one_time_keys"][self.bob][self.bob_device]), 1)
        from homeserver.federation.client import FederationError
        with self.assertRaises(FederationError) as caught:
            await self.link_a.get_json(NAME_B, f"{F}/user/devices/{quote(self.alice)}")
        self.assertEqual(caught.exception.code, 404)
        with self.assertRaises(FederationError) as caught:
            await self.link_a.post_json(NAME_B, f"{F}/user/keys/query", {"device_keys": "nope"})
        self.assertEqual(caught.exception.code, 400)

    async def test_to_device_messages_cross_once(self) -> None:
        first = await self.request("GET", f"{V3}/sync", token=self.token_b, site=self.site_b)
        r = await self.request("PUT", f"{V3}/sendToDevice/m.room_key_request/txn1",
                               {"messages": {self.bob: {self.bob_device: {"hello": "bob"}}}}, token=self.token_a)
        self.assertEqual(r.code, 200, r.json)

        async def delivered() -> list[dict]:
            r = await self.request("GET", f"{V3}/sync?since={first.json['next_batch']}", token=self.token_b,
                                   site=self.site_b)
            return r.json.get("to_device", {}).get("events", [])

        async def arrived() -> bool:
            return bool(await delivered())

        await self.eventually(arrived)
        events = await delivered()
        self.assertEqual([(e["sender"], e["type"], e["content"]) for e in events],
                         [(self.alice, "m.room_key_request", {"hello": "bob"})])
        # The same EDU again (a resent transaction): not delivered twice.
        edu = {"edu_type": "m.direct_to_device", "content": {
            "sender": self.alice, "type": "m.room_key_request", "message_id": "m1",
            "messages": {self.bob: {self.bob_device: {"n": 1}}}}}
        for txn in ("t1", "t2"):
            await self.link_a.put_json(NAME_B, f"{F}/send/{txn}", {"origin": NAME_A, "origin_server_ts": 1,
                                                                  "pdus": [], "edus": [edu]})
        events = await delivered()
        self.assertEqual(sum(1 for e in events if e["content"] == {"n": 1}), 1)
        # A to-device EDU sent by B for A's user is dropped.
        forged = {"edu_type": "m.direct_to_device", "content": {
            "sender": self.alice, "type": "x", "message_id": "m2", "messages": {self.alice: {"*": {"n": 2}}}}}
        await self.link_b.put_json(NAME_A, f"{F}/send/forged", {"origin": NAME_B, "origin_server_ts": 1,
                                                               "pdus": [], "edus": [forged]})
        r = await self.request("GET", f"{V3}/sync", token=self.token_a)
        self.assertEqual(r.json.get("to_device", {}).get("events", []), [])

    async def test_a_device_change_reaches_the_other_server_s_sync(self) -> None:
        first = await self.request("GET", f"{V3}/sync", token=self.token_a)
        since = first.json["next_batch"]
        r = await self.request("POST", f"{V3}/login", {"type": "m.login.password", "identifier": {
            "type": "m.id.user", "user": "bob"}, "password": "password"}, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)

        async def alice_told() -> bool:
            r = await self.request("GET", f"{V3}/sync?since={since}", token=self.token_a)
            return self.bob in r.json.get("device_lists", {}).get("changed", [])

        await self.eventually(alice_told)
        r = await self.request("GET", f"{V3}/keys/changes?from={since}&to={first.json['next_batch']}",
                               token=self.token_a)
        self.assertEqual(r.code, 200, r.json)

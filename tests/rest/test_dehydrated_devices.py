"""MSC3814 dehydrated devices: store (with keys), get, replace, delete, and reading the to-device
messages sent to it in batches without deleting them."""

from urllib.parse import quote

from nacl.public import PrivateKey
from signedjson.key import generate_signing_key, get_verify_key
from signedjson.sign import sign_json

from homeserver.events.hashing import encode_base64
from tests.server import HomeserverTestCase

V3 = "/_matrix/client/v3"
MSC3814 = "/_matrix/client/unstable/org.matrix.msc3814.v1"
DEVICE_DATA = {"algorithm": "org.matrix.msc3814.v1.olm", "device_pickle": "encrypted"}


def dehydrated_device(user_id: str) -> dict:
    """A PUT body as a client makes it: the device ID is its curve25519 key; keys signed by its ed25519 key."""
    curve = encode_base64(bytes(PrivateKey.generate().public_key))
    device_id = curve
    signing = generate_signing_key(device_id)
    ed = encode_base64(get_verify_key(signing).encode())
    device_keys = sign_json({
        "user_id": user_id, "device_id": device_id, "dehydrated": True,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {f"curve25519:{device_id}": curve, f"ed25519:{device_id}": ed},
    }, user_id, signing)
    one_time = {"signed_curve25519:AAAAAQ": sign_json({"key": curve}, user_id, signing)}
    fallback = {"signed_curve25519:AAAAAg": sign_json({"key": curve, "fallback": True}, user_id, signing)}
    return {"device_id": device_id, "device_data": DEVICE_DATA, "initial_device_display_name": "Dehydrated device",
            "device_keys": device_keys, "one_time_keys": one_time, "fallback_keys": fallback}


class DehydratedDevicesTest(HomeserverTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.alice = await self.register("alice")
        self.token = self.alice["access_token"]
        self.bob = await self.register("bob")

    async def call(self, method: str, path: str, body: object = None, code: int = 200, token: str | None = None) -> dict:
        r = await self.request(method, f"{MSC3814}{path}", body, token=token or self.token)
        self.assertEqual(r.code, code, r.json)
        return r.json

    async def device_ids(self) -> set[str]:
        r = await self.get(f"{V3}/devices", token=self.token)
        return {d["device_id"] for d in r.json["devices"]}

    async def to_device(self, messages: dict, txn_id: str) -> None:
        r = await self.request("PUT", f"{V3}/sendToDevice/m.room.encrypted/{txn_id}", {"messages": messages},
                               token=self.bob["access_token"])
        self.assertEqual(r.code, 200, r.json)

    async def test_advertised_and_none_yet(self) -> None:
        r = await self.get("/_matrix/client/versions")
        self.assertIs(r.json["unstable_features"]["org.matrix.msc3814"], True)
        r = await self.get(f"{MSC3814}/dehydrated_device", token=self.token)
        self.assert_error(r, 404, "M_NOT_FOUND")  # M_NOT_FOUND, not M_UNRECOGNIZED: supported, none stored
        r = await self.request("DELETE", f"{MSC3814}/dehydrated_device", token=self.token)
        self.assert_error(r, 404, "M_NOT_FOUND")

    async def test_store_get_and_keys(self) -> None:
        body = dehydrated_device("@alice:test")
        device_id = body["device_id"]
        self.assertEqual(await self.call("PUT", "/dehydrated_device", body), {"device_id": device_id})
        self.assertEqual(await self.call("GET", "/dehydrated_device"),
                         {"device_id": device_id, "device_data": DEVICE_DATA})
        self.assertIn(device_id, await self.device_ids())
        # Its keys are there for others to encrypt to it.
        r = await self.post(f"{V3}/keys/query", {"device_keys": {"@alice:test": []}}, token=self.bob["access_token"])
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["device_keys"]["@alice:test"][device_id]["keys"], body["device_keys"]["keys"])
        r = await self.post(f"{V3}/keys/claim", {"one_time_keys": {"@alice:test": {device_id: "signed_curve25519"}}},
                            token=self.bob["access_token"])
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(list(r.json["one_time_keys"]["@alice:test"][device_id]), ["signed_curve25519:AAAAAQ"])
        # Storing the same device again (a retried request) is fine.
        self.assertEqual(await self.call("PUT", "/dehydrated_device", body), {"device_id": device_id})

    async def test_events_in_batches_without_deleting(self) -> None:
        body = dehydrated_device("@alice:test")
        device_id = body["device_id"]
        await self.call("PUT", "/dehydrated_device", body)
        await self.to_device({"@alice:test": {"*": {"n": 0}}}, "t0")
        await self.to_device({"@alice:test": {device_id: {"n": 1}}}, "t1")
        await self.to_device({"@alice:test": {device_id: {"n": 2}}}, "t2")
        path = f"/dehydrated_device/{quote(device_id, safe='')}/events"
        first = await self.call("POST", f"{path}?limit=2", {})
        self.assertEqual(first["events"], [{"sender": "@bob:test", "type": "m.room.encrypted", "content": {"n": 0}},
                                           {"sender": "@bob:test", "type": "m.room.encrypted", "content": {"n": 1}}])
        second = await self.call("POST", f"{path}?limit=2", {"next_batch": first["next_batch"]})
        self.assertEqual([e["content"] for e in second["events"]], [{"n": 2}])
        last = await self.call("POST", path, {"next_batch": second["next_batch"]})
        self.assertEqual(last["events"], [])
        self.assertIsInstance(last["next_batch"], str)
        # Nothing was deleted: an interrupted rehydration can start over.
        again = await self.call("POST", path)
        self.assertEqual([e["content"] for e in again["events"]], [{"n": 0}, {"n": 1}, {"n": 2}])
        # Only the dehydrated device's ID will do.
        r = await self.post(f"{MSC3814}/dehydrated_device/{self.alice['device_id']}/events", {}, token=self.token)
        self.assert_error(r, 403, "M_FORBIDDEN")
        r = await self.post(f"{MSC3814}{path}", {}, token=self.bob["access_token"])
        self.assert_error(r, 403, "M_FORBIDDEN")
        r = await self.post(f"{MSC3814}{path}", {"next_batch": "garbage"}, token=self.token)
        self.assert_error(r, 400, "M_INVALID_PARAM")

    async def test_events_with_get_and_from(self) -> None:
        """The MSC's newer form: GET with `from`; `next_batch` only while more may follow."""
        body = dehydrated_device("@alice:test")
        await self.call("PUT", "/dehydrated_device", body)
        for n in range(3):
            await self.to_device({"@alice:test": {body["device_id"]: {"n": n}}}, f"t{n}")
        path = f"/dehydrated_device/{quote(body['device_id'], safe='')}/events"
        first = await self.call("GET", f"{path}?limit=2")
        self.assertEqual([e["content"] for e in first["events"]], [{"n": 0}, {"n": 1}])
        second = await self.call("GET", f"{path}?limit=2&from={first['next_batch']}")
        self.assertEqual(second, {"events": [{"sender": "@bob:test", "type": "m.room.encrypted",
                                              "content": {"n": 2}}]})
        # A full last batch says "maybe more"; the next call finds none and ends the paging.
        full = await self.call("GET", f"{path}?limit=3")
        self.assertEqual(len(full["events"]), 3)
        self.assertEqual(await self.call("GET", f"{path}?from={full['next_batch']}"), {"events": []})
        r = await self.get(f"{MSC3814}{path}", token=self.bob["access_token"])
        self.assert_error(r, 403, "M_FORBIDDEN")
        r = await self.get(f"{MSC3814}{path}?from=x", token=self.token)
        self.assert_error(r, 400, "M_INVALID_PARAM")

    async def test_replacing_deletes_the_old_device(self) -> None:
        old = dehydrated_device("@alice:test")
        await self.call("PUT", "/dehydrated_device", old)
        await self.to_device({"@alice:test": {old["device_id"]: {"for": "old"}}}, "t1")
        new = dehydrated_device("@alice:test")
        await self.call("PUT", "/dehydrated_device", new)
        self.assertEqual((await self.call("GET", "/dehydrated_device"))["device_id"], new["device_id"])
        devices = await self.device_ids()
        self.assertIn(new["device_id"], devices)
        self.assertNotIn(old["device_id"], devices)
        rows = await self.hs.database.execute("inbox", "SELECT COUNT(*) FROM device_inbox")
        self.assertEqual(rows[0][0], 0)
        r = await self.post(f"{V3}/keys/query", {"device_keys": {"@alice:test": []}}, token=self.token)
        self.assertNotIn(old["device_id"], r.json["device_keys"]["@alice:test"])
        r = await self.post(f"{MSC3814}/dehydrated_device/{quote(old['device_id'], safe='')}/events", {},
                            token=self.token)
        self.assert_error(r, 403, "M_FORBIDDEN")

    async def test_delete(self) -> None:
        body = dehydrated_device("@alice:test")
        await self.call("PUT", "/dehydrated_device", body)
        self.assertEqual(await self.call("DELETE", "/dehydrated_device"), {"device_id": body["device_id"]})
        self.assertNotIn(body["device_id"], await self.device_ids())
        await self.call("GET", "/dehydrated_device", code=404)
        await self.call("DELETE", "/dehydrated_device", code=404)

    async def test_deleted_through_devices_api(self) -> None:
        body = dehydrated_device("@alice:test")
        await self.call("PUT", "/dehydrated_device", body)
        r = await self.request("DELETE", f"{V3}/devices/{quote(body['device_id'], safe='')}",
                               {"auth": {"type": "m.login.password", "password": "password",
                                         "identifier": {"type": "m.id.user", "user": "alice"}}}, token=self.token)
        self.assertEqual(r.code, 200, r.json)
        await self.call("GET", "/dehydrated_device", code=404)

    async def test_without_keys(self) -> None:
        self.assertEqual(await self.call("PUT", "/dehydrated_device", {"device_id": "PLAIN", "device_data": DEVICE_DATA}),
                         {"device_id": "PLAIN"})
        self.assertIn("PLAIN", await self.device_ids())

    async def test_refusals_change_nothing(self) -> None:
        await self.call("PUT", "/dehydrated_device", dehydrated_device("@alice:test"))
        path = f"{MSC3814}/dehydrated_device"
        good = dehydrated_device("@alice:test")
        other_user = dehydrated_device("@bob:test")
        bad_signature = dehydrated_device("@alice:test")
        bad_signature["device_keys"]["signatures"]["@alice:test"] = {
            f"ed25519:{bad_signature['device_id']}": "AAAA"}
        for body, code, errcode in (
            ({"device_data": DEVICE_DATA}, 400, "M_MISSING_PARAM"),
            ({"device_id": "X"}, 400, "M_MISSING_PARAM"),
            ({"device_id": 5, "device_data": DEVICE_DATA}, 400, "M_BAD_JSON"),
            ({"device_id": "X", "device_data": "data"}, 400, "M_BAD_JSON"),
            ({"device_id": "X", "device_data": {}}, 400, "M_MISSING_PARAM"),
            ({**good, "device_keys": {**good["device_keys"], "device_id": "OTHER"}}, 400, "M_INVALID_PARAM"),
            ({**other_user}, 400, "M_INVALID_PARAM"),
            ({**good, "one_time_keys": {"no_colon": "x"}}, 400, "M_INVALID_PARAM"),
            (bad_signature, 400, "M_INVALID_SIGNATURE"),
            # A device somebody is logged in with cannot become the dehydrated device.
            ({"device_id": self.alice["device_id"], "device_data": DEVICE_DATA}, 400, "M_INVALID_PARAM"),
        ):
            await self.assert_rejected_without_change("PUT", path, body, code, errcode, token=self.token)
        await self.assert_rejected_without_change("PUT", path, None, 400, "M_NOT_JSON", token=self.token,
                                                  raw_body=b"nope")
        await self.assert_rejected_without_change("PUT", path, good, 401, "M_MISSING_TOKEN")

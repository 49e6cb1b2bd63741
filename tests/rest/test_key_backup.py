"""Server-side key backups: versions (create, current, update, delete), keys at three levels
(store, get, delete), the spec's replacement rule, etag/count, and every refusal."""

from urllib.parse import quote

from tests.server import HomeserverTestCase

V3 = "/_matrix/client/v3"
ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2"
AUTH_DATA = {"public_key": "abcdefg", "signatures": {"@alice:test": {"ed25519:DEV": "sig"}}}
ROOM = "!room:test"
R = quote(ROOM)


def key(first: int = 0, forwarded: int = 0, verified: bool = False, data: str = "a") -> dict:
    return {"first_message_index": first, "forwarded_count": forwarded, "is_verified": verified,
            "session_data": {"ephemeral": "e", "ciphertext": data, "mac": "m"}}


class KeyBackupTest(HomeserverTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.token = (await self.register("alice"))["access_token"]

    async def call(self, method: str, path: str, body: object = None, code: int = 200) -> dict:
        r = await self.request(method, f"{V3}{path}", body, token=self.token)
        self.assertEqual(r.code, code, r.json)
        return r.json

    async def new_version(self, auth_data: dict | None = None) -> str:
        body = await self.call("POST", "/room_keys/version", {"algorithm": ALGORITHM, "auth_data": auth_data or AUTH_DATA})
        self.assertIsInstance(body["version"], str)
        return body["version"]

    async def test_versions(self) -> None:
        r = await self.get(f"{V3}/room_keys/version", token=self.token)
        self.assert_error(r, 404, "M_NOT_FOUND")
        v1 = await self.new_version()
        current = await self.call("GET", "/room_keys/version")
        self.assertEqual(current, {"algorithm": ALGORITHM, "auth_data": AUTH_DATA, "version": v1, "count": 0,
                                   "etag": current["etag"]})
        self.assertIsInstance(current["etag"], str)
        self.assertEqual(await self.call("GET", f"/room_keys/version/{v1}"), current)
        v2 = await self.new_version({"public_key": "second"})
        self.assertNotEqual(v1, v2)
        self.assertEqual((await self.call("GET", "/room_keys/version"))["version"], v2)
        # The old version can still be read.
        self.assertEqual((await self.call("GET", f"/room_keys/version/{v1}"))["auth_data"], AUTH_DATA)
        # Update: only auth_data changes.
        new_auth = {"public_key": "second", "signatures": {"@alice:test": {"ed25519:X": "y"}}}
        self.assertEqual(await self.call("PUT", f"/room_keys/version/{v2}",
                                         {"algorithm": ALGORITHM, "auth_data": new_auth, "version": v2}), {})
        self.assertEqual((await self.call("GET", "/room_keys/version"))["auth_data"], new_auth)
        # Delete: the previous version is current again; a second delete still succeeds.
        self.assertEqual(await self.call("DELETE", f"/room_keys/version/{v2}"), {})
        self.assertEqual(await self.call("DELETE", f"/room_keys/version/{v2}"), {})
        self.assert_error(await self.get(f"{V3}/room_keys/version/{v2}", token=self.token), 404, "M_NOT_FOUND")
        self.assertEqual((await self.call("GET", "/room_keys/version"))["version"], v1)
        # A deleted version's number is not handed out again.
        v3 = await self.new_version()
        self.assertNotIn(v3, (v1, v2))
        # Versions are per user.
        other = (await self.register("bob"))["access_token"]
        self.assert_error(await self.get(f"{V3}/room_keys/version", token=other), 404, "M_NOT_FOUND")
        self.assert_error(await self.get(f"{V3}/room_keys/version/{v3}", token=other), 404, "M_NOT_FOUND")

    async def test_keys_at_every_level(self) -> None:
        v = await self.new_version()
        put = await self.call("PUT", f"/room_keys/keys/{R}/s1?version={v}", key(data="one"))
        self.assertEqual(put["count"], 1)
        etag1 = put["etag"]
        put = await self.call("PUT", f"/room_keys/keys/{R}?version={v}", {"sessions": {"s2": key(data="two")}})
        self.assertEqual(put["count"], 2)
        self.assertNotEqual(put["etag"], etag1)
        put = await self.call("PUT", f"/room_keys/keys?version={v}",
                              {"rooms": {"!other:test": {"sessions": {"s3": key(data="three")}}}})
        self.assertEqual(put["count"], 3)
        info = await self.call("GET", "/room_keys/version")
        self.assertEqual((info["count"], info["etag"]), (3, put["etag"]))

        self.assertEqual(await self.call("GET", f"/room_keys/keys/{R}/s1?version={v}"), key(data="one"))
        self.assertEqual(await self.call("GET", f"/room_keys/keys/{R}?version={v}"),
                         {"sessions": {"s1": key(data="one"), "s2": key(data="two")}})
        self.assertEqual(await self.call("GET", f"/room_keys/keys?version={v}"), {"rooms": {
            ROOM: {"sessions": {"s1": key(data="one"), "s2": key(data="two")}},
            "!other:test": {"sessions": {"s3": key(data="three")}}}})
        # Nothing there: empty, not an error (except for one session).
        self.assertEqual(await self.call("GET", f"/room_keys/keys/{quote('!none:test')}?version={v}"),
                         {"sessions": {}})
        r = await self.get(f"{V3}/room_keys/keys/{R}/nope?version={v}", token=self.token)
        self.assert_error(r, 404, "M_NOT_FOUND")

        deleted = await self.call("DELETE", f"/room_keys/keys/{R}/s1?version={v}")
        self.assertEqual(deleted["count"], 2)
        self.assertNotEqual(deleted["etag"], put["etag"])
        self.assertEqual((await self.call("DELETE", f"/room_keys/keys/{R}?version={v}"))["count"], 1)
        self.assertEqual((await self.call("DELETE", f"/room_keys/keys?version={v}"))["count"], 0)
        self.assertEqual(await self.call("GET", f"/room_keys/keys?version={v}"), {"rooms": {}})

    async def test_replacement_rule(self) -> None:
        v = await self.new_version()
        path = f"/room_keys/keys/{R}/s?version={v}"

        async def stored() -> dict:
            return await self.call("GET", path)

        await self.call("PUT", path, key(first=5, forwarded=2, verified=False, data="start"))
        etag = (await self.call("GET", "/room_keys/version"))["etag"]
        # Worse on every count: kept, etag unchanged.
        kept = await self.call("PUT", path, key(first=9, forwarded=3, verified=False, data="worse"))
        self.assertEqual((kept["etag"], kept["count"]), (etag, 1))
        self.assertEqual((await stored())["session_data"]["ciphertext"], "start")
        # Same verification, lower first_message_index: replaces (even if forwarded more).
        await self.call("PUT", path, key(first=1, forwarded=7, verified=False, data="earlier"))
        self.assertEqual((await stored())["session_data"]["ciphertext"], "earlier")
        # Same index, fewer forwards: replaces.
        await self.call("PUT", path, key(first=1, forwarded=0, verified=False, data="fewer"))
        self.assertEqual((await stored())["session_data"]["ciphertext"], "fewer")
        # A tie: kept.
        await self.call("PUT", path, key(first=1, forwarded=0, verified=False, data="tie"))
        self.assertEqual((await stored())["session_data"]["ciphertext"], "fewer")
        # Verified beats a lower index.
        await self.call("PUT", path, key(first=50, forwarded=9, verified=True, data="verified"))
        self.assertEqual((await stored())["session_data"]["ciphertext"], "verified")
        # Unverified never replaces verified, however good.
        await self.call("PUT", path, key(first=0, forwarded=0, verified=False, data="unverified"))
        self.assertEqual(await stored(), key(first=50, forwarded=9, verified=True, data="verified"))
        # Two copies of one session in one request: the better one counts.
        await self.call("PUT", f"/room_keys/keys?version={v}", {"rooms": {
            ROOM: {"sessions": {"t": key(first=3, data="three")}},
            "!x:test": {"sessions": {"t": key(first=1, data="other room")}}}})
        self.assertEqual((await self.call("GET", f"/room_keys/keys/{R}/t?version={v}"))["session_data"]["ciphertext"],
                         "three")

    async def test_wrong_version_writes_are_refused(self) -> None:
        await self.assert_rejected_without_change("PUT", f"{V3}/room_keys/keys/{R}/s?version=1", key(), 404,
                                                  "M_NOT_FOUND", token=self.token)
        v1 = await self.new_version()
        await self.call("PUT", f"/room_keys/keys/{R}/s?version={v1}", key())
        v2 = await self.new_version()
        for path, body in ((f"/room_keys/keys/{R}/s", key()), (f"/room_keys/keys/{R}", {"sessions": {"s": key()}}),
                           ("/room_keys/keys", {"rooms": {ROOM: {"sessions": {"s": key()}}}})):
            for version in (v1, "nonsense", "99"):
                r = await self.assert_rejected_without_change("PUT", f"{V3}{path}?version={version}", body, 403,
                                                              "M_WRONG_ROOM_KEYS_VERSION", token=self.token)
                self.assertEqual(r.json["current_version"], v2)
        # The old version's keys can still be read and deleted.
        self.assertEqual((await self.call("GET", f"/room_keys/keys?version={v1}"))["rooms"][ROOM]["sessions"]["s"],
                         key())
        self.assertEqual((await self.call("DELETE", f"/room_keys/keys?version={v1}"))["count"], 0)

    async def test_deleting_version_deletes_its_keys(self) -> None:
        v = await self.new_version()
        await self.call("PUT", f"/room_keys/keys/{R}/s?version={v}", key())
        await self.call("DELETE", f"/room_keys/version/{v}")
        rows = await self.hs.database.execute("keys", "SELECT COUNT(*) FROM room_key_backup_keys")
        self.assertEqual(rows[0][0], 0)
        for method in ("GET", "DELETE"):
            r = await self.request(method, f"{V3}/room_keys/keys?version={v}", token=self.token)
            self.assert_error(r, 404, "M_NOT_FOUND")

    async def test_refusals_change_nothing(self) -> None:
        v = await self.new_version()
        await self.call("PUT", f"/room_keys/keys/{R}/s?version={v}", key())
        t = self.token
        refusals = [
            ("POST", "/room_keys/version", {"algorithm": ALGORITHM}, 400, "M_MISSING_PARAM"),
            ("POST", "/room_keys/version", {"auth_data": {}}, 400, "M_MISSING_PARAM"),
            ("POST", "/room_keys/version", {"algorithm": 5, "auth_data": {}}, 400, "M_BAD_JSON"),
            ("POST", "/room_keys/version", {"algorithm": ALGORITHM, "auth_data": "x"}, 400, "M_BAD_JSON"),
            ("PUT", f"/room_keys/version/{v}", {"algorithm": "other", "auth_data": {}}, 400, "M_INVALID_PARAM"),
            ("PUT", f"/room_keys/version/{v}", {"algorithm": ALGORITHM, "auth_data": {}, "version": "7"}, 400,
             "M_INVALID_PARAM"),
            ("PUT", f"/room_keys/version/{v}", {"auth_data": {}}, 400, "M_MISSING_PARAM"),
            ("PUT", "/room_keys/version/77", {"algorithm": ALGORITHM, "auth_data": {}}, 404, "M_NOT_FOUND"),
            ("PUT", "/room_keys/version/abc", {"algorithm": ALGORITHM, "auth_data": {}}, 404, "M_NOT_FOUND"),
            ("DELETE", "/room_keys/version/77", None, 404, "M_NOT_FOUND"),
            ("GET", "/room_keys/version/abc", None, 404, "M_NOT_FOUND"),
            ("PUT", f"/room_keys/keys/{R}/s", key(), 400, "M_MISSING_PARAM"),
            ("GET", "/room_keys/keys", None, 400, "M_MISSING_PARAM"),
            ("DELETE", f"/room_keys/keys/{R}", None, 400, "M_MISSING_PARAM"),
            ("PUT", f"/room_keys/keys/{R}/s?version={v}", {**key(), "is_verified": "yes"}, 400, "M_BAD_JSON"),
            ("PUT", f"/room_keys/keys/{R}/s?version={v}", {**key(), "first_message_index": -1}, 400,
             "M_INVALID_PARAM"),
            ("PUT", f"/room_keys/keys/{R}/s?version={v}", {**key(), "forwarded_count": 2**63}, 400,
             "M_BAD_JSON"),  # beyond the canonical JSON range: refused by the body parser
            ("PUT", f"/room_keys/keys/{R}/s?version={v}", {"first_message_index": 0}, 400, "M_MISSING_PARAM"),
            ("PUT", f"/room_keys/keys/{R}?version={v}", {"sessions": {"s": {**key(), "session_data": 1}}}, 400,
             "M_BAD_JSON"),
            ("PUT", f"/room_keys/keys/{R}?version={v}", {}, 400, "M_MISSING_PARAM"),
            ("PUT", f"/room_keys/keys?version={v}", {"rooms": {"not-a-room": {"sessions": {}}}}, 400,
             "M_INVALID_PARAM"),
            ("PUT", f"/room_keys/keys?version={v}", {"rooms": {ROOM: {"sessions": {"ok": key(),
                                                                                    "bad": {}}}}}, 400,
             "M_MISSING_PARAM"),
            ("GET", "/room_keys/keys?version=99", None, 404, "M_NOT_FOUND"),
            ("DELETE", f"/room_keys/keys/{R}/s?version=99", None, 404, "M_NOT_FOUND"),
        ]
        for method, path, body, code, errcode in refusals:
            await self.assert_rejected_without_change(method, f"{V3}{path}", body, code, errcode, token=t)
        await self.assert_rejected_without_change("PUT", f"{V3}/room_keys/keys/{R}/s?version={v}", None, 400,
                                                  "M_NOT_JSON", token=t, raw_body=b"[")
        await self.assert_rejected_without_change("GET", f"{V3}/room_keys/version", None, 401, "M_MISSING_TOKEN")

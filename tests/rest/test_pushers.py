"""GET /pushers and POST /pushers/set: create, update, append, delete, validation (nothing changes
on a bad request), and pushers going with their device (logout, password change, deactivation)."""

from typing import Any

from tests.rest.test_account import PASSWORD, password_auth
from tests.server import START_TIME, HomeserverTestCase

V3 = "/_matrix/client/v3"
SET = f"{V3}/pushers/set"
GATEWAY = "https://push.example.org/_matrix/push/v1/notify"


def http_pusher(pushkey: str = "key-1", app_id: str = "org.example.app.ios", **extra: Any) -> dict[str, Any]:
    body = {
        "kind": "http", "app_id": app_id, "pushkey": pushkey, "app_display_name": "Example",
        "device_display_name": "Alice's phone", "lang": "en-GB", "profile_tag": "tag1",
        "data": {"url": GATEWAY, "format": "event_id_only", "custom": {"a": 1}},
    }
    body.update(extra)
    return body


def as_listed(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "append"}


class PushersTestCase(HomeserverTestCase):
    async def pushers(self, token: str) -> list[dict[str, Any]]:
        r = await self.get(f"{V3}/pushers", token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["pushers"]

    async def set_pusher(self, token: str, body: dict[str, Any]) -> None:
        r = await self.post(SET, body, token=token)
        self.assertEqual((r.code, r.json), (200, {}))


class PusherCrudTest(PushersTestCase):
    async def test_create_list_update_delete(self) -> None:
        alice = (await self.register("alice"))["access_token"]
        self.assertEqual(await self.pushers(alice), [])

        first = http_pusher()
        await self.set_pusher(alice, first)
        self.assertEqual(await self.pushers(alice), [as_listed(first)])

        # The same app_id and pushkey: updated in place.
        updated = http_pusher(lang="fr", device_display_name="Le téléphone", data={"url": GATEWAY})
        del updated["profile_tag"]
        await self.set_pusher(alice, updated)
        self.assertEqual(await self.pushers(alice), [as_listed(updated)])

        # Another pushkey (or app) is another pusher.
        second = http_pusher(pushkey="key-2")
        await self.set_pusher(alice, second)
        self.assertEqual(await self.pushers(alice), [as_listed(updated), as_listed(second)])

        # kind null deletes the one with that app_id and pushkey (deleting one that is not there is fine).
        await self.set_pusher(alice, {"kind": None, "app_id": "org.example.app.ios", "pushkey": "key-1"})
        await self.set_pusher(alice, {"kind": None, "app_id": "org.example.app.ios", "pushkey": "nope"})
        self.assertEqual(await self.pushers(alice), [as_listed(second)])

    async def test_limits_are_inclusive(self) -> None:
        alice = (await self.register("alice"))["access_token"]
        body = http_pusher(pushkey="é" * 256, app_id="a" * 64)  # 512 bytes, 64 characters
        await self.set_pusher(alice, body)
        self.assertEqual(await self.pushers(alice), [as_listed(body)])

    async def test_append_false_takes_the_pushkey_from_other_users(self) -> None:
        alice = (await self.register("alice"))["access_token"]
        bob = (await self.register("bob"))["access_token"]
        carol = (await self.register("carol"))["access_token"]
        await self.set_pusher(alice, http_pusher())
        await self.set_pusher(bob, http_pusher(append=True))
        self.assertEqual(len(await self.pushers(alice)), 1)
        self.assertEqual(len(await self.pushers(bob)), 1)

        await self.set_pusher(carol, http_pusher())  # append defaults to false
        self.assertEqual(await self.pushers(alice), [])
        self.assertEqual(await self.pushers(bob), [])
        self.assertEqual(len(await self.pushers(carol)), 1)

    async def test_bad_requests_change_nothing(self) -> None:
        alice = (await self.register("alice"))["access_token"]
        await self.set_pusher(alice, http_pusher(pushkey="existing"))

        async def rejected(body: Any, errcode: str, code: int = 400) -> None:
            await self.assert_rejected_without_change("POST", SET, body, code, errcode, token=alice)

        for key in ("kind", "app_id", "pushkey"):
            await rejected({k: v for k, v in http_pusher().items() if k != key}, "M_MISSING_PARAM")
        for key in ("app_display_name", "device_display_name", "lang", "data"):
            await rejected({k: v for k, v in http_pusher().items() if k != key}, "M_MISSING_PARAM")
        r = await self.post(SET, {k: v for k, v in http_pusher().items() if k not in ("lang", "data")}, token=alice)
        self.assertEqual(r.json["error"], "Missing parameters: lang, data")
        await rejected(http_pusher(data={"format": "event_id_only"}), "M_MISSING_PARAM")

        for url in ("https://push.example.org/notify", "ftp://push.example.org/_matrix/push/v1/notify",
                    "/_matrix/push/v1/notify", "https://push.example.org/_matrix/push/v1/notify#x",
                    "https://push.example.org:99999/_matrix/push/v1/notify", 17):
            await rejected(http_pusher(data={"url": url}), "M_INVALID_PARAM")
        # The default ip_range_blacklist: a gateway URL naming a private address is refused at once.
        for host in ("127.0.0.1", "[::1]", "10.0.0.1", "169.254.169.254", "0.0.0.0", "[::ffff:192.168.0.1]",
                     "[fd00::1]"):
            await rejected(http_pusher(data={"url": f"https://{host}/_matrix/push/v1/notify"}), "M_INVALID_PARAM")
        await rejected(http_pusher(app_id="a" * 65), "M_INVALID_PARAM")
        await rejected(http_pusher(app_id=""), "M_INVALID_PARAM")
        await rejected(http_pusher(pushkey="é" * 257), "M_INVALID_PARAM")  # 514 bytes
        await rejected(http_pusher(pushkey=5), "M_INVALID_PARAM")
        await rejected(http_pusher(kind="carrier-pigeon"), "M_INVALID_PARAM")
        await rejected(http_pusher(lang=["en"]), "M_INVALID_PARAM")
        await rejected(http_pusher(data="https://push.example.org"), "M_INVALID_PARAM")
        await rejected(http_pusher(data={"url": GATEWAY, "format": 1}), "M_INVALID_PARAM")
        await rejected(http_pusher(profile_tag=3), "M_INVALID_PARAM")
        await rejected(http_pusher(append="yes"), "M_INVALID_PARAM")
        # No email address can be bound to an account here, so no email pusher can be valid.
        await rejected(http_pusher(kind="email", app_id="m.email", pushkey="alice@example.org"),
                       "M_THREEPID_NOT_FOUND")
        await rejected([http_pusher()], "M_BAD_JSON")
        await self.assert_rejected_without_change("POST", SET, http_pusher(), 401, "M_MISSING_TOKEN")
        self.assertEqual([p["pushkey"] for p in await self.pushers(alice)], ["existing"])


class PusherLifetimeTest(PushersTestCase):
    async def test_logout_deletes_the_devices_pushers(self) -> None:
        phone = await self.register("alice")
        laptop = await self.login("alice")
        await self.set_pusher(phone["access_token"], http_pusher(pushkey="phone"))
        await self.set_pusher(laptop["access_token"], http_pusher(pushkey="laptop"))
        r = await self.post(f"{V3}/logout", {}, token=laptop["access_token"])
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual([p["pushkey"] for p in await self.pushers(phone["access_token"])], ["phone"])

        r = await self.post(f"{V3}/logout/all", {}, token=phone["access_token"])
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.hs.pushers_store.get_pushers("@alice:test"), [])

    async def test_password_change_logging_out_devices_deletes_their_pushers(self) -> None:
        me = await self.register("alice", password="old")
        other = await self.login("alice", "old")
        await self.set_pusher(me["access_token"], http_pusher(pushkey="mine"))
        await self.set_pusher(other["access_token"], http_pusher(pushkey="other"))
        first = await self.post(PASSWORD, {"new_password": "new"}, token=me["access_token"])
        ok = await self.post(PASSWORD, {"new_password": "new", "auth": password_auth(first.json["session"], "old")},
                             token=me["access_token"])
        self.assertEqual(ok.code, 200, ok.json)
        self.assertEqual([p["pushkey"] for p in await self.pushers(me["access_token"])], ["mine"])

    async def test_deactivation_deletes_pushers(self) -> None:
        me = await self.register("alice", password="pw")
        await self.set_pusher(me["access_token"], http_pusher())
        url = f"{V3}/account/deactivate"
        first = await self.post(url, {}, token=me["access_token"])
        r = await self.post(url, {"auth": password_auth(first.json["session"], "pw")}, token=me["access_token"])
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.hs.pushers_store.get_pushers("@alice:test"), [])

    async def test_pushkey_ts_is_when_it_was_set(self) -> None:
        alice = (await self.register("alice"))["access_token"]
        await self.set_pusher(alice, http_pusher())
        self.advance(60)
        await self.set_pusher(alice, http_pusher(lang="de"))
        [record] = await self.hs.pushers_store.get_pushers("@alice:test")
        self.assertEqual(record.pushkey_ts, int((START_TIME + 60) * 1000))


class WhitelistedGatewayAddressTest(PushersTestCase):
    config_overrides = {"ip_range_whitelist": ["10.1.2.3/32"]}

    async def test_a_whitelisted_address_is_accepted(self) -> None:
        alice = (await self.register("alice"))["access_token"]
        r = await self.post(SET, http_pusher(data={"url": "https://10.1.2.3/_matrix/push/v1/notify"}), token=alice)
        self.assertEqual(r.code, 200, r.json)
        r = await self.post(SET, http_pusher(data={"url": "https://10.1.2.4/_matrix/push/v1/notify"}), token=alice)
        self.assert_error(r, 400, "M_INVALID_PARAM")

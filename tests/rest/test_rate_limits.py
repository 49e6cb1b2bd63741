"""Synapse's rate limits (rc_joins, rc_joins_per_room, rc_invites, rc_room_creation, rc_presence,
rc_key_requests, rc_media_create, rc_3pid_validation, rc_admin_redaction): each refuses with 429
M_LIMIT_EXCEEDED and retry_after_ms once its bucket is empty (or quietly drops, where Synapse
does), changes nothing when it refuses, and lets the action through again after the refill, on
the fake clock."""

from typing import Any
from urllib.parse import quote

from tests.rest.test_rooms import V3, RoomsTestCase
from tests.server import test_config


def tight(burst: int) -> dict[str, float]:
    """`burst` actions, then one more every 10 seconds."""
    return {"per_second": 0.1, "burst_count": burst}


class RateLimitTestCase(RoomsTestCase):
    limits: dict[str, Any] = {}

    def make_config_overrides(self) -> dict[str, Any]:
        return {**super().make_config_overrides(), **self.limits}

    def assert_limited(self, response: Any) -> None:
        self.assert_error(response, 429, "M_LIMIT_EXCEEDED")
        self.assertGreater(response.json["retry_after_ms"], 0)
        self.assertLessEqual(response.json["retry_after_ms"], 10_001)

    async def join(self, token: str, room_id: str) -> Any:
        return await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=token)

    async def invite(self, token: str, room_id: str, user_id: str) -> Any:
        return await self.post(f"{V3}/rooms/{quote(room_id)}/invite", {"user_id": user_id}, token=token)


class RoomCreationLimitTest(RateLimitTestCase):
    limits = {"rc_room_creation": tight(2)}

    async def test_room_creation(self) -> None:
        await self.users()
        await self.create(self.alice)
        await self.create(self.alice)
        r = await self.assert_rejected_without_change("POST", f"{V3}/createRoom", {}, 429, "M_LIMIT_EXCEEDED",
                                                      token=self.alice)
        self.assert_limited(r)
        await self.create(self.bob)  # per user
        self.advance(10)
        await self.create(self.alice)

    def test_default_is_synapses(self) -> None:
        from homeserver.config import Config

        raw = test_config(self.data_dir)
        for key in ("rc_room_creation", "rc_joins", "rc_joins_per_room", "rc_invites", "rc_presence",
                    "rc_key_requests", "rc_media_create", "rc_3pid_validation"):
            raw.pop(key)
        c = Config(raw, self.data_dir)
        self.assertEqual(c.rc_room_creation, {"per_second": 0.016, "burst_count": 10})
        self.assertEqual((c.rc_joins_local, c.rc_joins_remote),
                         ({"per_second": 0.1, "burst_count": 10}, {"per_second": 0.01, "burst_count": 10}))
        self.assertEqual(c.rc_joins_per_room, {"per_second": 1, "burst_count": 10})
        self.assertEqual((c.rc_invites_per_room, c.rc_invites_per_user, c.rc_invites_per_issuer),
                         ({"per_second": 0.3, "burst_count": 10}, {"per_second": 0.003, "burst_count": 5},
                          {"per_second": 0.3, "burst_count": 10}))
        self.assertEqual(c.rc_presence_per_user, {"per_second": 0.1, "burst_count": 1})
        self.assertEqual(c.rc_key_requests, {"per_second": 20, "burst_count": 100})
        self.assertEqual(c.rc_media_create, {"per_second": 10, "burst_count": 50})
        self.assertEqual(c.rc_3pid_validation, {"per_second": 0.003, "burst_count": 5})
        self.assertIsNone(c.rc_admin_redaction)
        # A partial setting keeps the other field's default, as in Synapse.
        c = Config({**raw, "rc_joins": {"local": {"per_second": 2}}, "rc_admin_redaction": {"burst_count": 50}},
                   self.data_dir)
        self.assertEqual(c.rc_joins_local, {"per_second": 2, "burst_count": 10})
        self.assertEqual(c.rc_admin_redaction, {"per_second": raw["rc_message"]["per_second"], "burst_count": 50})


class LocalJoinLimitTest(RateLimitTestCase):
    limits = {"rc_joins": {"local": tight(2)}}

    async def test_local_joins(self) -> None:
        await self.users()
        rooms = [await self.create(self.alice, preset="public_chat") for _ in range(1)]
        self.advance(30)  # the creator's own joins counted too; refill
        rooms += [await self.create(self.alice, preset="public_chat") for _ in range(2)]
        for room_id in rooms[:2]:
            self.assertEqual((await self.join(self.bob, room_id)).code, 200)
        before = await self.snapshot()
        self.assert_limited(await self.join(self.bob, rooms[2]))
        self.assertEqual(await self.snapshot(), before)
        # Joining a room one is already in is no new join: not counted, not refused.
        self.assertEqual((await self.join(self.bob, rooms[0])).code, 200)
        self.advance(10)
        self.assertEqual((await self.join(self.bob, rooms[2])).code, 200)

    async def test_room_creation_counts_as_a_join(self) -> None:
        await self.users()
        await self.create(self.alice)
        await self.create(self.alice)
        self.assert_limited(await self.post(f"{V3}/createRoom", {}, token=self.alice))


class RemoteJoinLimitTest(RateLimitTestCase):
    # Federation off: a remote join fails after the limit has counted it.
    limits = {"rc_joins": {"remote": tight(1)}, "federation_domain_whitelist": []}

    async def test_remote_joins(self) -> None:
        await self.users()
        first = await self.join(self.bob, "!room:elsewhere.example")
        self.assertNotEqual(first.code, 429, first.json)
        self.assert_limited(await self.join(self.bob, "!room:elsewhere.example"))
        # Local joins have their own bucket.
        room_id = await self.create(self.alice, preset="public_chat")
        self.assertEqual((await self.join(self.bob, room_id)).code, 200)


class JoinsPerRoomLimitTest(RateLimitTestCase):
    limits = {"rc_joins_per_room": tight(2)}

    async def test_joins_per_room(self) -> None:
        await self.users()
        carol = (await self.register("carol"))["access_token"]
        room_id = await self.create(self.alice, preset="public_chat")  # the creator's join: one
        other = await self.create(self.alice, preset="public_chat")
        self.assertEqual((await self.join(self.bob, room_id)).code, 200)  # two
        before = await self.snapshot()
        self.assert_limited(await self.join(carol, room_id))
        self.assertEqual(await self.snapshot(), before)
        self.assertEqual((await self.join(carol, other)).code, 200)  # per room
        self.advance(10)
        self.assertEqual((await self.join(carol, room_id)).code, 200)


class InviteLimitsTest(RateLimitTestCase):
    limits = {"rc_invites": {"per_issuer": tight(2), "per_user": tight(2), "per_room": tight(3)}}

    async def test_per_issuer(self) -> None:
        await self.users()
        names = ["carol", "dave", "erin"]
        for name in names:
            await self.register(name)
        room_id = await self.create(self.alice)
        self.assertEqual((await self.invite(self.alice, room_id, "@carol:test")).code, 200)
        self.assertEqual((await self.invite(self.alice, room_id, "@dave:test")).code, 200)
        r = await self.assert_rejected_without_change(
            "POST", f"{V3}/rooms/{quote(room_id)}/invite", {"user_id": "@erin:test"}, 429, "M_LIMIT_EXCEEDED",
            token=self.alice)
        self.assert_limited(r)
        self.advance(10)
        self.assertEqual((await self.invite(self.alice, room_id, "@erin:test")).code, 200)

    async def test_per_user_counts_the_invited(self) -> None:
        await self.users()
        carol = (await self.register("carol"))["access_token"]
        dave = (await self.register("dave"))["access_token"]
        for token in (self.alice, carol):
            room_id = await self.create(token)
            self.assertEqual((await self.invite(token, room_id, "@bob:test")).code, 200)
        room_id = await self.create(dave)
        self.assert_limited(await self.invite(dave, room_id, "@bob:test"))
        self.assertEqual((await self.invite(dave, room_id, "@alice:test")).code, 200)

    async def test_per_room(self) -> None:
        await self.users()
        tokens = {name: (await self.register(name))["access_token"]
                  for name in ("carol", "dave", "erin", "frank", "gina")}
        room_id = await self.create(self.alice, preset="public_chat",
                                    power_level_content_override={"invite": 0})
        for name in ("carol", "dave"):
            self.assertEqual((await self.join(tokens[name], room_id)).code, 200)
        # Three inviters, one invite each: the room's bucket (3) runs out, no inviter's does.
        self.assertEqual((await self.invite(self.alice, room_id, "@bob:test")).code, 200)
        self.assertEqual((await self.invite(tokens["carol"], room_id, "@erin:test")).code, 200)
        self.assertEqual((await self.invite(tokens["dave"], room_id, "@frank:test")).code, 200)
        self.assert_limited(await self.invite(tokens["carol"], room_id, "@gina:test"))

    async def test_create_room_invites_count_per_room(self) -> None:
        await self.users()
        for name in ("carol", "dave", "erin"):
            await self.register(name)
        r = await self.assert_rejected_without_change(
            "POST", f"{V3}/createRoom", {"invite": ["@bob:test", "@carol:test", "@dave:test", "@erin:test"]},
            429, "M_LIMIT_EXCEEDED", token=self.alice)
        self.assertIn("retry_after_ms", r.json)
        await self.create(self.alice, invite=["@bob:test", "@carol:test"])


class PresenceLimitTest(RateLimitTestCase):
    limits = {"rc_presence": {"per_user": tight(1)}}

    async def test_put_is_refused_sync_is_ignored(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        self.assertEqual((await self.join(self.bob, room_id)).code, 200)  # Bob may see Alice's presence
        path = f"{V3}/presence/@alice:test/status"
        r = await self.request("PUT", path, {"presence": "online"}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assert_limited(await self.request("PUT", path, {"presence": "unavailable"}, token=self.alice))
        self.assertEqual((await self.get(path, token=self.bob)).json["presence"], "online")
        # A sync asking for a change beyond the limit succeeds, and the change is dropped.
        r = await self.get(f"{V3}/sync?set_presence=unavailable", token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual((await self.get(path, token=self.bob)).json["presence"], "online")
        self.advance(10)
        r = await self.get(f"{V3}/sync?set_presence=unavailable", token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual((await self.get(path, token=self.bob)).json["presence"], "unavailable")
        self.advance(10)
        r = await self.request("PUT", path, {"presence": "online"}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)


class KeyRequestLimitTest(RateLimitTestCase):
    limits = {"rc_key_requests": tight(1)}

    async def test_excess_key_requests_are_dropped(self) -> None:
        alice = await self.register("alice")
        bob = await self.register("bob")
        for txn in ("t1", "t2"):
            content = {"action": "request", "requesting_device_id": alice["device_id"], "request_id": txn}
            r = await self.request("PUT", f"{V3}/sendToDevice/m.room_key_request/{txn}",
                                   {"messages": {"@bob:test": {"*": content}}}, token=alice["access_token"])
            self.assertEqual(r.code, 200, r.json)  # the second succeeds too: it is dropped quietly
        sync = (await self.get(f"{V3}/sync?timeout=0", token=bob["access_token"])).json
        requests = [e for e in sync.get("to_device", {}).get("events", []) if e["type"] == "m.room_key_request"]
        self.assertEqual([e["content"]["request_id"] for e in requests], ["t1"])
        # Other to-device types are not limited by it.
        r = await self.request("PUT", f"{V3}/sendToDevice/m.test/t3",
                               {"messages": {"@bob:test": {"*": {"n": 1}}}}, token=alice["access_token"])
        self.assertEqual(r.code, 200, r.json)


class MediaCreateLimitTest(RateLimitTestCase):
    limits = {"rc_media_create": tight(2)}

    async def test_media_create(self) -> None:
        await self.users()
        for _ in range(2):
            r = await self.post("/_matrix/media/v1/create", {}, token=self.alice)
            self.assertEqual(r.code, 200, r.json)
        r = await self.assert_rejected_without_change("POST", "/_matrix/media/v1/create", {}, 429,
                                                      "M_LIMIT_EXCEEDED", token=self.alice)
        self.assert_limited(r)
        self.assertEqual((await self.post("/_matrix/media/v1/create", {}, token=self.bob)).code, 200)
        self.advance(10)
        self.assertEqual((await self.post("/_matrix/media/v1/create", {}, token=self.alice)).code, 200)


class ThreepidValidationLimitTest(RateLimitTestCase):
    limits = {"rc_3pid_validation": tight(2)}

    async def test_request_token(self) -> None:
        path = f"{V3}/register/email/requestToken"

        def body(n: int) -> dict[str, Any]:
            return {"client_secret": "s", "email": f"user{n}@example.com", "send_attempt": 1}

        for n in range(2):
            r = await self.post(path, body(n))
            self.assertNotEqual(r.code, 429, r.json)
        self.assert_limited(await self.post(path, body(3)))  # per client IP address
        self.assert_limited(await self.post(f"{V3}/account/password/msisdn/requestToken",
                                            {"client_secret": "s", "country": "GB", "phone_number": "1",
                                             "send_attempt": 1}))
        self.advance(10)
        self.assertNotEqual((await self.post(path, body(4))).code, 429)


class RedactionTestCase(RateLimitTestCase):
    async def redact(self, token: str, room_id: str, event_id: str, txn: str) -> Any:
        return await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/redact/{quote(event_id)}/{txn}", {},
                                  token=token)


class AdminRedactionLimitTest(RedactionTestCase):
    limits = {"rc_message": tight(2), "rc_admin_redaction": tight(3)}

    async def test_moderator_redactions_have_their_own_bucket(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        self.assertEqual((await self.join(self.bob, room_id)).code, 200)
        spam = [await self.send(self.bob, room_id, f"spam {n}", f"s{n}") for n in range(2)]
        # Alice (the room's admin) redacts Bob's events: rc_admin_redaction, not her rc_message.
        for n, event_id in enumerate(spam):
            self.assertEqual((await self.redact(self.alice, room_id, event_id, f"r{n}")).code, 200)
        own = [await self.send(self.alice, room_id, f"mine {n}", f"m{n}") for n in range(2)]
        # Her own redaction counts against rc_message, now empty.
        self.assert_limited(await self.redact(self.alice, room_id, own[0], "r-own"))
        self.advance(10)
        self.assertEqual((await self.redact(self.alice, room_id, own[0], "r-own2")).code, 200)


class RedactionWithoutAdminLimitTest(RedactionTestCase):
    limits = {"rc_message": tight(2)}

    async def test_moderator_redactions_count_against_rc_message(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        self.assertEqual((await self.join(self.bob, room_id)).code, 200)
        spam = [await self.send(self.bob, room_id, f"spam {n}", f"s{n}") for n in range(2)]
        for n, event_id in enumerate(spam):
            self.assertEqual((await self.redact(self.alice, room_id, event_id, f"r{n}")).code, 200)
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/m.room.message/m0",
                               {"msgtype": "m.text", "body": "hi"}, token=self.alice)
        self.assert_limited(r)


class FloodTest(RateLimitTestCase):
    """One client sending at 1,000 requests a second (on the fake clock) is held to rc_message
    (Synapse's defaults: 0.2/s, burst 10) with 429s that say when to come back, while another
    user sending at a normal pace in the same room is never refused."""

    limits = {"rc_message": {"per_second": 0.2, "burst_count": 10}}

    async def test_one_flooding_client_does_not_hurt_others(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        self.assertEqual((await self.join(self.bob, room_id)).code, 200)
        path = f"{V3}/rooms/{quote(room_id)}/send/m.room.message"
        accepted, refused = 0, 0
        for i in range(1000):
            self.advance(0.001)  # 1,000 requests in one second
            r = await self.request("PUT", f"{path}/flood{i}", {"msgtype": "m.text", "body": "spam"}, token=self.alice)
            if r.code == 200:
                accepted += 1
            else:
                self.assert_limited(r)
                self.assertEqual(r.headers["retry-after"], str(-(-r.json["retry_after_ms"] // 1000)))
                refused += 1
            if i % 100 == 0:  # bob, ten messages over the same second: all through
                r = await self.request("PUT", f"{path}/bob{i}", {"msgtype": "m.text", "body": "hi"}, token=self.bob)
                self.assertEqual(r.code, 200, r.json)
        self.assertEqual(accepted, 10)  # the burst, and nothing refilled within the second
        self.assertEqual(refused, 990)
        # Nothing of what was refused was stored.
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/messages?dir=b&limit=100", token=self.bob)
        bodies = [e["content"]["body"] for e in r.json["chunk"] if e["type"] == "m.room.message"]
        self.assertEqual((bodies.count("spam"), bodies.count("hi")), (10, 10))
        # After the advertised wait, the flooder may send again.
        self.advance(5)
        r = await self.request("PUT", f"{path}/later", {"msgtype": "m.text", "body": "sorry"}, token=self.alice)
        self.assertEqual(r.code, 200)

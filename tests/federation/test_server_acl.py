"""Server ACLs: the evaluation order of the spec (unit), and per-room federation endpoints refusing
a server the room's current m.room.server_acl denies."""

from __future__ import annotations

from urllib.parse import quote

from twisted.trial import unittest

from homeserver.federation import server_acl
from homeserver.federation.server_acl import ServerAcl, host_of, is_ip_literal, server_allowed
from tests.federation.support import FakeRemote
from tests.server import HomeserverTestCase

F = "/_matrix/federation"
V3 = "/_matrix/client/v3"


class ServerAllowedTest(unittest.TestCase):
    def test_no_acl_allows_everyone(self) -> None:
        self.assertTrue(server_allowed(None, "evil.example"))

    def test_allow_and_deny_order(self) -> None:
        acl = {"allow": ["*"], "deny": ["evil.com", "*.evil.com"]}
        self.assertTrue(server_allowed(acl, "good.com"))
        self.assertFalse(server_allowed(acl, "evil.com"))
        self.assertFalse(server_allowed(acl, "sub.evil.com"))
        self.assertTrue(server_allowed(acl, "notevil.com"))
        # Deny wins over allow, even for the same name.
        self.assertFalse(server_allowed({"allow": ["evil.com"], "deny": ["evil.com"]}, "evil.com"))
        # Only what is allowed: others are denied.
        self.assertFalse(server_allowed({"allow": ["good.com"]}, "other.com"))

    def test_ports_are_not_considered(self) -> None:
        acl = {"allow": ["*"], "deny": ["evil.com"]}
        for name in ("evil.com", "evil.com:8448", "evil.com:1234"):
            self.assertFalse(server_allowed(acl, name), name)
        self.assertFalse(server_allowed({"allow": ["evil.com:8448"]}, "evil.com:8448"))
        self.assertTrue(server_allowed({"allow": ["[::1]"]}, "[::1]:8448"))
        self.assertEqual(host_of("[2001:db8::1]:80"), "[2001:db8::1]")
        self.assertEqual(host_of("example.org"), "example.org")

    def test_case_insensitive(self) -> None:
        self.assertFalse(server_allowed({"allow": ["*"], "deny": ["EVIL.com"]}, "evil.COM"))
        self.assertTrue(server_allowed({"allow": ["Good.*"]}, "gOOd.org"))

    def test_globs(self) -> None:
        acl = {"allow": ["ser?er.org", "*.example.*"]}
        self.assertTrue(server_allowed(acl, "server.org"))
        self.assertFalse(server_allowed(acl, "serveer.org"))
        self.assertTrue(server_allowed(acl, "a.example.net"))
        self.assertFalse(server_allowed(acl, "example.net"))
        # The matcher is linear: a pathological pattern against a long name answers at once.
        self.assertFalse(server_allowed({"allow": ["*a*a*a*a*a*a*a*b"]}, "a" * 5000))

    def test_ip_literals(self) -> None:
        for name in ("1.2.3.4", "1.2.3.4:8448", "[::1]", "[2001:db8::1]:8448"):
            self.assertTrue(is_ip_literal(host_of(name)), name)
            self.assertFalse(server_allowed({"allow": ["*"], "allow_ip_literals": False}, name), name)
            self.assertTrue(server_allowed({"allow": ["*"], "allow_ip_literals": True}, name), name)
            self.assertTrue(server_allowed({"allow": ["*"]}, name), name)
            # Anything but the boolean false counts as true.
            self.assertTrue(server_allowed({"allow": ["*"], "allow_ip_literals": "false"}, name), name)
            self.assertTrue(server_allowed({"allow": ["*"], "allow_ip_literals": 0}, name), name)
        self.assertFalse(is_ip_literal("1.2.3.4.example.org"))
        self.assertTrue(server_allowed({"allow": ["*"], "allow_ip_literals": False}, "1.2.3.4.example.org"))

    def test_remembered_answers_stay_right(self) -> None:
        self.patch(server_acl, "MAX_REMEMBERED_HOSTS", 3)
        acl = ServerAcl({"allow": ["*"], "deny": ["evil.com"]})
        for _ in range(3):
            for i in range(5):
                self.assertTrue(acl.allows(f"good{i}.com"))
                self.assertFalse(acl.allows("EVIL.com:8448"))
                self.assertFalse(acl.allows("evil.com"))

    def test_garbage_content(self) -> None:
        # No allow list (or one that is not a list) denies everyone.
        for acl in ({}, {"allow": "*"}, {"allow": None}, {"allow": {"*": True}}, [], "x", 5,
                    {"deny": ["x"]}):
            self.assertFalse(server_allowed(acl, "good.com"), acl)
        # Entries that are not strings are ignored; a deny that is not a list denies nobody.
        self.assertTrue(server_allowed({"allow": [1, None, ["*"], "good.com"]}, "good.com"))
        self.assertFalse(server_allowed({"allow": [1, None, ["*"]]}, "good.com"))
        self.assertTrue(server_allowed({"allow": ["*"], "deny": "good.com"}, "good.com"))
        self.assertTrue(server_allowed({"allow": ["*"], "deny": [None, 7]}, "good.com"))


class ServerAclEndpointsTest(HomeserverTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.remote = FakeRemote(self)
        self.token = (await self.register("alice"))["access_token"]
        r = await self.post(f"{V3}/createRoom", {"preset": "public_chat"}, token=self.token)
        self.room_id = r.json["room_id"]
        self.q = quote(self.room_id)
        await self.remote.send_event(self.room_id, "m.room.member", {"membership": "join"}, self.remote.user("bob"),
                                     self.remote.user("bob"))
        r = await self.request("PUT", f"{V3}/rooms/{self.q}/send/m.room.message/t1", {"msgtype": "m.text",
                                                                                      "body": "hi"}, token=self.token)
        self.event_id = r.json["event_id"]

    async def set_acl(self, content: object) -> None:
        r = await self.request("PUT", f"{V3}/rooms/{self.q}/state/m.room.server_acl/", content, token=self.token)
        self.assertEqual(r.code, 200, r.json)

    def paths(self) -> list[tuple[str, str, object]]:
        e = quote(self.event_id, safe="")
        bob = quote(self.remote.user("bob"))
        carol = quote(self.remote.user("carol"))
        return [
            ("GET", f"{F}/v1/event/{e}", None),
            ("GET", f"{F}/v1/state/{self.q}?event_id={e}", None),
            ("GET", f"{F}/v1/state_ids/{self.q}?event_id={e}", None),
            ("GET", f"{F}/v1/event_auth/{self.q}/{e}", None),
            ("GET", f"{F}/v1/backfill/{self.q}?v={e}&limit=5", None),
            ("POST", f"{F}/v1/get_missing_events/{self.q}", {"earliest_events": [], "latest_events": [self.event_id]}),
            ("GET", f"{F}/v1/timestamp_to_event/{self.q}?ts={self.hs.clock.time_msec()}&dir=b", None),
            ("GET", f"{F}/v1/make_join/{self.q}/{carol}?ver=12", None),
            ("GET", f"{F}/v1/make_leave/{self.q}/{bob}", None),
        ]

    async def assert_all(self, code: int) -> None:
        for method, path, body in self.paths():
            r = await self.remote.request(method, path, body)
            self.assertEqual(r.code, code, (path, r.json))
            if code == 403:
                self.assertEqual(r.json["errcode"], "M_FORBIDDEN", path)

    async def test_allowed_without_acl_and_by_acl(self) -> None:
        await self.assert_all(200)
        await self.set_acl({"allow": ["remote.*"], "deny": ["evil.example"]})
        await self.assert_all(200)

    async def test_denied_server_gets_403(self) -> None:
        await self.set_acl({"allow": ["*"], "deny": ["REMOTE.test"]})
        await self.assert_all(403)
        # send_join, send_leave and invite are refused before the event is looked at.
        for what in ("send_join", "send_leave", "invite"):
            for version in ("v1", "v2"):
                r = await self.remote.request("PUT", f"{F}/{version}/{what}/{self.q}/{quote('$x', safe='')}", {})
                self.assert_error(r, 403, "M_FORBIDDEN")
        # A later ACL that lets it back in applies at once.
        await self.set_acl({"allow": ["*"]})
        await self.assert_all(200)

    async def test_acl_with_garbage_content_denies_everyone(self) -> None:
        await self.set_acl({"allow": "*", "deny": 5})
        await self.assert_all(403)
        await self.set_acl({"allow_ip_literals": "no", "allow": [None, "remote.test"]})
        await self.assert_all(200)

    async def test_an_acl_denying_this_server_too_still_applies(self) -> None:
        # No allow list at all: every server is denied, ours included. The spec warns that this
        # makes the room unusable over federation; it does not ask servers to ignore it.
        await self.set_acl({})
        await self.assert_all(403)
        state = await self.hs.events_store.get_current_state_ids(self.room_id)
        self.assertIn(("m.room.server_acl", ""), state)

    async def test_unknown_room_is_not_an_acl_question(self) -> None:
        await self.set_acl({"allow": ["*"], "deny": ["remote.test"]})
        r = await self.remote.request("GET", f"{F}/v1/state_ids/{quote('!nope:test')}?event_id=%24x")
        self.assert_error(r, 404, "M_NOT_FOUND")

    async def test_checker_for_the_send_path(self) -> None:
        self.assertTrue(await self.hs.server_acl.is_allowed("remote.test:8448", self.room_id))
        await self.set_acl({"allow": ["*"], "deny": ["remote.test"]})
        self.assertFalse(await self.hs.server_acl.is_allowed("remote.test:8448", self.room_id))
        self.assertTrue(await self.hs.server_acl.is_allowed("other.test", self.room_id))
        self.assertTrue(await self.hs.server_acl.is_allowed("remote.test", "!unknown:test"))


class IpLiteralRemoteTest(HomeserverTestCase):
    async def test_ip_literal_server_denied_when_ip_literals_are_off(self) -> None:
        remote = FakeRemote(self, name="127.0.0.1:8448")
        token = (await self.register("alice"))["access_token"]
        r = await self.post(f"{V3}/createRoom", {"preset": "public_chat"}, token=token)
        room_id = r.json["room_id"]
        path = f"{F}/v1/make_join/{quote(room_id)}/{quote(remote.user('bob'))}?ver=12"
        self.assertEqual((await remote.request("GET", path)).code, 200)
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.server_acl/",
                               {"allow": ["*"], "allow_ip_literals": False}, token=token)
        self.assertEqual(r.code, 200)
        self.assert_error(await remote.request("GET", path), 403, "M_FORBIDDEN")

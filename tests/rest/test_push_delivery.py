"""Delivery to a push gateway: a fake gateway (a tiny Twisted web resource on a loopback port)
records what the server POSTs. The exact body, the event_id_only format, a retry after a 500,
a rejected pushkey deleting the pusher, no push for one's own events nor for what one has read.
Also GET /notifications: only=highlight, read flags and pagination."""

import json
from typing import Any
from urllib.parse import quote

from twisted.internet import reactor
from twisted.web import resource, server

from tests.outbound.fakes import StaticResolver
from tests.rest.test_rooms import V3, RoomsTestCase
from tests.server import START_TIME

ALICE = "@alice:test"
NOTIFY_PATH = b"/_matrix/push/v1/notify"


class FakePushGateway(resource.Resource):
    """Answers each POST with the next queued (code, body), or 200 {"rejected": []}."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, Any]]] = []

    def render_POST(self, request: Any) -> bytes:
        if request.path != NOTIFY_PATH:
            request.setResponseCode(404)
            return b'{"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}'
        self.requests.append(json.loads(request.content.read()))
        code, body = self.answers.pop(0) if self.answers else (200, {"rejected": []})
        request.setResponseCode(code)
        request.setHeader(b"Content-Type", b"application/json")
        return json.dumps(body).encode()


class PushTestCase(RoomsTestCase):
    def make_config_overrides(self) -> dict[str, Any]:
        # The fake gateway listens on loopback, which the default ip_range_blacklist refuses: an
        # operator whose gateway runs on the same host allows it back the same way.
        return {"ip_range_whitelist": ["127.0.0.1/32"], **super().make_config_overrides()}

    async def _set_up(self) -> None:
        await super()._set_up()
        self.gateway = FakePushGateway()
        site = server.Site(self.gateway)
        site.timeOut = None
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.url = f"http://127.0.0.1:{port.getHost().port}/_matrix/push/v1/notify"

    async def add_pusher(self, token: str, pushkey: str = "pk-alice", **data: Any) -> None:
        r = await self.post(f"{V3}/pushers/set", {
            "kind": "http", "app_id": "org.example.app", "pushkey": pushkey, "app_display_name": "Example",
            "device_display_name": "Phone", "lang": "en", "data": {"url": self.url, **data}}, token=token)
        self.assertEqual(r.code, 200, r.json)

    async def settle(self) -> None:
        """Let the background work finish: rule evaluation, then the pushers' requests."""
        for _ in range(3):
            await self.hs.push_actions_handler.drain()
            await self.hs.pusher_pool.wait_idle()

    async def until_pushed(self, count: int) -> None:
        for _ in range(200):
            await self.settle()
            if len(self.gateway.requests) >= count:
                return
            await self.pump(1)
        raise AssertionError(f"{len(self.gateway.requests)} pushes, not {count}")

    async def room_with_bob(self, **create: Any) -> str:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat", **create)
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        return room_id

    async def send_content(self, token: str, room_id: str, content: dict[str, Any], txn: str) -> str:
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/m.room.message/{txn}", content, token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["event_id"]


class PushDeliveryTest(PushTestCase):
    async def test_exact_body(self) -> None:
        await self.users()
        r = await self.request("PUT", f"{V3}/profile/@bob:test/displayname", {"displayname": "Major Tom"},
                               token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        room_id = await self.create(self.alice, preset="public_chat", name="Mission Control",
                                    room_alias_name="control")
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        await self.add_pusher(self.alice, custom="kept")
        await self.settle()
        self.assertEqual(self.gateway.requests, [])  # bob's join does not notify

        event_id = await self.send(self.bob, room_id, "I'm floating", "t1")
        await self.until_pushed(1)
        self.assertEqual(self.gateway.requests, [{"notification": {
            "event_id": event_id,
            "room_id": room_id,
            "type": "m.room.message",
            "sender": "@bob:test",
            "sender_display_name": "Major Tom",
            "room_name": "Mission Control",
            "room_alias": "#control:test",
            "prio": "high",  # the one-to-one rule plays a sound
            "content": {"msgtype": "m.text", "body": "I'm floating"},
            "counts": {"unread": 1},
            "devices": [{
                "app_id": "org.example.app",
                "pushkey": "pk-alice",
                "pushkey_ts": int(START_TIME),
                "data": {"custom": "kept"},
                "tweaks": {"sound": "default"},
            }],
        }}])

        # A second unread message: the count goes up.
        await self.send(self.bob, room_id, "still floating", "t2")
        await self.until_pushed(2)
        self.assertEqual(self.gateway.requests[1]["notification"]["counts"], {"unread": 2})

    async def test_event_id_only(self) -> None:
        room_id = await self.room_with_bob()
        await self.add_pusher(self.alice, format="event_id_only")
        event_id = await self.send(self.bob, room_id, "secret", "t1")
        await self.until_pushed(1)
        self.assertEqual(self.gateway.requests, [{"notification": {
            "event_id": event_id, "room_id": room_id, "prio": "high", "counts": {"unread": 1},
            "devices": [{"app_id": "org.example.app", "pushkey": "pk-alice", "pushkey_ts": int(START_TIME),
                         "data": {"format": "event_id_only"}, "tweaks": {"sound": "default"}}],
        }}])

    async def test_retry_after_a_server_error(self) -> None:
        room_id = await self.room_with_bob()
        await self.add_pusher(self.alice)
        self.gateway.answers = [(500, {"error": "down"}), (503, {"error": "still down"})]
        event_id = await self.send(self.bob, room_id, "hello", "t1")
        await self.until_pushed(1)
        self.advance(0.9)
        await self.settle()
        self.assertEqual(len(self.gateway.requests), 1)  # backing off: 1 s
        self.advance(0.1)
        await self.until_pushed(2)
        self.advance(1.9)
        await self.settle()
        self.assertEqual(len(self.gateway.requests), 2)  # then 2 s
        self.advance(0.1)
        await self.until_pushed(3)
        self.assertEqual([r["notification"]["event_id"] for r in self.gateway.requests], [event_id] * 3)
        self.assertEqual(self.gateway.requests[0], self.gateway.requests[2])

        # Delivered: the next message goes at once.
        second = await self.send(self.bob, room_id, "again", "t2")
        await self.until_pushed(4)
        self.assertEqual(self.gateway.requests[3]["notification"]["event_id"], second)

    async def test_rejected_pushkey_deletes_the_pusher(self) -> None:
        room_id = await self.room_with_bob()
        await self.add_pusher(self.alice)
        self.gateway.answers = [(200, {"rejected": ["pk-alice"]})]
        await self.send(self.bob, room_id, "hello", "t1")
        await self.until_pushed(1)
        r = await self.get(f"{V3}/pushers", token=self.alice)
        self.assertEqual(r.json, {"pushers": []})
        await self.send(self.bob, room_id, "anyone there?", "t2")
        await self.settle()
        self.assertEqual(len(self.gateway.requests), 1)

    async def test_no_push_for_own_events_nor_read_ones(self) -> None:
        room_id = await self.room_with_bob()
        await self.add_pusher(self.alice)
        await self.send(self.alice, room_id, "mine", "t1")
        first = await self.send(self.bob, room_id, "first", "t2")
        await self.until_pushed(1)
        self.assertEqual([r["notification"]["event_id"] for r in self.gateway.requests], [first])

        # The gateway is down while alice reads past the next message on another device: the retry
        # finds it read and does not push it.
        self.gateway.answers = [(500, {})]
        second = await self.send(self.bob, room_id, "second", "t3")
        await self.until_pushed(2)
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/receipt/m.read/{quote(second)}", {}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.advance(1)
        await self.settle()
        third = await self.send(self.bob, room_id, "third", "t4")
        await self.until_pushed(3)
        self.assertEqual([r["notification"]["event_id"] for r in self.gateway.requests], [first, second, third])
        self.assertEqual(self.gateway.requests[2]["notification"]["counts"], {"unread": 1})

    async def test_delivery_resumes_after_a_restart(self) -> None:
        room_id = await self.room_with_bob()
        await self.add_pusher(self.alice)
        self.gateway.answers = [(500, {})]
        event_id = await self.send(self.bob, room_id, "hello", "t1")
        await self.until_pushed(1)
        await self.restart_pushers()  # as at start-up: the pusher catches up from the database
        await self.until_pushed(2)
        self.assertEqual(self.gateway.requests[1]["notification"]["event_id"], event_id)

        # Delivered, and remembered: another restart does not send it again.
        await self.restart_pushers()
        second = await self.send(self.bob, room_id, "again", "t2")
        await self.until_pushed(3)
        self.assertEqual([r["notification"]["event_id"] for r in self.gateway.requests], [event_id] * 2 + [second])

    async def restart_pushers(self) -> None:
        await self.hs.pusher_pool.stop()
        await self.hs.pusher_pool.start()
        await self.settle()


class NotificationsListTest(PushTestCase):
    async def test_highlight_read_and_pagination(self) -> None:
        room_id = await self.room_with_bob()
        plain = await self.send(self.bob, room_id, "plain", "t1")
        mention = await self.send_content(self.bob, room_id, {
            "msgtype": "m.text", "body": "look, Alice", "m.mentions": {"user_ids": [ALICE]}}, "t2")
        last = await self.send(self.bob, room_id, "last", "t3")
        own = await self.send(self.alice, room_id, "my own", "t4")
        await self.settle()
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/receipt/m.read/{quote(mention)}", {}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)

        r = await self.get(f"{V3}/notifications?limit=2", token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        page = r.json["notifications"]
        self.assertEqual([(n["event"]["event_id"], n["read"]) for n in page], [(last, False), (mention, True)])
        self.assertEqual(page[0]["room_id"], room_id)
        self.assertNotIn("room_id", page[0]["event"])
        self.assertEqual(page[0]["event"]["content"], {"msgtype": "m.text", "body": "last"})
        self.assertEqual(page[0]["event"]["sender"], "@bob:test")
        self.assertEqual(page[0]["ts"], int(START_TIME * 1000))
        self.assertEqual(page[0]["actions"], ["notify", {"set_tweak": "sound", "value": "default"}])
        self.assertIn({"set_tweak": "highlight"}, page[1]["actions"])

        r = await self.get(f"{V3}/notifications?limit=2&from={r.json['next_token']}", token=self.alice)
        self.assertEqual([(n["event"]["event_id"], n["read"]) for n in r.json["notifications"]], [(plain, True)])
        self.assertNotIn("next_token", r.json)

        r = await self.get(f"{V3}/notifications?only=highlight", token=self.alice)
        self.assertEqual([n["event"]["event_id"] for n in r.json["notifications"]], [mention])
        self.assertNotIn("next_token", r.json)

        r = await self.get(f"{V3}/notifications", token=self.bob)  # only alice's message, not his own
        self.assertEqual([n["event"]["event_id"] for n in r.json["notifications"]], [own])

    async def test_bad_parameters(self) -> None:
        await self.users()
        for query in ("from=abc", "from=-1", "only=everything", "limit=0", "limit=x"):
            r = await self.get(f"{V3}/notifications?{query}", token=self.alice)
            self.assert_error(r, 400, "M_INVALID_PARAM")
        self.assert_error(await self.get(f"{V3}/notifications"), 401, "M_MISSING_TOKEN")

    async def test_counts_in_sync_agree_with_the_recorded_notifications(self) -> None:
        room_id = await self.room_with_bob()
        for i in range(3):
            await self.send(self.bob, room_id, f"m{i}", f"t{i}")
        await self.send_content(self.bob, room_id, {"msgtype": "m.text", "body": "hey",
                                                    "m.mentions": {"user_ids": [ALICE]}}, "t9")
        await self.settle()
        r = await self.get(f"{V3}/sync", token=self.alice)
        counts = r.json["rooms"]["join"][room_id]["unread_notifications"]
        recorded = (await self.get(f"{V3}/notifications", token=self.alice)).json["notifications"]
        highlights = (await self.get(f"{V3}/notifications?only=highlight", token=self.alice)).json["notifications"]
        self.assertEqual(counts, {"notification_count": len(recorded), "highlight_count": len(highlights)})
        self.assertEqual((len(recorded), len(highlights)), (4, 1))



class GiveUpTest(PushTestCase):
    config_overrides = {"push": {"give_up_after": "3s"}}

    async def test_a_notification_that_keeps_failing_is_dropped(self) -> None:
        room_id = await self.room_with_bob()
        await self.add_pusher(self.alice)
        self.gateway.answers = [(500, {})] * 3
        first = await self.send(self.bob, room_id, "doomed", "t1")
        await self.until_pushed(1)
        self.advance(1)
        await self.until_pushed(2)
        self.advance(2)  # 3 s of failures: dropped after this attempt
        await self.until_pushed(3)
        second = await self.send(self.bob, room_id, "next", "t2")
        await self.until_pushed(4)
        self.assertEqual([r["notification"]["event_id"] for r in self.gateway.requests], [first] * 3 + [second])


class GatewayAddressPolicyTest(PushTestCase):
    """The default ip_range_blacklist: a pusher aimed at a loopback gateway gets nothing, whether its
    URL names the address (refused when the pusher is set) or a hostname that resolves to it
    (refused at delivery, before any connection)."""

    def make_config_overrides(self) -> dict[str, Any]:
        return dict(self.config_overrides)  # no whitelist

    async def test_private_ip_literal_refused_when_set(self) -> None:
        await self.users()
        r = await self.post(f"{V3}/pushers/set", {
            "kind": "http", "app_id": "org.example.app", "pushkey": "pk", "app_display_name": "Example",
            "device_display_name": "Phone", "lang": "en", "data": {"url": self.url}}, token=self.alice)
        self.assertEqual((r.code, r.json["errcode"]), (400, "M_INVALID_PARAM"))

    async def test_hostname_resolving_to_loopback_receives_nothing(self) -> None:
        resolver = StaticResolver({"gateway.test": ["127.0.0.1"]})
        self.hs.outbound.resolver = resolver
        self.url = self.url.replace("127.0.0.1", "gateway.test")
        room_id = await self.room_with_bob()
        await self.add_pusher(self.alice)
        await self.send(self.bob, room_id, "hello", "t1")
        for _ in range(200):
            await self.settle()
            if resolver.lookups:
                break
            await self.pump(1)
        await self.settle()
        self.assertEqual(resolver.lookups, ["gateway.test"])  # delivery was attempted...
        self.assertEqual(self.gateway.requests, [])  # ...and refused before connecting


class WhitelistedGatewayHostnameTest(PushTestCase):
    async def test_hostname_resolving_to_a_whitelisted_address_is_delivered(self) -> None:
        self.hs.outbound.resolver = StaticResolver({"gateway.test": ["127.0.0.1"]})
        self.url = self.url.replace("127.0.0.1", "gateway.test")
        room_id = await self.room_with_bob()
        await self.add_pusher(self.alice)
        event_id = await self.send(self.bob, room_id, "hello", "t1")
        await self.until_pushed(1)
        self.assertEqual(self.gateway.requests[0]["notification"]["event_id"], event_id)

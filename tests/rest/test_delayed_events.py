"""Delayed events (MSC4140) through the client API, on a fake clock: scheduling on the ordinary
send and state endpoints, cancel/restart/send (by path and by the older body form, with and
without an access token), listing, the limits, the cancellation rule, auth at send time, and
survival across a restart (sent once, never twice, never lost)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from twisted.internet import reactor

from homeserver.clock import Clock
from homeserver.server import HomeServer
from homeserver.util.cpu_pool import CpuPool
from tests.outbound.fakes import StaticResolver, StaticSrvResolver
from tests.rest.test_rooms import V3, RoomsTestCase

UNSTABLE = "/_matrix/client/unstable/org.matrix.msc4140"
DELAY = "org.matrix.msc4140.delay"
ALICE = "@alice:test"
BOB = "@bob:test"
CALL_KEY = "_@alice:test_DEVICE_m.call"
CALL_MEMBER = "org.matrix.msc3401.call.member"


class DelayedEventsTestCase(RoomsTestCase):
    async def room(self, **body: Any) -> str:
        """A public room alice created and bob joined; members may set state (as Element Call sets
        for call memberships)."""
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat",
                                    power_level_content_override={"state_default": 0}, **body)
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        return room_id

    async def schedule_message(self, token: str, room_id: str, delay: Any, txn: str, body: str = "later",
                               expect: int = 200) -> Any:
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/m.room.message/{txn}?{DELAY}={delay}",
                               {"msgtype": "m.text", "body": body}, token=token)
        self.assertEqual(r.code, expect, r.json)
        return r.json["delay_id"] if expect == 200 else r

    async def schedule_state(self, token: str, room_id: str, delay: Any, content: dict[str, Any],
                             event_type: str = CALL_MEMBER, state_key: str = CALL_KEY) -> str:
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/{event_type}/{quote(state_key)}"
                                      f"?{DELAY}={delay}", content, token=token)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(list(r.json), ["delay_id"])
        return r.json["delay_id"]

    async def set_state(self, token: str, room_id: str, content: dict[str, Any], event_type: str = CALL_MEMBER,
                        state_key: str = CALL_KEY) -> str:
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/{event_type}/{quote(state_key)}",
                               content, token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["event_id"]

    async def action(self, delay_id: str, action: str, token: str | None = None, body: Any = None):
        return await self.request("POST", f"{UNSTABLE}/delayed_events/{quote(delay_id, safe='')}/{action}",
                                  body, token=token)

    async def listed(self, token: str) -> list[dict[str, Any]]:
        r = await self.get(f"{UNSTABLE}/delayed_events", token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["delayed_events"]

    async def timeline(self, token: str, room_id: str) -> list[dict[str, Any]]:
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/messages?dir=b&limit=100", token=token)
        self.assertEqual(r.code, 200, r.json)
        return list(reversed(r.json["chunk"]))

    async def messages(self, token: str, room_id: str) -> list[str]:
        return [e["content"].get("body") for e in await self.timeline(token, room_id)
                if e["type"] == "m.room.message"]

    async def state_content(self, token: str, room_id: str, event_type: str = CALL_MEMBER,
                            state_key: str = CALL_KEY) -> Any:
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/state/{event_type}/{quote(state_key)}", token=token)
        return r.json if r.code == 200 else None

    async def elapse(self, seconds: float) -> None:
        """Move the clock on and let what fell due be sent."""
        self.advance(seconds)
        await self.hs.delayed_events_handler.drain()
        await self.pump()

    async def stored_ids(self) -> list[str]:
        rows = await self.hs.database.execute("test", "SELECT delay_id FROM delayed_events ORDER BY delay_id")
        return [r[0] for r in rows]

    async def restart_server(self, downtime_s: float = 0) -> None:
        """Stop the server, let the clock run while it is down, start another on the same database."""
        await self.hs.stop()
        self.advance(downtime_s)
        self.hs = HomeServer(self.config, reactor, Clock(self.fake_time), cpu_pool=CpuPool(reactor, size=0))
        self.hs.outbound.resolver = StaticResolver({"localhost": ["127.0.0.1", "::1"]})
        self.hs.srv_resolver = StaticSrvResolver()
        await self.hs.start()  # setUp's cleanup stops whichever server is self.hs by then
        self.site = self.hs.build_site()
        self.site.timeOut = None
        await self.hs.delayed_events_handler.drain()


class SchedulingTest(DelayedEventsTestCase):
    async def test_message_sent_when_due_once_with_delay_id_for_the_sender_only(self) -> None:
        room_id = await self.room()
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/m.room.message/t1?{DELAY}=5000",
                               {"msgtype": "m.text", "body": "later"}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(list(r.json), ["delay_id"])  # no event_id: nothing was sent
        delay_id = r.json["delay_id"]
        self.assertGreaterEqual(len(delay_id), 40)  # unguessable
        self.assertEqual(await self.messages(self.alice, room_id), [])
        await self.elapse(4.9)
        self.assertEqual(await self.messages(self.alice, room_id), [])
        await self.elapse(0.2)
        self.assertEqual(await self.messages(self.alice, room_id), ["later"])
        await self.elapse(3600)
        self.assertEqual(await self.messages(self.alice, room_id), ["later"])
        self.assertEqual(await self.listed(self.alice), [])
        self.assertEqual(await self.stored_ids(), [])

        mine = [e for e in await self.timeline(self.alice, room_id) if e["type"] == "m.room.message"][0]
        self.assertEqual(mine["sender"], ALICE)
        self.assertEqual(mine["unsigned"]["org.matrix.msc4140.delay_id"], delay_id)
        theirs = [e for e in await self.timeline(self.bob, room_id) if e["type"] == "m.room.message"][0]
        self.assertNotIn("org.matrix.msc4140.delay_id", theirs["unsigned"])
        # In /sync too (and after a restart: it is stored with the event, not only cached).
        await self.restart_server()
        for token, present in ((self.alice, True), (self.bob, False)):
            sync = (await self.get(f"{V3}/sync", token=token)).json
            events = sync["rooms"]["join"][room_id]["timeline"]["events"]
            sent = [e for e in events if e["type"] == "m.room.message"][0]
            self.assertEqual("org.matrix.msc4140.delay_id" in sent["unsigned"], present, token)
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/event/{quote(mine['event_id'], safe='')}",
                           token=self.alice)
        self.assertEqual(r.json["unsigned"]["org.matrix.msc4140.delay_id"], delay_id)

    async def test_state_event_sent_when_due(self) -> None:
        room_id = await self.room()
        await self.set_state(self.alice, room_id, {"application": "m.call", "device_id": "DEVICE"})
        delay_id = await self.schedule_state(self.alice, room_id, 8000, {})
        listed = await self.listed(self.alice)
        self.assertEqual(listed, [{
            "delay_id": delay_id, "room_id": room_id, "type": CALL_MEMBER, "state_key": CALL_KEY,
            "delay": 8000, "running_since": int(self.fake_time.seconds() * 1000), "content": {},
        }])
        await self.elapse(7.9)
        self.assertEqual(await self.state_content(self.alice, room_id), {"application": "m.call",
                                                                         "device_id": "DEVICE"})
        await self.elapse(0.1)
        self.assertEqual(await self.state_content(self.alice, room_id), {})
        self.assertEqual(await self.listed(self.alice), [])

    async def test_legacy_post_send_is_delayed_too(self) -> None:
        room_id = await self.room()
        r = await self.request("POST", f"{V3}/rooms/{quote(room_id)}/send/m.room.message?{DELAY}=2000",
                               {"msgtype": "m.text", "body": "old client"}, token=self.alice)
        self.assertEqual(list(r.json), ["delay_id"])
        self.assertEqual(await self.messages(self.alice, room_id), [])
        await self.elapse(2)
        self.assertEqual(await self.messages(self.alice, room_id), ["old client"])

    async def test_transaction_id_gives_the_same_delay_id(self) -> None:
        room_id = await self.room()
        first = await self.schedule_message(self.alice, room_id, 5000, "same")
        again = await self.schedule_message(self.alice, room_id, 5000, "same")
        self.assertEqual(first, again)
        other = await self.schedule_message(self.alice, room_id, 5000, "other")
        self.assertNotEqual(first, other)
        # Another device of alice's has its own transaction IDs.
        second_device = (await self.login("alice"))["access_token"]
        self.assertNotIn(await self.schedule_message(second_device, room_id, 5000, "same"), (first, other))
        self.assertEqual(len(await self.listed(self.alice)), 3)
        await self.elapse(5)
        self.assertEqual(await self.messages(self.alice, room_id), ["later"] * 3)
        # The transaction was carried out: a retry of it still answers with its delay ID.
        self.assertEqual(await self.schedule_message(self.alice, room_id, 5000, "same"), first)
        await self.elapse(10)
        self.assertEqual(len(await self.messages(self.alice, room_id)), 3)

    async def test_listing_is_own_scheduled_events_in_due_order(self) -> None:
        room_id = await self.room()
        ids = {delay: await self.schedule_message(self.alice, room_id, delay, f"t{delay}", str(delay))
               for delay in (30000, 10000, 20000)}
        bobs = await self.schedule_message(self.bob, room_id, 5000, "b")
        self.assertEqual([e["delay_id"] for e in await self.listed(self.alice)],
                         [ids[10000], ids[20000], ids[30000]])
        self.assertNotIn("state_key", (await self.listed(self.alice))[0])
        self.assertEqual([e["delay_id"] for e in await self.listed(self.bob)], [bobs])
        r = await self.get(f"{UNSTABLE}/delayed_events?delay_id={quote(ids[20000], safe='')}", token=self.alice)
        self.assertEqual([e["delay_id"] for e in r.json["delayed_events"]], [ids[20000]])
        r = await self.get(f"{UNSTABLE}/delayed_events?status=finalised", token=self.alice)
        self.assertEqual(r.json, {"delayed_events": []})
        r = await self.get(f"{UNSTABLE}/delayed_events/{quote(ids[10000], safe='')}", token=self.alice)
        self.assertEqual(r.json["delay"], 10000)
        r = await self.get(f"{UNSTABLE}/delayed_events/{quote(ids[10000], safe='')}", token=self.bob)
        self.assert_error(r, 404, "M_NOT_FOUND")  # not bob's
        self.assert_error(await self.get(f"{UNSTABLE}/delayed_events"), 401, "M_MISSING_TOKEN")
        # Restarting moves an event to its new place in the order.
        await self.elapse(5)
        r = await self.action(ids[10000], "restart")
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual([e["delay_id"] for e in await self.listed(self.alice)],
                         [ids[10000], ids[20000], ids[30000]])
        await self.elapse(9)  # due in 1 s; restarted again, due after the 20 s one
        self.assertEqual((await self.action(ids[10000], "restart")).code, 200)
        self.assertEqual([e["delay_id"] for e in await self.listed(self.alice)],
                         [ids[20000], ids[10000], ids[30000]])
        self.assertEqual(await self.messages(self.alice, room_id), ["later"])  # bob's

    async def test_advertised(self) -> None:
        await self.users()
        r = await self.get("/_matrix/client/versions")
        self.assertIs(r.json["unstable_features"]["org.matrix.msc4140"], True)
        r = await self.get(f"{V3}/capabilities", token=self.alice)
        self.assertEqual(r.json["capabilities"]["org.matrix.msc4140.delayed_events"],
                         {"max_delay_ms": 24 * 3600 * 1000, "max_scheduled": 100})


class BadRequestsTest(DelayedEventsTestCase):
    async def test_delay_must_be_a_non_negative_integer(self) -> None:
        room_id = await self.room()
        room = quote(room_id)
        for bad in ("-1", "abc", "1.5", "", "1e3", "%2B5", "99999999999999999999", "0x10"):
            await self.assert_rejected_without_change(
                "PUT", f"{V3}/rooms/{room}/send/m.room.message/t?{DELAY}={bad}", {"body": "x"}, 400,
                "M_INVALID_PARAM", token=self.alice)
            await self.assert_rejected_without_change(
                "PUT", f"{V3}/rooms/{room}/state/m.room.topic/?{DELAY}={bad}", {"topic": "x"}, 400,
                "M_INVALID_PARAM", token=self.alice)
        # A delay relative to another delayed event (a later draft) is refused, never ignored.
        await self.assert_rejected_without_change(
            "PUT", f"{V3}/rooms/{room}/send/m.room.message/t?org.matrix.msc4140.parent_delay_id=x",
            {"body": "x"}, 400, "M_INVALID_PARAM", token=self.alice)
        await self.assert_rejected_without_change(
            "PUT", f"{V3}/rooms/{room}/send/m.room.message/t?{DELAY}=1000", [1], 400, "M_BAD_JSON",
            token=self.alice)
        await self.assert_rejected_without_change(
            "PUT", f"{V3}/rooms/{quote('!nowhere:test')}/send/m.room.message/t?{DELAY}=1000", {"body": "x"},
            404, "M_NOT_FOUND", token=self.alice)
        await self.assert_rejected_without_change(
            "PUT", f"{V3}/rooms/{room}/send/m.room.message/t?{DELAY}=1000", {"body": "x" * 70000}, 413,
            "M_TOO_LARGE", token=self.alice)
        await self.assert_rejected_without_change(
            "PUT", f"{V3}/rooms/{room}/send/m.room.message/t?{DELAY}=1000", {"body": "x"}, 401,
            "M_MISSING_TOKEN")

    async def test_zero_delay_is_sent_at_the_next_turn(self) -> None:
        room_id = await self.room()
        await self.schedule_message(self.alice, room_id, 0, "now")
        await self.elapse(0)
        self.assertEqual(await self.messages(self.alice, room_id), ["later"])

    async def test_delay_over_the_maximum_gets_the_reply_js_sdk_understands(self) -> None:
        room_id = await self.room()
        day = 24 * 3600 * 1000
        r = await self.assert_rejected_without_change(
            "PUT", f"{V3}/rooms/{quote(room_id)}/send/m.room.message/t?{DELAY}={day + 1}", {"body": "x"}, 400,
            "M_UNKNOWN", token=self.alice)
        self.assertEqual(r.json["org.matrix.msc4140.errcode"], "M_MAX_DELAY_EXCEEDED")
        self.assertEqual(r.json["org.matrix.msc4140.max_delay"], day)
        r = await self.assert_rejected_without_change(
            "PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.topic/?{DELAY}={day + 1}", {"topic": "x"}, 400,
            "M_UNKNOWN", token=self.alice)
        self.assertEqual(r.json["org.matrix.msc4140.max_delay"], day)
        await self.schedule_message(self.alice, room_id, day, "max")  # the maximum itself is fine

    async def test_management_errors(self) -> None:
        room_id = await self.room()
        delay_id = await self.schedule_message(self.alice, room_id, 5000, "t")
        for action in ("cancel", "restart", "send"):
            self.assert_error(await self.action("nope", action), 404, "M_NOT_FOUND")
            self.assert_error(await self.action("nope", action, token=self.alice), 404, "M_NOT_FOUND")
        # An unknown action is an unknown route: js-sdk then falls back to the body form.
        self.assert_error(await self.action(delay_id, "explode"), 404, "M_UNRECOGNIZED")
        self.assert_error(await self.request("POST", f"{UNSTABLE}/delayed_things/x"), 404, "M_UNRECOGNIZED")
        legacy = f"{UNSTABLE}/delayed_events/{quote(delay_id, safe='')}"
        await self.assert_rejected_without_change("POST", legacy, {}, 400, "M_MISSING_PARAM")
        await self.assert_rejected_without_change("POST", legacy, {"action": "explode"}, 400, "M_INVALID_PARAM")
        await self.assert_rejected_without_change("POST", legacy, {"action": 1}, 400, "M_INVALID_PARAM")
        await self.assert_rejected_without_change("POST", legacy, [], 400, "M_BAD_JSON")
        self.assert_error(await self.request("POST", f"{UNSTABLE}/delayed_events/nope", {"action": "send"}),
                          404, "M_NOT_FOUND")
        # A token, when given, must be valid.
        self.assert_error(await self.action(delay_id, "cancel", token="bogus"), 401, "M_UNKNOWN_TOKEN")
        self.assertEqual(len(await self.listed(self.alice)), 1)


class ActionsTest(DelayedEventsTestCase):
    async def test_cancel_by_path_without_token(self) -> None:
        room_id = await self.room()
        delay_id = await self.schedule_message(self.alice, room_id, 5000, "t")
        r = await self.action(delay_id, "cancel")  # nobody's token: the delay ID is the capability
        self.assertEqual((r.code, r.json), (200, {}))
        self.assertEqual(await self.listed(self.alice), [])
        await self.elapse(10)
        self.assertEqual(await self.messages(self.alice, room_id), [])
        self.assert_error(await self.action(delay_id, "cancel"), 404, "M_NOT_FOUND")
        self.assert_error(await self.action(delay_id, "send"), 404, "M_NOT_FOUND")

    async def test_restart_moves_the_due_time_by_the_original_delay(self) -> None:
        room_id = await self.room()
        delay_id = await self.schedule_message(self.alice, room_id, 5000, "t")
        await self.elapse(3)
        r = await self.action(delay_id, "restart", body={})
        self.assertEqual((r.code, r.json), (200, {}))
        self.assertEqual((await self.listed(self.alice))[0]["running_since"], int(self.fake_time.seconds() * 1000))
        await self.elapse(4.9)  # 7.9 s after scheduling: past the first due time
        self.assertEqual(await self.messages(self.alice, room_id), [])
        r = await self.action(delay_id, "restart", token=self.alice)  # with a token too
        self.assertEqual(r.code, 200, r.json)
        await self.elapse(4.9)
        self.assertEqual(await self.messages(self.alice, room_id), [])
        await self.elapse(0.2)
        self.assertEqual(await self.messages(self.alice, room_id), ["later"])
        self.assert_error(await self.action(delay_id, "restart"), 404, "M_NOT_FOUND")

    async def test_send_now(self) -> None:
        room_id = await self.room()
        delay_id = await self.schedule_message(self.alice, room_id, 60000, "t", "hang up")
        r = await self.action(delay_id, "send")
        self.assertEqual((r.code, r.json), (200, {}))
        self.assertEqual(await self.messages(self.alice, room_id), ["hang up"])  # sent before the answer
        await self.elapse(120)
        self.assertEqual(await self.messages(self.alice, room_id), ["hang up"])
        self.assert_error(await self.action(delay_id, "send"), 404, "M_NOT_FOUND")

    async def test_legacy_body_form(self) -> None:
        room_id = await self.room()
        first = await self.schedule_message(self.alice, room_id, 5000, "t1", "one")
        second = await self.schedule_message(self.alice, room_id, 5000, "t2", "two")
        third = await self.schedule_message(self.alice, room_id, 5000, "t3", "three")
        legacy = f"{UNSTABLE}/delayed_events/"
        r = await self.request("POST", legacy + quote(first, safe=""), {"action": "cancel"})
        self.assertEqual((r.code, r.json), (200, {}))
        await self.elapse(3)
        r = await self.request("POST", legacy + quote(second, safe=""), {"action": "restart"}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        r = await self.request("POST", legacy + quote(third, safe=""), {"action": "send"})
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.messages(self.alice, room_id), ["three"])
        await self.elapse(2.5)
        self.assertEqual(await self.messages(self.alice, room_id), ["three"])
        await self.elapse(2.5)
        self.assertEqual(await self.messages(self.alice, room_id), ["three", "two"])

    async def test_auth_checked_when_sent(self) -> None:
        room_id = await self.room()
        # Bob may set call state (state_default 0) but not the name (50): both are accepted now...
        name = await self.schedule_state(self.bob, room_id, 5000, {"name": "Bob's"}, "m.room.name", "")
        message = await self.schedule_message(self.bob, room_id, 10000, "t", "from bob")
        sent_now = await self.schedule_state(self.bob, room_id, 60000, {"topic": "x"}, "m.room.power_levels", "")
        # ... and refused when sent: the name is dropped at its time, and bob's ban stops his message.
        await self.elapse(5)
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/state/m.room.name/", token=self.alice)
        self.assert_error(r, 404, "M_NOT_FOUND")
        self.assertEqual([e["delay_id"] for e in await self.listed(self.bob)], [message, sent_now])
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/ban", {"user_id": BOB}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        await self.elapse(5)
        self.assertEqual(await self.messages(self.alice, room_id), [])
        # `send` reports the refusal, and the event is gone either way.
        r = await self.action(sent_now, "send")
        self.assert_error(r, 403, "M_FORBIDDEN")
        self.assertEqual(await self.listed(self.bob), [])
        self.assertEqual(await self.stored_ids(), [])
        del name

    async def test_cancelled_elsewhere_is_never_sent(self) -> None:
        """The event's transaction takes the scheduled row: if the row is gone (another process
        sent or cancelled it), the event is not persisted."""
        room_id = await self.room()
        delay_id = await self.schedule_message(self.alice, room_id, 5000, "t")
        await self.hs.database.run(
            "test", lambda txn: txn.execute("DELETE FROM delayed_events WHERE delay_id = ?", (delay_id,)))
        await self.elapse(5)
        self.assertEqual(await self.messages(self.alice, room_id), [])
        self.assertNotIn(delay_id, self.hs.delayed_events_handler._scheduled)
        rows = await self.hs.database.execute("test", "SELECT COUNT(*) FROM event_delay_ids")
        self.assertEqual(rows[0][0], 0)


class CancellationRuleTest(DelayedEventsTestCase):
    async def test_another_users_state_change_cancels(self) -> None:
        room_id = await self.room()
        await self.set_state(self.alice, room_id, {"application": "m.call"})
        delay_id = await self.schedule_state(self.alice, room_id, 8000, {})
        other_key = await self.schedule_state(self.alice, room_id, 8000, {}, state_key="_@alice:test_OTHER_m.call")
        await self.set_state(self.bob, room_id, {"bob": "was here"})  # same (type, key), another sender
        await self.hs.delayed_events_handler.drain()
        self.assertEqual([e["delay_id"] for e in await self.listed(self.alice)], [other_key])
        self.assert_error(await self.action(delay_id, "restart"), 404, "M_NOT_FOUND")
        await self.elapse(10)
        self.assertEqual(await self.state_content(self.alice, room_id), {"bob": "was here"})
        self.assertEqual(await self.state_content(self.alice, room_id, state_key="_@alice:test_OTHER_m.call"), {})

    async def test_own_state_change_does_not_cancel(self) -> None:
        room_id = await self.room()
        delay_id = await self.schedule_state(self.alice, room_id, 8000, {})
        second_device = (await self.login("alice"))["access_token"]
        await self.set_state(self.alice, room_id, {"application": "m.call"})
        await self.set_state(second_device, room_id, {"application": "m.call", "again": True})
        await self.hs.delayed_events_handler.drain()
        self.assertEqual([e["delay_id"] for e in await self.listed(self.alice)], [delay_id])
        await self.elapse(8)
        self.assertEqual(await self.state_content(self.alice, room_id), {})

    async def test_messages_and_other_keys_do_not_cancel(self) -> None:
        room_id = await self.room()
        delay_id = await self.schedule_state(self.alice, room_id, 8000, {})
        message = await self.schedule_message(self.alice, room_id, 8000, "t")
        await self.send(self.bob, room_id, "hello", "b1")
        await self.set_state(self.bob, room_id, {"x": 1}, state_key="_@bob:test_BOB_m.call")
        await self.hs.delayed_events_handler.drain()
        self.assertEqual(sorted(e["delay_id"] for e in await self.listed(self.alice)), sorted([delay_id, message]))


class LimitsTest(DelayedEventsTestCase):
    config_overrides = {"max_event_delay_duration": "10s",
                        "experimental_features": {"msc4140_max_delayed_events_per_user": 3},
                        "rc_delayed_event_mgmt": {"per_second": 0.5, "burst_count": 3}}

    async def test_max_delay_from_config(self) -> None:
        room_id = await self.room()
        r = await self.schedule_message(self.alice, room_id, 10001, "t", expect=400)
        self.assertEqual((r.json["errcode"], r.json["org.matrix.msc4140.errcode"],
                          r.json["org.matrix.msc4140.max_delay"]), ("M_UNKNOWN", "M_MAX_DELAY_EXCEEDED", 10000))
        await self.schedule_message(self.alice, room_id, 10000, "t")
        r = await self.get(f"{V3}/capabilities", token=self.alice)
        self.assertEqual(r.json["capabilities"]["org.matrix.msc4140.delayed_events"],
                         {"max_delay_ms": 10000, "max_scheduled": 3})

    async def test_per_user_cap(self) -> None:
        room_id = await self.room()
        ids = [await self.schedule_message(self.alice, room_id, 5000, f"t{i}") for i in range(3)]
        before = await self.snapshot()
        r = await self.schedule_message(self.alice, room_id, 5000, "t3", expect=429)
        self.assert_error(r, 429, "M_LIMIT_EXCEEDED")
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.topic/?{DELAY}=5000",
                               {"topic": "x"}, token=self.alice)
        self.assert_error(r, 429, "M_LIMIT_EXCEEDED")
        self.assertEqual(await self.snapshot(), before)
        await self.schedule_message(self.bob, room_id, 5000, "b")  # bob has his own allowance
        # A retried transaction is not a new event.
        self.assertEqual(await self.schedule_message(self.alice, room_id, 5000, "t0"), ids[0])
        self.assertEqual((await self.action(ids[0], "cancel")).code, 200)
        await self.schedule_message(self.alice, room_id, 5000, "t4")

    async def test_management_rate_limit_is_per_owner(self) -> None:
        room_id = await self.room()
        mine = await self.schedule_message(self.alice, room_id, 10000, "t")
        bobs = await self.schedule_message(self.bob, room_id, 10000, "b")
        for _ in range(3):
            self.assertEqual((await self.action(mine, "restart")).code, 200)
        r = await self.action(mine, "restart")  # no token: counted against alice, the owner
        self.assert_error(r, 429, "M_LIMIT_EXCEEDED")
        self.assertGreater(r.json["retry_after_ms"], 0)
        self.assertEqual((await self.action(bobs, "restart")).code, 200)  # bob's bucket is his own
        self.assert_error(await self.get(f"{UNSTABLE}/delayed_events", token=self.alice), 429, "M_LIMIT_EXCEEDED")
        self.advance(2)
        self.assertEqual((await self.action(mine, "restart")).code, 200)
        # Unknown IDs count against the requester's address.
        for _ in range(3):
            self.assert_error(await self.action("nope", "cancel"), 404, "M_NOT_FOUND")
        self.assert_error(await self.action("nope", "cancel"), 429, "M_LIMIT_EXCEEDED")


class DisabledTest(DelayedEventsTestCase):
    config_overrides = {"max_event_delay_duration": None}

    async def test_off_and_not_advertised(self) -> None:
        room_id = await self.room()
        r = await self.get("/_matrix/client/versions")
        self.assertIs(r.json["unstable_features"]["org.matrix.msc4140"], False)
        r = await self.get(f"{V3}/capabilities", token=self.alice)
        self.assertNotIn("org.matrix.msc4140.delayed_events", r.json["capabilities"])
        r = await self.assert_rejected_without_change(
            "PUT", f"{V3}/rooms/{quote(room_id)}/send/m.room.message/t?{DELAY}=1000", {"body": "x"}, 400,
            "M_UNKNOWN", token=self.alice)
        self.assertEqual(r.json["org.matrix.msc4140.errcode"], "M_MAX_DELAY_UNSUPPORTED")
        self.assertEqual(await self.messages(self.alice, room_id), [])
        await self.send(self.alice, room_id, "plain sends still work", "p")


class RestartTest(DelayedEventsTestCase):
    async def test_overdue_events_sent_once_at_start_in_due_order(self) -> None:
        room_id = await self.room()
        await self.schedule_message(self.alice, room_id, 5000, "t5", "five")
        await self.schedule_message(self.alice, room_id, 3000, "t3", "three")
        cancelled = await self.schedule_message(self.alice, room_id, 4000, "t4", "four")
        later = await self.schedule_message(self.alice, room_id, 60000, "t60", "sixty")
        leave = await self.schedule_state(self.alice, room_id, 8000, {})
        self.assertEqual((await self.action(cancelled, "cancel")).code, 200)
        await self.restart_server(downtime_s=30)  # everything but `later` fell due while down
        self.assertEqual(await self.messages(self.alice, room_id), ["three", "five"])
        self.assertEqual(await self.state_content(self.alice, room_id), {})
        self.assertEqual([e["delay_id"] for e in await self.listed(self.alice)], [later])
        # Nothing is sent again by the next start, and what was still scheduled keeps its time.
        await self.restart_server()
        self.assertEqual(await self.messages(self.alice, room_id), ["three", "five"])
        await self.elapse(29)
        self.assertEqual(await self.messages(self.alice, room_id), ["three", "five"])
        await self.elapse(1)
        self.assertEqual(await self.messages(self.alice, room_id), ["three", "five", "sixty"])
        await self.restart_server(downtime_s=3600)
        self.assertEqual(await self.messages(self.alice, room_id), ["three", "five", "sixty"])
        members = [e for e in await self.timeline(self.alice, room_id)
                   if e["type"] == CALL_MEMBER and e["unsigned"].get("org.matrix.msc4140.delay_id") == leave]
        self.assertEqual(len(members), 1)

    async def test_restart_and_transaction_ids_survive(self) -> None:
        room_id = await self.room()
        delay_id = await self.schedule_message(self.alice, room_id, 10000, "t")
        await self.elapse(6)
        await self.restart_server()
        self.assertEqual(await self.schedule_message(self.alice, room_id, 10000, "t"), delay_id)
        self.assertEqual((await self.action(delay_id, "restart")).code, 200)  # due 16 s from the start
        await self.restart_server(downtime_s=9)
        self.assertEqual(await self.messages(self.alice, room_id), [])
        await self.elapse(1)
        self.assertEqual(await self.messages(self.alice, room_id), ["later"])

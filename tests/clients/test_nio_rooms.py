"""Rooms through matrix-nio against the real server process: createRoom with invites, joining,
sending, /messages pagination both ways, state reads and writes, redaction, leaving, and
kick/ban/unban with their power checks.

There is no /sync yet, so nothing here relies on nio's sync loop or ``client.rooms``: every check
is made on the response objects of the calls themselves and on ``room_messages``."""

from __future__ import annotations

from typing import Any

from nio import (
    AsyncClient,
    BadEvent,
    JoinedMembersResponse,
    JoinedRoomsResponse,
    JoinResponse,
    MessageDirection,
    RegisterResponse,
    RoomBanResponse,
    RoomCreateResponse,
    RoomGetEventResponse,
    RoomGetStateEventResponse,
    RoomGetStateResponse,
    RoomInviteResponse,
    RoomKickResponse,
    RoomLeaveResponse,
    RoomMessagesResponse,
    RoomMessageText,
    RoomPutStateResponse,
    RoomRedactResponse,
    RoomSendResponse,
    RoomUnbanResponse,
    UnknownBadEvent,
)

from tests.clients.nio_support import OPEN_REGISTRATION, NioTestCase, user_id
from tests.clients.server_process import ServerProcess

ALICE, BOB, CAROL = user_id("alice"), user_id("bob"), user_id("carol")

# Guards every pagination loop against a server that never stops handing out `end` tokens.
MAX_PAGES = 100


def source(event: Any) -> dict[str, Any]:
    """The raw client event behind a parsed nio event (nio keeps it, even for unknown types)."""
    return event.source


def event_ids(resp: RoomMessagesResponse) -> list[str]:
    return [source(event)["event_id"] for event in resp.chunk]


class NioRoomsHelpers(NioTestCase):
    """Room helpers shared by the nio test modules (no tests of its own)."""

    # ------------------------------------------------------------------ helpers

    async def register(self, server: ServerProcess, localpart: str) -> AsyncClient:
        client = self.client(server, localpart)
        resp = await client.register(localpart, f"{localpart} password")
        self.assert_nio_ok(resp, RegisterResponse, f"register {localpart}")
        self.assertEqual(resp.user_id, user_id(localpart))
        return client

    async def create_room(self, alice: AsyncClient, invite: list[str], **kwargs: Any) -> str:
        resp = await alice.room_create(name="Test room", topic="The first topic", invite=invite, **kwargs)
        self.assert_nio_ok(resp, RoomCreateResponse, "room_create")
        self.assertTrue(resp.room_id.startswith("!"), repr(resp))
        return resp.room_id

    async def join(self, client: AsyncClient, room_id: str) -> None:
        resp = await client.join(room_id)
        self.assert_nio_ok(resp, JoinResponse, f"{client.user_id} joins")
        self.assertEqual(resp.room_id, room_id)

    async def send_text(self, client: AsyncClient, room_id: str, body: str) -> str:
        resp = await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body},
                                      ignore_unverified_devices=True)
        self.assert_nio_ok(resp, RoomSendResponse, f"{client.user_id} sends {body!r}")
        self.assertEqual(resp.room_id, room_id)
        self.assertTrue(resp.event_id.startswith("$"), repr(resp))
        return resp.event_id

    async def state_content(self, client: AsyncClient, room_id: str, event_type: str,
                            state_key: str = "") -> dict[str, Any]:
        resp = await client.room_get_state_event(room_id, event_type, state_key)
        self.assert_nio_ok(resp, RoomGetStateEventResponse, f"get state {event_type}/{state_key}")
        # nio turns only a 404 into an error here; anything else lands in `content`.
        self.assertEqual(resp.transport_response.status, 200,
                         f"get state {event_type}/{state_key}: {resp.content!r}")
        return resp.content

    def assert_state_event_error(self, resp: Any, http_status: int, errcode: str, what: str) -> None:
        """room_get_state_event errors other than 404 come back as a 'response' whose content is
        the error body (a nio quirk), so look at the HTTP status and the body itself."""
        if not isinstance(resp, RoomGetStateEventResponse):
            self.assert_nio_error(resp, http_status, errcode, what)
            return
        self.assertEqual((resp.transport_response.status, resp.content.get("errcode")),
                         (http_status, errcode), f"{what}: got {resp.content!r}")

    async def membership(self, client: AsyncClient, room_id: str, target: str) -> str | None:
        return (await self.state_content(client, room_id, "m.room.member", target)).get("membership")

    async def messages(self, client: AsyncClient, room_id: str, start: str | None,
                       direction: MessageDirection, limit: int) -> RoomMessagesResponse:
        resp = await client.room_messages(room_id, start, direction=direction, limit=limit)
        self.assert_nio_ok(resp, RoomMessagesResponse, f"/messages from={start} dir={direction.value}")
        self.assertLessEqual(len(resp.chunk), limit, f"page larger than limit={limit}: {event_ids(resp)}")
        if start is not None:
            self.assertEqual(resp.start, start, "start must echo the from token")
        for event in resp.chunk:
            self.assertEqual(source(event).get("room_id"), room_id, repr(source(event)))
        return resp

    async def paginate(self, client: AsyncClient, room_id: str, direction: MessageDirection,
                       limit: int, start: str | None = None) -> list[RoomMessagesResponse]:
        """Follow `end` tokens until the server omits one (backwards) or, forwards, the live end
        (an empty page whose `end` is where it started); returns every page."""
        pages: list[RoomMessagesResponse] = []
        token = start
        for _ in range(MAX_PAGES):
            page = await self.messages(client, room_id, token, direction, limit)
            pages.append(page)
            if page.end is None:
                return pages
            if direction == MessageDirection.front and not page.chunk and page.end == token:
                return pages  # the live end: `end` is where to go on from when more comes
            self.assertNotEqual(page.end, token, "a page with an `end` token must move forward")
            if not page.chunk:
                # Only a page whose chunk is empty may leave the client where it stood.
                self.fail(f"empty page {len(pages)} still has an end token {page.end!r}")
            token = page.end
        self.fail(f"/messages dir={direction.value} never omitted `end` in {MAX_PAGES} pages")

    async def timeline(self, client: AsyncClient, room_id: str) -> list[dict[str, Any]]:
        """The whole visible timeline, oldest first, read forwards in one big page."""
        pages = await self.paginate(client, room_id, MessageDirection.front, 100)
        return [source(event) for page in pages for event in page.chunk]


class NioRoomsTestCase(NioRoomsHelpers):
    # ------------------------------------------------------------------ create, join, send, paginate

    def test_create_join_send_and_paginate(self):
        server = self.start_server(OPEN_REGISTRATION)

        async def scenario():
            alice = await self.register(server, "alice")
            bob = await self.register(server, "bob")
            room_id = await self.create_room(alice, invite=[BOB])

            self.assertEqual(await self.membership(alice, room_id, BOB), "invite")
            self.assertEqual(await self.membership(alice, room_id, ALICE), "join")
            await self.join(bob, room_id)
            self.assertEqual(await self.membership(bob, room_id, BOB), "join")

            sent: list[tuple[str, str, str]] = []  # (event_id, sender, body), in sending order
            for i in range(7):
                client, sender = (alice, ALICE) if i % 2 == 0 else (bob, BOB)
                body = f"message {i}"
                sent.append((await self.send_text(client, room_id, body), sender, body))
            sent_ids = [event_id for event_id, _, _ in sent]
            self.assertEqual(len(set(sent_ids)), len(sent_ids), "event IDs must be unique")

            # Retrying a transaction ID is idempotent: same event ID, nothing new in the room.
            first = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "once"},
                                          tx_id="txn-retry")
            self.assert_nio_ok(first, RoomSendResponse, "send with txn-retry")
            again = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "once"},
                                          tx_id="txn-retry")
            self.assert_nio_ok(again, RoomSendResponse, "resend with txn-retry")
            self.assertEqual(again.event_id, first.event_id, "a retried transaction must not make a new event")
            sent.append((first.event_id, ALICE, "once"))
            sent_ids.append(first.event_id)

            for reader in (alice, bob):
                # Backwards from the live end (no `from`), three at a time.
                back_pages = await self.paginate(reader, room_id, MessageDirection.back, 3)
                parsed = [e for page in back_pages for e in page.chunk]
                bad = [e for e in parsed if isinstance(e, (BadEvent, UnknownBadEvent))]
                self.assertEqual(bad, [], "nio could not parse these timeline events")
                self.assertEqual([e.event_id for e in parsed if isinstance(e, RoomMessageText)][:len(sent_ids)],
                                 list(reversed(sent_ids)), "nio sees the messages as m.text messages")
                back = [source(e) for e in parsed]
                back_ids = [e["event_id"] for e in back]
                self.assertEqual(len(back_ids), len(set(back_ids)),
                                 f"{reader.user_id}: an event came twice going back: {back_ids}")
                self.assertEqual(back_ids[:len(sent_ids)], list(reversed(sent_ids)),
                                 f"{reader.user_id}: newest messages first, nothing in between")
                self.assertEqual(back[-1]["type"], "m.room.create", "going back ends at m.room.create")
                for page in back_pages[:-1]:
                    self.assertEqual(len(page.chunk), 3, "only the last page may be short")
                for event in back:
                    if event["type"] == "m.room.message":
                        match = [s for s in sent if s[0] == event["event_id"]]
                        self.assertEqual(len(match), 1, f"unexpected message {event!r}")
                        self.assertEqual((event["sender"], event["content"]["body"]), match[0][1:])
                        self.assertIsInstance(event.get("origin_server_ts"), int, repr(event))

                # Forwards from the very start (no `from`), four at a time: the same events, oldest first.
                fwd_pages = await self.paginate(reader, room_id, MessageDirection.front, 4)
                fwd_ids = [source(e)["event_id"] for page in fwd_pages for e in page.chunk]
                self.assertEqual(fwd_ids, list(reversed(back_ids)),
                                 f"{reader.user_id}: forward and backward pagination disagree")
                self.assertEqual(fwd_pages[0].chunk[0].source["type"], "m.room.create")

                # Tokens are positions: turning round at the first backward page's end and going
                # forwards again gives that page back, oldest first.
                turned = await self.messages(reader, room_id, back_pages[0].end, MessageDirection.front, 3)
                self.assertEqual(event_ids(turned), list(reversed(event_ids(back_pages[0]))),
                                 "forward from a backward `end` token must replay that page")
                # And backwards from the first forward page's end gives that page back, newest first.
                turned = await self.messages(reader, room_id, fwd_pages[0].end, MessageDirection.back, 4)
                self.assertEqual(event_ids(turned), list(reversed(event_ids(fwd_pages[0]))),
                                 "backward from a forward `end` token must replay that page")

            # A RoomEventFilter narrows the walk and pages still fill up to the limit.
            only_messages = {"types": ["m.room.message"]}
            resp = await alice.room_messages(room_id, None, direction=MessageDirection.back, limit=3,
                                             message_filter=only_messages)
            self.assert_nio_ok(resp, RoomMessagesResponse, "/messages with a types filter")
            self.assertEqual(event_ids(resp), list(reversed(sent_ids))[:3])
            seen: list[str] = []
            token = None
            for _ in range(MAX_PAGES):
                resp = await alice.room_messages(room_id, token, direction=MessageDirection.back, limit=3,
                                                 message_filter={"types": ["m.room.message"],
                                                                 "not_senders": [BOB]})
                self.assert_nio_ok(resp, RoomMessagesResponse, "/messages with types and not_senders")
                seen += event_ids(resp)
                if resp.end is None:
                    break
                token = resp.end
            self.assertEqual(seen, [e for e, sender, _ in reversed(sent) if sender == ALICE],
                             "filtered backward pagination: alice's messages, newest first, once each")

            # `to` stops the walk: backwards from the live end down to the first forward page's
            # end gives everything newer than that page, and nothing of it.
            resp = await alice.room_messages(room_id, None, fwd_pages[0].end,
                                             direction=MessageDirection.back, limit=100)
            self.assert_nio_ok(resp, RoomMessagesResponse, "/messages with to=")
            self.assertEqual(event_ids(resp), back_ids[:-len(fwd_pages[0].chunk)],
                             "backward pagination must stop at the `to` token")

            # At the live end nothing is left to read forwards.
            live = await self.messages(alice, room_id, None, MessageDirection.back, 1)
            self.assertEqual(event_ids(live), [sent_ids[-1]])
            tail = await self.messages(alice, room_id, live.start, MessageDirection.front, 5)
            self.assertEqual(event_ids(tail), [], "nothing comes after the live end")
            self.assertEqual(tail.end, live.start, "at the live end, `end` stays where it is, to go on from")

            # A new message shows up forwards from that same token, and only it.
            newer = await self.send_text(bob, room_id, "after the live token")
            tail = await self.messages(alice, room_id, live.start, MessageDirection.front, 5)
            self.assertEqual(event_ids(tail), [newer])

            # A non-member (the room is invite-only) can neither read nor join.
            carol = await self.register(server, "carol")
            resp = await carol.room_messages(room_id, None, direction=MessageDirection.back)
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "/messages by a non-member")
            resp = await carol.join(room_id)
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "joining an invite-only room uninvited")
            resp = await carol.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "hi"})
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "sending as a non-member")

        self.run_scenario(scenario)

    # ------------------------------------------------------------------ state and members

    def test_state_members_and_topic_power(self):
        server = self.start_server(OPEN_REGISTRATION)

        async def scenario():
            alice = await self.register(server, "alice")
            bob = await self.register(server, "bob")
            carol = await self.register(server, "carol")
            room_id = await self.create_room(alice, invite=[BOB])
            await self.join(bob, room_id)

            resp = await bob.room_get_state(room_id)
            self.assert_nio_ok(resp, RoomGetStateResponse, "room_get_state")
            state = {(e["type"], e["state_key"]): e for e in resp.events}
            create = state.get(("m.room.create", ""))
            self.assertIsNotNone(create, f"no m.room.create in {sorted(state)}")
            self.assertEqual(create["sender"], ALICE)
            self.assertEqual(state[("m.room.name", "")]["content"], {"name": "Test room"})
            self.assertEqual(state[("m.room.topic", "")]["content"].get("topic"), "The first topic")
            self.assertEqual(state[("m.room.member", ALICE)]["content"]["membership"], "join")
            self.assertEqual(state[("m.room.member", BOB)]["content"]["membership"], "join")
            self.assertIn(("m.room.power_levels", ""), state)
            self.assertEqual(state[("m.room.join_rules", "")]["content"]["join_rule"], "invite",
                             "a private room is invite-only")
            for (event_type, _), event in state.items():
                self.assertEqual(event["room_id"], room_id)
                self.assertTrue(event["event_id"].startswith("$"), repr(event))
                self.assertEqual(event["type"], event_type)
            power = state[("m.room.power_levels", "")]["content"]
            if create["content"].get("room_version") in ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10",
                                                         "11"):
                self.assertEqual(power.get("users", {}).get(ALICE), 100, f"creator's power: {power!r}")
            else:
                # From room version 12 the creator's power is implicit and not listed in `users`.
                self.assertNotIn(ALICE, power.get("users", {}), f"creator listed in {power!r}")

            self.assertEqual(await self.state_content(bob, room_id, "m.room.name"), {"name": "Test room"})
            self.assertEqual((await self.state_content(bob, room_id, "m.room.create")).get("room_version"),
                             create["content"].get("room_version"))
            resp = await bob.room_get_state_event(room_id, "m.room.avatar")
            self.assert_nio_error(resp, 404, "M_NOT_FOUND", "state event that was never set")
            resp = await carol.room_get_state(room_id)
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "room_get_state by a non-member")
            resp = await carol.room_get_state_event(room_id, "m.room.name")
            self.assert_state_event_error(resp, 403, "M_FORBIDDEN", "room_get_state_event by a non-member")

            resp = await alice.joined_members(room_id)
            self.assert_nio_ok(resp, JoinedMembersResponse, "joined_members")
            self.assertEqual(sorted(m.user_id for m in resp.members), [ALICE, BOB])
            for member in resp.members:
                content = state[("m.room.member", member.user_id)]["content"]
                self.assertEqual((member.display_name, member.avatar_url),
                                 (content.get("displayname"), content.get("avatar_url")),
                                 f"joined_members must mirror the member event of {member.user_id}")
            resp = await carol.joined_members(room_id)
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "joined_members by a non-member")

            other_room = await self.create_room(alice, invite=[])
            for client, expected in ((alice, {room_id, other_room}), (bob, {room_id}), (carol, set())):
                resp = await client.joined_rooms()
                self.assert_nio_ok(resp, JoinedRoomsResponse, f"joined_rooms of {client.user_id}")
                self.assertEqual(sorted(resp.rooms), sorted(expected), f"joined_rooms of {client.user_id}")

            # Bob has power 0; the topic needs more. He is refused and the topic stays.
            resp = await bob.room_put_state(room_id, "m.room.topic", {"topic": "Bob's topic"})
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "powerless bob sets the topic")
            self.assertEqual((await self.state_content(alice, room_id, "m.room.topic")).get("topic"),
                             "The first topic")
            resp = await carol.room_put_state(room_id, "m.room.topic", {"topic": "Carol's topic"})
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "a non-member sets the topic")

            resp = await alice.room_put_state(room_id, "m.room.topic", {"topic": "Alice's topic"})
            self.assert_nio_ok(resp, RoomPutStateResponse, "alice sets the topic")
            topic_event_id = resp.event_id
            self.assertEqual(await self.state_content(bob, room_id, "m.room.topic"), {"topic": "Alice's topic"})
            resp = await bob.room_get_state(room_id)
            self.assert_nio_ok(resp, RoomGetStateResponse, "room_get_state after the topic change")
            topics = [e for e in resp.events if e["type"] == "m.room.topic"]
            self.assertEqual([(e["event_id"], e["sender"], e["content"]) for e in topics],
                             [(topic_event_id, ALICE, {"topic": "Alice's topic"})])
            # The change is in the timeline too, and carries the previous content.
            latest = await self.messages(bob, room_id, None, MessageDirection.back, 1)
            self.assertEqual(event_ids(latest), [topic_event_id])
            self.assertEqual(source(latest.chunk[0]).get("state_key"), "")
            prev = source(latest.chunk[0]).get("unsigned", {}).get("prev_content")
            if prev is not None:
                self.assertEqual(prev.get("topic"), "The first topic")

            # Nor may he raise his own power level.
            resp = await bob.room_put_state(room_id, "m.room.power_levels", {"users": {BOB: 100}})
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "bob raises his own power")
            power_now = await self.state_content(alice, room_id, "m.room.power_levels")
            self.assertEqual(power_now, power, "a refused power_levels change must not change anything")

        self.run_scenario(scenario)

    # ------------------------------------------------------------------ redaction

    def test_redact_own_message(self):
        server = self.start_server(OPEN_REGISTRATION)

        async def scenario():
            alice = await self.register(server, "alice")
            bob = await self.register(server, "bob")
            room_id = await self.create_room(alice, invite=[BOB])
            await self.join(bob, room_id)
            alices = await self.send_text(alice, room_id, "alice's words")
            bobs = await self.send_text(bob, room_id, "bob regrets this")

            resp = await bob.room_redact(room_id, alices, reason="not mine")
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "powerless bob redacts alice's message")

            resp = await bob.room_redact(room_id, bobs, reason="oops", tx_id="redact-1")
            self.assert_nio_ok(resp, RoomRedactResponse, "bob redacts his own message")
            redaction_id = resp.event_id
            again = await bob.room_redact(room_id, bobs, reason="oops", tx_id="redact-1")
            self.assert_nio_ok(again, RoomRedactResponse, "retried redaction transaction")
            self.assertEqual(again.event_id, redaction_id, "a retried transaction must not make a new event")
            self.assertTrue(redaction_id.startswith("$"), repr(resp))
            self.assertNotEqual(redaction_id, bobs)

            for reader in (alice, bob):
                events = {e["event_id"]: e for e in await self.timeline(reader, room_id)}
                redacted = events.get(bobs)
                self.assertIsNotNone(redacted, "a redacted event stays in the timeline")
                self.assertEqual(redacted["content"], {}, f"redacted content must be stripped: {redacted!r}")
                self.assertEqual(redacted["type"], "m.room.message")
                self.assertEqual(redacted["sender"], BOB)

                redaction = events.get(redaction_id)
                self.assertIsNotNone(redaction, "the redaction event is in the timeline")
                self.assertEqual(redaction["type"], "m.room.redaction")
                # Room versions up to 10 carry `redacts` at the top level, 11 in the content.
                self.assertIn(bobs, (redaction.get("redacts"), redaction["content"].get("redacts")),
                              repr(redaction))
                self.assertEqual(events[alices]["content"].get("body"), "alice's words",
                                 "the refused redaction must not touch alice's message")

            # The room creator (power 100) may redact other people's messages.
            bobs_second = await self.send_text(bob, room_id, "second thought")
            resp = await alice.room_redact(room_id, bobs_second, reason="moderated")
            self.assert_nio_ok(resp, RoomRedactResponse, "alice redacts bob's message")
            moderated = {e["event_id"]: e for e in await self.timeline(bob, room_id)}[bobs_second]
            self.assertEqual(moderated["content"], {}, repr(moderated))
            redaction_ids = [e["event_id"] for e in await self.timeline(bob, room_id)
                             if e["type"] == "m.room.redaction"]
            self.assertEqual(redaction_ids, [redaction_id, resp.event_id],
                             "one redaction event per redaction, the retried transaction included")

            resp = await alice.room_get_event(room_id, bobs)
            self.assert_nio_ok(resp, RoomGetEventResponse, "room_get_event of the redacted event")
            self.assertEqual(resp.event.source["content"], {})
            redacted_views = [("room_get_event", resp.event.source)]
            for reader in (alice, bob):
                events = {e["event_id"]: e for e in await self.timeline(reader, room_id)}
                redacted_views.append((f"/messages for {reader.user_id}", events[bobs]))

            # unsigned.redacted_because is the redaction event itself (a ClientEvent), which is
            # what nio (and other clients) parse to show who redacted and why.
            for what, redacted in redacted_views:
                because = redacted.get("unsigned", {}).get("redacted_because")
                self.assertIsInstance(because, dict, f"{what}: no unsigned.redacted_because: {redacted!r}")
                self.assertEqual(because.get("event_id"), redaction_id, what)
                self.assertEqual((because.get("type"), because.get("sender"),
                                  because.get("content", {}).get("reason")),
                                 ("m.room.redaction", BOB, "oops"),
                                 f"{what}: redacted_because must be the redaction event: {because!r}")

        self.run_scenario(scenario)

    # ------------------------------------------------------------------ leaving

    def test_leave_hides_later_messages(self):
        server = self.start_server(OPEN_REGISTRATION)

        async def scenario():
            alice = await self.register(server, "alice")
            bob = await self.register(server, "bob")
            room_id = await self.create_room(alice, invite=[BOB])
            await self.join(bob, room_id)
            before = await self.send_text(alice, room_id, "while bob is here")

            resp = await bob.room_leave(room_id)
            self.assert_nio_ok(resp, RoomLeaveResponse, "bob leaves")
            self.assertEqual(await self.membership(alice, room_id, BOB), "leave")
            after = await self.send_text(alice, room_id, "after bob left")

            resp = await bob.joined_rooms()
            self.assert_nio_ok(resp, JoinedRoomsResponse, "bob's joined_rooms")
            self.assertEqual(resp.rooms, [])
            resp = await alice.joined_members(room_id)
            self.assert_nio_ok(resp, JoinedMembersResponse, "joined_members after the leave")
            self.assertEqual([m.user_id for m in resp.members], [ALICE])

            # Bob still sees the history up to his leave, and nothing after.
            bob_view = await self.timeline(bob, room_id)
            ids = [e["event_id"] for e in bob_view]
            self.assertIn(before, ids)
            self.assertNotIn(after, ids, "a user who left must not see later messages")
            last = bob_view[-1]
            self.assertEqual((last["type"], last.get("state_key"), last["content"].get("membership")),
                             ("m.room.member", BOB, "leave"), "bob's view ends at his leave")
            back = await self.messages(bob, room_id, None, MessageDirection.back, 5)
            self.assertNotIn(after, event_ids(back))
            self.assertEqual(event_ids(back)[0], last["event_id"])
            self.assertIn(after, [e["event_id"] for e in await self.timeline(alice, room_id)])

            # Bob's view of the state is frozen at his leave: a later topic change is not his to see.
            resp = await alice.room_put_state(room_id, "m.room.topic", {"topic": "Topic after bob left"})
            self.assert_nio_ok(resp, RoomPutStateResponse, "alice changes the topic after bob left")
            self.assertEqual((await self.state_content(bob, room_id, "m.room.topic")).get("topic"),
                             "The first topic", "state for a former member is the state when they left")
            resp = await bob.room_get_state(room_id)
            self.assert_nio_ok(resp, RoomGetStateResponse, "room_get_state by a former member")
            state = {(e["type"], e["state_key"]): e["content"] for e in resp.events}
            self.assertEqual(state[("m.room.topic", "")].get("topic"), "The first topic")
            self.assertEqual(state[("m.room.member", BOB)].get("membership"), "leave")

            resp = await bob.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "ghost"})
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "sending after leaving")
            resp = await bob.joined_members(room_id)
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "joined_members after leaving")
            resp = await bob.join(room_id)
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "re-joining an invite-only room uninvited")

            # Invited back and joined again: with `shared` history visibility the message sent
            # while he was away becomes visible, as he joined after it was sent.
            resp = await alice.room_invite(room_id, BOB)
            self.assert_nio_ok(resp, RoomInviteResponse, "alice invites bob back")
            await self.join(bob, room_id)
            self.assertEqual(
                (await self.state_content(bob, room_id, "m.room.history_visibility")).get("history_visibility"),
                "shared")
            ids = [e["event_id"] for e in await self.timeline(bob, room_id)]
            self.assertIn(after, ids, "shared history: a member sees what was sent before they (re)joined")
            self.assertEqual(ids, [e["event_id"] for e in await self.timeline(alice, room_id)])
            self.assertEqual((await self.state_content(bob, room_id, "m.room.topic")).get("topic"),
                             "Topic after bob left")

        self.run_scenario(scenario)

    # ------------------------------------------------------------------ kick, ban, unban

    def test_kick_ban_unban(self):
        server = self.start_server(OPEN_REGISTRATION)

        async def scenario():
            alice = await self.register(server, "alice")
            bob = await self.register(server, "bob")
            carol = await self.register(server, "carol")
            room_id = await self.create_room(alice, invite=[BOB, CAROL])
            await self.join(bob, room_id)
            await self.join(carol, room_id)

            # Bob (power 0) may not kick or ban anyone.
            resp = await bob.room_kick(room_id, CAROL, reason="bob says so")
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "powerless bob kicks carol")
            resp = await bob.room_ban(room_id, CAROL, reason="bob says so")
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "powerless bob bans carol")
            resp = await bob.room_kick(room_id, ALICE)
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "powerless bob kicks the creator")
            self.assertEqual(await self.membership(alice, room_id, CAROL), "join")

            # Alice kicks carol, who is then out and, the room being invite-only, stays out.
            resp = await alice.room_kick(room_id, CAROL, reason="cool down")
            self.assert_nio_ok(resp, RoomKickResponse, "alice kicks carol")
            content = await self.state_content(alice, room_id, "m.room.member", CAROL)
            self.assertEqual((content.get("membership"), content.get("reason")), ("leave", "cool down"))
            resp = await carol.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "hey"})
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "sending after being kicked")
            resp = await carol.join(room_id)
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "re-joining after a kick uninvited")
            kick = await self.messages(alice, room_id, None, MessageDirection.back, 1)
            kick_event = source(kick.chunk[0])
            self.assertEqual((kick_event["type"], kick_event["sender"], kick_event["state_key"]),
                             ("m.room.member", ALICE, CAROL), "the kick is alice's event about carol")

            # Alice bans carol: no joining, no inviting.
            resp = await alice.room_ban(room_id, CAROL, reason="enough")
            self.assert_nio_ok(resp, RoomBanResponse, "alice bans carol")
            content = await self.state_content(alice, room_id, "m.room.member", CAROL)
            self.assertEqual((content.get("membership"), content.get("reason")), ("ban", "enough"))
            resp = await carol.join(room_id)
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "a banned user joins")
            resp = await alice.room_invite(room_id, CAROL)
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "inviting a banned user")

            # Bob may not lift the ban; alice may.
            resp = await bob.room_unban(room_id, CAROL)
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "powerless bob unbans carol")
            self.assertEqual(await self.membership(alice, room_id, CAROL), "ban")
            resp = await alice.room_unban(room_id, CAROL)
            self.assert_nio_ok(resp, RoomUnbanResponse, "alice unbans carol")
            self.assertEqual(await self.membership(alice, room_id, CAROL), "leave")

            # Unbanned is not invited: carol still needs an invite, and then she is back.
            resp = await carol.join(room_id)
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "joining after unban without an invite")
            resp = await alice.room_invite(room_id, CAROL)
            self.assert_nio_ok(resp, RoomInviteResponse, "alice re-invites carol")
            await self.join(carol, room_id)
            resp = await alice.joined_members(room_id)
            self.assert_nio_ok(resp, JoinedMembersResponse, "joined_members at the end")
            self.assertEqual(sorted(m.user_id for m in resp.members), [ALICE, BOB, CAROL])

            # Banning someone who never was in the room works too (pre-emptive ban).
            dave = await self.register(server, "dave")
            resp = await alice.room_ban(room_id, dave.user_id)
            self.assert_nio_ok(resp, RoomBanResponse, "pre-emptive ban of dave")
            resp = await dave.join(room_id)
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "a pre-emptively banned user joins")

        self.run_scenario(scenario)

    # Reactions, edits and a thread between two nio clients, and the aggregations they see.
    def test_react_edit_and_thread(self):
        server = self.start_server(OPEN_REGISTRATION)

        async def scenario():
            from nio import RoomSendError
            from nio.api import RelationshipType

            alice = await self.register(server, "alice")
            bob = await self.register(server, "bob")
            room_id = await self.create_room(alice, invite=[BOB])
            await self.join(bob, room_id)
            root = await self.send_text(alice, room_id, "Lunch at noon?")

            # Reactions: the same key twice from bob is refused with M_DUPLICATE_ANNOTATION.
            reaction = {"m.relates_to": {"rel_type": "m.annotation", "event_id": root, "key": "👍"}}
            resp = await bob.room_send(room_id, "m.reaction", reaction, ignore_unverified_devices=True)
            self.assert_nio_ok(resp, RoomSendResponse, "bob reacts")
            resp = await bob.room_send(room_id, "m.reaction", reaction, ignore_unverified_devices=True)
            self.assertIsInstance(resp, RoomSendError)
            self.assertEqual((resp.transport_response.status, resp.status_code), (400, "M_DUPLICATE_ANNOTATION"))
            resp = await alice.room_send(room_id, "m.reaction", reaction, ignore_unverified_devices=True)
            self.assert_nio_ok(resp, RoomSendResponse, "alice reacts with the same key")

            # An edit by alice: the original keeps its content, the edit is bundled.
            edit = {"msgtype": "m.text", "body": "* Lunch at one?",
                    "m.new_content": {"msgtype": "m.text", "body": "Lunch at one?"},
                    "m.relates_to": {"rel_type": "m.replace", "event_id": root}}
            resp = await alice.room_send(room_id, "m.room.message", edit, ignore_unverified_devices=True)
            self.assert_nio_ok(resp, RoomSendResponse, "alice edits")
            edit_id = resp.event_id

            # A thread: bob and alice reply.
            replies = []
            for client, body in ((bob, "Yes!"), (alice, "Great"), (bob, "See you")):
                content = {"msgtype": "m.text", "body": body,
                           "m.relates_to": {"rel_type": "m.thread", "event_id": root}}
                resp = await client.room_send(room_id, "m.room.message", content, ignore_unverified_devices=True)
                self.assert_nio_ok(resp, RoomSendResponse, f"thread reply {body!r}")
                replies.append(resp.event_id)

            resp = await bob.room_get_event(room_id, root)
            self.assert_nio_ok(resp, RoomGetEventResponse, "bob gets the root")
            raw = source(resp.event)
            self.assertEqual(raw["content"]["body"], "Lunch at noon?")
            relations = raw["unsigned"]["m.relations"]
            self.assertEqual(relations["m.replace"]["event_id"], edit_id)
            self.assertEqual(relations["m.thread"]["count"], 3)
            self.assertEqual(relations["m.thread"]["latest_event"]["event_id"], replies[-1])
            self.assertTrue(relations["m.thread"]["current_user_participated"])
            self.assertNotIn("m.annotation", relations)

            # The relations API lists the thread and the reactions.
            thread = [e.event_id async for e in bob.room_get_event_relations(
                room_id, root, RelationshipType.thread, limit=2)]
            self.assertEqual(thread, list(reversed(replies)))
            annotations = [e.source["sender"] async for e in bob.room_get_event_relations(
                room_id, root, RelationshipType.annotation)]
            self.assertEqual(sorted(annotations), sorted([ALICE, BOB]))

            # /messages carries the same bundle.
            resp = await bob.room_messages(room_id, start="", direction=MessageDirection.back, limit=50)
            self.assert_nio_ok(resp, RoomMessagesResponse, "bob pages back")
            root_in_timeline = next(source(e) for e in resp.chunk if source(e)["event_id"] == root)
            self.assertEqual(root_in_timeline["unsigned"]["m.relations"]["m.thread"]["count"], 3)

        self.run_scenario(scenario)

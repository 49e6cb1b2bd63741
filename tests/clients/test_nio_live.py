"""Live data through matrix-nio against the real server: typing and receipts arrive in the other
user's sync, presence changes are seen, and an ignored user's messages disappear."""

from __future__ import annotations

from nio import PresenceGetResponse, ReceiptEvent, SyncResponse, TypingNoticeEvent

from tests.clients.nio_support import OPEN_REGISTRATION, user_id
from tests.clients.test_nio_rooms import NioRoomsHelpers

ALICE, BOB = user_id("alice"), user_id("bob")


class NioLiveTest(NioRoomsHelpers):
    def test_typing_receipts_presence_and_ignoring(self):
        server = self.start_server(OPEN_REGISTRATION)

        async def scenario():
            alice = await self.register(server, "alice")
            bob = await self.register(server, "bob")
            room_id = await self.create_room(alice, invite=[BOB])
            await self.join(bob, room_id)
            start = await bob.sync(timeout=0)
            self.assert_nio_ok(start, SyncResponse, "bob's first sync")

            # Typing: alice types, bob's long-poll returns with it.
            await alice.room_typing(room_id, typing_state=True, timeout=20_000)
            resp = await bob.sync(timeout=10_000, since=start.next_batch)
            self.assert_nio_ok(resp, SyncResponse, "bob's sync with typing")
            typing = [e for e in resp.rooms.join[room_id].ephemeral if isinstance(e, TypingNoticeEvent)]
            self.assertEqual(typing[-1].users, [ALICE])

            # Receipts: bob reads alice's message; alice sees the receipt.
            sent = await self.send_text(alice, room_id, "did you read this?")
            mark = await alice.sync(timeout=0)
            await bob.update_receipt_marker(room_id, sent)
            resp = await alice.sync(timeout=10_000, since=mark.next_batch)
            self.assert_nio_ok(resp, SyncResponse, "alice's sync with the receipt")
            receipts = [r for e in resp.rooms.join[room_id].ephemeral if isinstance(e, ReceiptEvent)
                        for r in e.receipts]
            self.assertIn((sent, "m.read", BOB), [(r.event_id, r.receipt_type, r.user_id) for r in receipts])

            # Presence: bob goes unavailable with a message; alice sees it.
            await bob.set_presence("unavailable", "in a meeting")
            got = await alice.get_presence(BOB)
            self.assert_nio_ok(got, PresenceGetResponse, "alice reads bob's presence")
            self.assertEqual((got.presence, got.status_msg), ("unavailable", "in a meeting"))

            # Ignoring (nio has no helper for it: account data directly): her next message is not in his sync.
            resp = await bob.sync(timeout=0)
            status, _ = server.request("PUT", f"/_matrix/client/v3/user/{BOB}/account_data/m.ignored_user_list",
                                       {"ignored_users": {ALICE: {}}}, access_token=bob.access_token)
            self.assertEqual(status, 200)
            after_ignore = await bob.sync(timeout=0, since=resp.next_batch)
            await self.send_text(alice, room_id, "can you hear me?")
            later = await bob.sync(timeout=0, since=after_ignore.next_batch)
            self.assert_nio_ok(later, SyncResponse, "bob's sync after ignoring")
            room = later.rooms.join.get(room_id)
            bodies = [getattr(e, "body", None) for e in room.timeline.events] if room else []
            self.assertNotIn("can you hear me?", bodies)

        self.run_scenario(scenario)

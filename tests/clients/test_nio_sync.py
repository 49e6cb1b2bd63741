"""/sync through matrix-nio against the real server: an invite arrives, and a long-poll sync
returns the other user's message as soon as it is sent."""

from __future__ import annotations

import asyncio

from nio import InviteMemberEvent, RoomMessageText, SyncResponse

from tests.clients.nio_support import OPEN_REGISTRATION, user_id
from tests.clients.test_nio_rooms import NioRoomsHelpers

BOB = user_id("bob")


class NioSyncTest(NioRoomsHelpers):
    def test_invite_then_long_poll_message(self):
        server = self.start_server(OPEN_REGISTRATION)

        async def scenario():
            alice = await self.register(server, "alice")
            bob = await self.register(server, "bob")
            first = await bob.sync(timeout=0)
            self.assert_nio_ok(first, SyncResponse, "bob's first sync")
            room_id = await self.create_room(alice, invite=[BOB])

            invited = await bob.sync(timeout=10_000, since=first.next_batch)
            self.assert_nio_ok(invited, SyncResponse, "bob's sync with the invite")
            self.assertIn(room_id, invited.rooms.invite)
            self.assertTrue(any(isinstance(e, InviteMemberEvent) and e.state_key == BOB
                                for e in invited.rooms.invite[room_id].invite_state))
            self.assertIn(room_id, bob.invited_rooms)
            await self.join(bob, room_id)
            joined = await bob.sync(timeout=0, since=invited.next_batch)
            self.assert_nio_ok(joined, SyncResponse, "bob's sync after joining")
            self.assertIn(room_id, bob.rooms)
            self.assertEqual(bob.rooms[room_id].display_name, "Test room")

            # Bob waits; alice's message ends his wait long before the timeout.
            waiting = asyncio.ensure_future(bob.sync(timeout=30_000, since=joined.next_batch))
            await asyncio.sleep(0.5)
            self.assertFalse(waiting.done())
            sent = await self.send_text(alice, room_id, "are you there?")
            loop = asyncio.get_running_loop()
            started = loop.time()
            resp = await asyncio.wait_for(waiting, 10)
            self.assertLess(loop.time() - started, 5)
            self.assert_nio_ok(resp, SyncResponse, "bob's long poll")
            timeline = resp.rooms.join[room_id].timeline.events
            self.assertEqual([(e.event_id, e.body) for e in timeline if isinstance(e, RoomMessageText)],
                             [(sent, "are you there?")])

            # Alice's own sync echoes her transaction ID.
            mine = await alice.sync(timeout=0)
            self.assert_nio_ok(mine, SyncResponse, "alice's sync")
            echoed = [e for e in mine.rooms.join[room_id].timeline.events if e.event_id == sent]
            self.assertTrue(echoed and "transaction_id" in echoed[0].source["unsigned"])

        self.run_scenario(scenario)

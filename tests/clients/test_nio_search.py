"""Search through matrix-nio against the real server process: find another user in the user
directory, and a message by keyword with /search (nio has no helpers for either: its transport
sends the requests, its client does the registration, rooms, profiles and messages)."""

from __future__ import annotations

from nio import ProfileSetDisplayNameResponse

from tests.clients.nio_support import OPEN_REGISTRATION, user_id
from tests.clients.test_nio_rooms import NioRoomsHelpers

ALICE, BOB = user_id("alice"), user_id("bob")


class NioSearchTest(NioRoomsHelpers):
    def test_directory_and_message_search(self):
        server = self.start_server(OPEN_REGISTRATION)

        async def scenario():
            alice = await self.register(server, "alice")
            bob = await self.register(server, "bob")
            resp = await bob.set_displayname("Robert Paulson")
            self.assert_nio_ok(resp, ProfileSetDisplayNameResponse, "bob sets his name")

            # Nobody shares a room with alice yet: bob cannot be found.
            status, body = await self.raw(alice, "POST", "/_matrix/client/v3/user_directory/search",
                                          {"search_term": "paul"})
            self.assertEqual((status, body), (200, {"results": [], "limited": False}))

            room_id = await self.create_room(alice, invite=[BOB])
            await self.join(bob, room_id)
            status, body = await self.raw(alice, "POST", "/_matrix/client/v3/user_directory/search",
                                          {"search_term": "paul", "limit": 5})
            self.assertEqual(status, 200, body)
            self.assertEqual(body["results"], [{"user_id": BOB, "display_name": "Robert Paulson"}])
            self.assertFalse(body["limited"])

            sent = await self.send_text(alice, room_id, "The launch code is swordfish")
            await self.send_text(alice, room_id, "nothing to see here")
            status, body = await self.raw(bob, "POST", "/_matrix/client/v3/search", {
                "search_categories": {"room_events": {"search_term": "SWORDFISH", "order_by": "recent",
                                                      "event_context": {"before_limit": 1, "after_limit": 1}}}})
            self.assertEqual(status, 200, body)
            events = body["search_categories"]["room_events"]
            self.assertEqual(events["count"], 1)
            [result] = events["results"]
            self.assertEqual(result["result"]["event_id"], sent)
            self.assertEqual(result["result"]["content"]["body"], "The launch code is swordfish")
            self.assertEqual(result["context"]["events_after"][0]["content"]["body"], "nothing to see here")
            self.assertIn("swordfish", events["highlights"])

            # An unknown category is refused with the spec's error shape.
            status, body = await self.raw(bob, "POST", "/_matrix/client/v3/search",
                                          {"search_categories": {"people": {"search_term": "x"}}})
            self.assertEqual((status, body["errcode"]), (400, "M_INVALID_PARAM"))

        self.run_scenario(scenario)

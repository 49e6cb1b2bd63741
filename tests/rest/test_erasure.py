"""Account deactivation with `erase: true` (spec: client-server API, account deactivation): users
who join after the erasure see the user's events pruned; those who could see them before keep
the original; the user's profile and account data go."""

from urllib.parse import quote

from tests.rest.test_account import password_auth
from tests.rest.test_rooms import V3, RoomsTestCase


class ErasureTest(RoomsTestCase):
    async def _setup_room(self) -> None:
        self.alice = (await self.register("alice", password="pw"))["access_token"]
        self.bob = (await self.register("bob"))["access_token"]
        self.carol = (await self.register("carol"))["access_token"]
        self.dave = (await self.register("dave"))["access_token"]
        self.room = await self.create(self.bob, preset="public_chat")
        for token in (self.alice, self.carol):
            r = await self.post(f"{V3}/join/{quote(self.room)}", {}, token=token)
            self.assertEqual(r.code, 200, r.json)
        self.secret = await self.send(self.alice, self.room, "a secret", "t1")
        r = await self.request("PUT", f"{V3}/profile/@alice:test/displayname", {"displayname": "Alice A"},
                               token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        r = await self.request("PUT", f"{V3}/user/@alice:test/account_data/org.example", {"x": 1},
                               token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        # Carol leaves and dave joins after the message, both before the erasure: they saw it.
        r = await self.post(f"{V3}/rooms/{quote(self.room)}/leave", {}, token=self.carol)
        self.assertEqual(r.code, 200, r.json)
        r = await self.post(f"{V3}/join/{quote(self.room)}", {}, token=self.dave)
        self.assertEqual(r.code, 200, r.json)

    async def _deactivate(self, erase: bool) -> None:
        url = f"{V3}/account/deactivate"
        first = await self.post(url, {}, token=self.alice)
        r = await self.post(url, {"auth": password_auth(first.json["session"], "pw"), "erase": erase},
                            token=self.alice)
        self.assertEqual(r.code, 200, r.json)

    async def _late_joiner(self) -> str:
        eve = (await self.register("eve"))["access_token"]
        r = await self.post(f"{V3}/join/{quote(self.room)}", {}, token=eve)
        self.assertEqual(r.code, 200, r.json)
        return eve

    async def _seen(self, token: str) -> dict:
        """The secret message's content as each endpoint serves it to `token`'s user."""
        room = quote(self.room)
        seen = {}
        r = await self.get(f"{V3}/rooms/{room}/messages?dir=b&limit=50", token=token)
        seen["messages"] = next(e["content"] for e in r.json["chunk"] if e["event_id"] == self.secret)
        r = await self.get(f"{V3}/rooms/{room}/event/{quote(self.secret)}", token=token)
        seen["event"] = r.json["content"]
        r = await self.get(f"{V3}/rooms/{room}/context/{quote(self.secret)}", token=token)
        seen["context"] = r.json["event"]["content"]
        r = await self.get(f"{V3}/sync?filter=" + quote('{"room":{"timeline":{"limit":50}}}'), token=token)
        timeline = r.json["rooms"]["join"][self.room]["timeline"]["events"]
        seen["sync"] = next(e["content"] for e in timeline if e["event_id"] == self.secret)
        r = await self.post(f"{V3}/search", {"search_categories": {"room_events": {"search_term": "secret"}}},
                            token=token)
        seen["search"] = [x["result"]["event_id"] for x in r.json["search_categories"]["room_events"]["results"]]
        return seen

    async def test_later_joiners_see_erased_users_events_pruned(self) -> None:
        await self._setup_room()
        await self._deactivate(erase=True)
        eve = await self._late_joiner()
        pruned = await self._seen(eve)
        self.assertEqual(pruned, {"messages": {}, "event": {}, "context": {}, "sync": {}, "search": []})
        # Nor does the display name show through the prev_content of the erased user's later events.
        r = await self.get(f"{V3}/rooms/{quote(self.room)}/messages?dir=b&limit=50", token=eve)
        alice_member = [e for e in r.json["chunk"] if e["type"] == "m.room.member" and e["sender"] == "@alice:test"]
        self.assertTrue(alice_member)
        for event in alice_member:
            self.assertNotIn("displayname", event["content"])
            self.assertNotIn("displayname", event["unsigned"].get("prev_content", {}), event)
        r = await self.get(f"{V3}/rooms/{quote(self.room)}/members", token=eve)
        member = next(e for e in r.json["chunk"] if e["state_key"] == "@alice:test")
        self.assertNotIn("displayname", member["unsigned"].get("prev_content", {}), member)
        r = await self.get(f"{V3}/sync?filter=" + quote('{"room":{"timeline":{"limit":1}}}'), token=eve)
        state = r.json["rooms"]["join"][self.room]["state"]["events"]
        member = next(e for e in state if e.get("state_key") == "@alice:test")
        self.assertNotIn("displayname", member["unsigned"].get("prev_content", {}), member)
        original = {"msgtype": "m.text", "body": "a secret"}
        for token in (self.bob, self.dave):  # joined when it was sent; joined before the erasure
            self.assertEqual(await self._seen(token), {"messages": original, "event": original,
                                                       "context": original, "sync": original,
                                                       "search": [self.secret]})
        # Carol saw it and left before the erasure: when she rejoins she still may.
        r = await self.post(f"{V3}/join/{quote(self.room)}", {}, token=self.carol)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual((await self._seen(self.carol))["messages"], original)

    async def test_erasure_clears_profile_and_account_data(self) -> None:
        await self._setup_room()
        await self._deactivate(erase=True)
        r = await self.get(f"{V3}/profile/@alice:test", token=self.bob)
        self.assertNotIn("displayname", r.json or {})
        rows = await self.hs.database.execute("ad", "SELECT type FROM account_data WHERE user_id = ?", "@alice:test")
        self.assertEqual(rows, [])

    async def test_without_erase_nothing_is_pruned(self) -> None:
        await self._setup_room()
        await self._deactivate(erase=False)
        eve = await self._late_joiner()
        original = {"msgtype": "m.text", "body": "a secret"}
        seen = await self._seen(eve)
        self.assertEqual((seen["messages"], seen["event"], seen["search"]), (original, original, [self.secret]))
        r = await self.get(f"{V3}/profile/@alice:test", token=self.bob)
        self.assertEqual(r.json.get("displayname"), "Alice A")

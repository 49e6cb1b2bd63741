"""Relations: reactions, edits, threads, references; /relations, /threads, bundled aggregations."""

from urllib.parse import quote

from tests.rest.test_rooms import V3, RoomsTestCase

V1 = "/_matrix/client/v1"


class RelationsTest(RoomsTestCase):
    async def setup_room(self) -> None:
        await self.users()
        self.room_id = await self.create(self.alice, preset="public_chat")
        self.room = quote(self.room_id)
        await self.post(f"{V3}/rooms/{self.room}/join", {}, token=self.bob)
        self.txn = 0

    async def put(self, token: str, event_type: str, content: dict):
        self.txn += 1
        return await self.request("PUT", f"{V3}/rooms/{self.room}/send/{event_type}/x{self.txn}", content, token=token)

    async def message(self, token: str, body: str, **extra) -> str:
        r = await self.put(token, "m.room.message", {"msgtype": "m.text", "body": body, **extra})
        self.assertEqual(r.code, 200, r.json)
        return r.json["event_id"]

    async def event(self, event_id: str, token: str | None = None) -> dict:
        r = await self.get(f"{V3}/rooms/{self.room}/event/{quote(event_id)}", token=token or self.alice)
        self.assertEqual(r.code, 200, r.json)
        return r.json

    async def test_reactions_and_duplicates(self) -> None:
        await self.setup_room()
        root = await self.message(self.alice, "hello")
        react = {"m.relates_to": {"rel_type": "m.annotation", "event_id": root, "key": "👍"}}
        r = await self.put(self.bob, "m.reaction", react)
        self.assertEqual(r.code, 200)
        first = r.json["event_id"]
        await self.assert_rejected_without_change(
            "PUT", f"{V3}/rooms/{self.room}/send/m.reaction/dup", react, 400, "M_DUPLICATE_ANNOTATION",
            token=self.bob)
        self.assertEqual((await self.put(self.alice, "m.reaction", react)).code, 200)  # another sender
        other_key = {"m.relates_to": {"rel_type": "m.annotation", "event_id": root, "key": "🎉"}}
        self.assertEqual((await self.put(self.bob, "m.reaction", other_key)).code, 200)
        # Once redacted, the same reaction may be sent again.
        r = await self.request("PUT", f"{V3}/rooms/{self.room}/redact/{quote(first)}/r1", {}, token=self.bob)
        self.assertEqual(r.code, 200)
        self.assertEqual((await self.put(self.bob, "m.reaction", react)).code, 200)
        r = await self.get(f"{V1}/rooms/{self.room}/relations/{quote(root)}/m.annotation", token=self.bob)
        self.assertEqual(len(r.json["chunk"]), 3)
        # Annotations are not bundled.
        self.assertNotIn("m.relations", (await self.event(root))["unsigned"])

    async def test_edits_are_bundled_not_applied(self) -> None:
        await self.setup_room()
        root = await self.message(self.alice, "I like cake")
        edit = {"msgtype": "m.text", "body": "* I like pie", "m.new_content": {"msgtype": "m.text", "body": "I like pie"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": root}}
        self.advance(1)
        edit1 = (await self.put(self.alice, "m.room.message", edit)).json["event_id"]
        self.advance(1)
        edit2 = (await self.put(self.alice, "m.room.message", dict(edit, body="* I like tea"))).json["event_id"]
        # Bob's "edit" of Alice's message is not a valid replacement.
        self.advance(1)
        await self.put(self.bob, "m.room.message", dict(edit, body="* hacked"))
        ev = await self.event(root)
        self.assertEqual(ev["content"]["body"], "I like cake")  # content left intact
        self.assertEqual(ev["unsigned"]["m.relations"]["m.replace"]["event_id"], edit2)
        # Redacting the latest edit falls back to the previous one.
        await self.request("PUT", f"{V3}/rooms/{self.room}/redact/{quote(edit2)}/r1", {}, token=self.alice)
        ev = await self.event(root)
        self.assertEqual(ev["unsigned"]["m.relations"]["m.replace"]["event_id"], edit1)
        # Redacting the original: no edit bundled.
        await self.request("PUT", f"{V3}/rooms/{self.room}/redact/{quote(root)}/r2", {}, token=self.alice)
        ev = await self.event(root)
        self.assertEqual(ev["content"], {})
        self.assertNotIn("m.relations", ev["unsigned"])

    async def test_threads(self) -> None:
        await self.setup_room()
        root = await self.message(self.alice, "thread root")
        in_thread = {"m.relates_to": {"rel_type": "m.thread", "event_id": root}}
        replies = [await self.message(self.bob if i % 2 else self.alice, f"reply {i}", **in_thread) for i in range(3)]
        other_root = await self.message(self.alice, "other root")
        await self.message(self.alice, "lonely reply", **{"m.relates_to": {"rel_type": "m.thread", "event_id": other_root}})
        # The latest reply has an edit: it is bundled inside the thread summary's latest event.
        edit = {"msgtype": "m.text", "body": "* edited", "m.new_content": {"msgtype": "m.text", "body": "edited"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": replies[-1]}}
        edit_id = (await self.put(self.alice, "m.room.message", edit)).json["event_id"]

        thread = (await self.event(root, self.bob))["unsigned"]["m.relations"]["m.thread"]
        self.assertEqual(thread["count"], 3)
        self.assertTrue(thread["current_user_participated"])
        self.assertEqual(thread["latest_event"]["event_id"], replies[-1])
        self.assertEqual(thread["latest_event"]["unsigned"]["m.relations"]["m.replace"]["event_id"], edit_id)

        r = await self.get(f"{V1}/rooms/{self.room}/threads", token=self.bob)
        self.assertEqual([e["event_id"] for e in r.json["chunk"]], [other_root, root])
        r = await self.get(f"{V1}/rooms/{self.room}/threads?include=participated", token=self.bob)
        self.assertEqual([e["event_id"] for e in r.json["chunk"]], [root])
        r = await self.get(f"{V1}/rooms/{self.room}/threads?limit=1", token=self.bob)
        self.assertEqual(len(r.json["chunk"]), 1)
        r2 = await self.get(f"{V1}/rooms/{self.room}/threads?limit=1&from={r.json['next_batch']}", token=self.bob)
        self.assertEqual([e["event_id"] for e in r2.json["chunk"]], [root])

        # /relations pages through the thread.
        r = await self.get(f"{V1}/rooms/{self.room}/relations/{quote(root)}/m.thread?limit=2", token=self.bob)
        self.assertEqual([e["event_id"] for e in r.json["chunk"]], [replies[2], replies[1]])
        r2 = await self.get(f"{V1}/rooms/{self.room}/relations/{quote(root)}/m.thread?limit=2&from="
                            f"{r.json['next_batch']}", token=self.bob)
        self.assertEqual([e["event_id"] for e in r2.json["chunk"]], [replies[0]])
        self.assertNotIn("next_batch", r2.json)
        r = await self.get(f"{V1}/rooms/{self.room}/relations/{quote(root)}/m.thread/m.room.message?dir=f",
                           token=self.bob)
        self.assertEqual([e["event_id"] for e in r.json["chunk"]], replies)
        # With recurse, the edit of a reply counts too.
        r = await self.get(f"{V1}/rooms/{self.room}/relations/{quote(root)}?recurse=true", token=self.bob)
        self.assertIn(edit_id, [e["event_id"] for e in r.json["chunk"]])
        self.assertGreaterEqual(r.json["recursion_depth"], 2)

        # A thread cannot start from an event that has a relation.
        await self.assert_rejected_without_change(
            "PUT", f"{V3}/rooms/{self.room}/send/m.room.message/bad",
            {"body": "x", "m.relates_to": {"rel_type": "m.thread", "event_id": replies[0]}}, 400, "M_UNKNOWN",
            token=self.bob)

    async def test_references(self) -> None:
        await self.setup_room()
        root = await self.message(self.alice, "root")
        ref = await self.message(self.bob, "see above", **{"m.relates_to": {"rel_type": "m.reference", "event_id": root}})
        bundle = (await self.event(root))["unsigned"]["m.relations"]
        self.assertEqual(bundle["m.reference"], {"chunk": [{"event_id": ref}]})

    async def test_relations_need_visibility(self) -> None:
        await self.users()
        room_id = await self.create(self.alice)  # private: bob is not in it
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/m.room.message/t1", {"body": "x"},
                               token=self.alice)
        r = await self.get(f"{V1}/rooms/{quote(room_id)}/relations/{quote(r.json['event_id'])}", token=self.bob)
        self.assert_error(r, 404, "M_NOT_FOUND")
        r = await self.get(f"{V1}/rooms/{quote(room_id)}/threads", token=self.bob)
        self.assert_error(r, 403, "M_FORBIDDEN")

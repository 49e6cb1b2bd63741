"""POST /search (room_events): matching, keys, ordering, pagination, filters, groups, context,
state, and what must never be found (other rooms, invisible history, redacted events, ignored
users); the index is written with the event and rejected requests change nothing."""

from urllib.parse import quote

from tests.rest.test_rooms import V3, RoomsTestCase

SEARCH = f"{V3}/search"


class SearchTestCase(RoomsTestCase):
    async def setup_room(self) -> None:
        await self.users()
        self.room_id = await self.create(self.alice, preset="private_chat", invite=["@bob:test"],
                                         name="Martian Expedition", topic="Planning the trip to Mars")
        r = await self.post(f"{V3}/rooms/{quote(self.room_id)}/join", {}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)

    async def search(self, token: str, criteria: dict, next_batch: str | None = None) -> dict:
        path = SEARCH + (f"?next_batch={quote(next_batch)}" if next_batch else "")
        r = await self.post(path, {"search_categories": {"room_events": criteria}}, token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["search_categories"]["room_events"]

    async def found(self, token: str, term: str, **extra) -> list[str]:
        result = await self.search(token, {"search_term": term, **extra})
        return [r["result"]["event_id"] for r in result["results"]]


class MatchingTest(SearchTestCase):
    async def test_find_messages_names_and_topics(self) -> None:
        await self.setup_room()
        hello = await self.send(self.alice, self.room_id, "Hello Martians, we come in peace", "t1")
        await self.send(self.bob, self.room_id, "unrelated chatter", "t2")
        result = await self.search(self.bob, {"search_term": "martians"})
        self.assertEqual(result["count"], 2)  # the message and the room name (stemmed: martian)
        self.assertEqual({r["result"]["type"] for r in result["results"]}, {"m.room.message", "m.room.name"})
        self.assertIn("martians", result["highlights"])
        self.assertNotIn("next_batch", result)
        for r in result["results"]:
            self.assertIsInstance(r["rank"], float)
            self.assertEqual(r["result"]["room_id"], self.room_id)
        # Case-insensitive, every word must match, a word matches as a prefix.
        self.assertEqual(await self.found(self.bob, "PEACE hello", keys=["content.body"]), [hello])
        self.assertEqual(await self.found(self.bob, "hello war"), [])
        self.assertEqual(await self.found(self.bob, "pea", keys=["content.body"]), [hello])
        self.assertEqual(await self.found(self.bob, '"come in peace"'), [hello])
        self.assertEqual(await self.found(self.bob, '"peace in come"'), [])
        self.assertEqual(await self.found(self.bob, "martians -peace"), (await self.found(
            self.bob, "expedition")))
        # Keys: the name and the topic are found only under their keys.
        [name] = await self.found(self.bob, "expedition", keys=["content.name"])
        self.assertEqual(await self.found(self.bob, "expedition", keys=["content.body", "content.topic"]), [])
        self.assertEqual(len(await self.found(self.bob, "trip", keys=["content.topic"])), 1)
        self.assertNotEqual(name, hello)
        # Nothing to search for: nothing found.
        self.assertEqual(await self.search(self.bob, {"search_term": "  !! "}),
                         {"results": [], "count": 0, "highlights": []})

    async def test_rich_topic_and_unsearchable_events(self) -> None:
        await self.setup_room()
        r = await self.request("PUT", f"{V3}/rooms/{quote(self.room_id)}/state/m.room.topic/", {
            "topic": "plain words", "m.topic": {"m.text": [{"mimetype": "text/html", "body": "<b>bold</b>"},
                                                            {"body": "rich zebra"}]}}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(len(await self.found(self.bob, "zebra")), 1)
        self.assertEqual(await self.found(self.bob, "bold"), [])  # only the text/plain representation
        r = await self.request("PUT", f"{V3}/rooms/{quote(self.room_id)}/send/m.room.encrypted/e1",
                               {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "secretword",
                                "body": "secretword"}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.found(self.bob, "secretword"), [])  # encrypted events are not indexed

    async def test_index_is_written_with_the_event(self) -> None:
        await self.setup_room()
        event_id = await self.send(self.alice, self.room_id, "atomic write", "t1")
        rows = await self.hs.database.execute("search row", "SELECT room_id, sender, key FROM event_search "
                                              "WHERE event_id = ?", event_id)
        self.assertEqual(rows, [(self.room_id, "@alice:test", "content.body")])


class OrderAndPaginationTest(SearchTestCase):
    async def test_recent_pages_through_everything_once(self) -> None:
        await self.setup_room()
        sent = [await self.send(self.alice, self.room_id, f"needle number {i}", f"t{i}") for i in range(25)]
        seen: list[str] = []
        token = None
        pages = 0
        while True:
            result = await self.search(self.bob, {"search_term": "needle", "order_by": "recent",
                                                  "filter": {"limit": 10}}, token)
            pages += 1
            self.assertEqual(result["count"], 25)
            seen += [r["result"]["event_id"] for r in result["results"]]
            token = result.get("next_batch")
            if token is None:
                break
        self.assertEqual(seen, list(reversed(sent)))
        self.assertEqual(pages, 3)

    async def test_rank_pages_and_prefers_better_matches(self) -> None:
        await self.setup_room()
        best = await self.send(self.alice, self.room_id, "rocket rocket rocket", "best")
        for i in range(12):
            await self.send(self.alice, self.room_id, f"one rocket among many other words here {i}", f"t{i}")
        first = await self.search(self.bob, {"search_term": "rocket", "filter": {"limit": 5}})
        self.assertEqual(first["results"][0]["result"]["event_id"], best)
        ranks = [r["rank"] for r in first["results"]]
        self.assertEqual(ranks, sorted(ranks, reverse=True))
        seen = [r["result"]["event_id"] for r in first["results"]]
        token = first["next_batch"]
        while token:
            page = await self.search(self.bob, {"search_term": "rocket", "filter": {"limit": 5}}, token)
            seen += [r["result"]["event_id"] for r in page["results"]]
            token = page.get("next_batch")
        self.assertEqual(len(seen), 13)
        self.assertEqual(len(set(seen)), 13)

    async def test_invalid_next_batch(self) -> None:
        await self.setup_room()
        for i in range(3):
            await self.send(self.alice, self.room_id, f"pager {i}", f"t{i}")
        body = {"search_categories": {"room_events": {"search_term": "pager", "filter": {"limit": 1}}}}
        r = await self.post(SEARCH, body, token=self.bob)
        rank_token = r.json["search_categories"]["room_events"]["next_batch"]
        for bad in ("nonsense!", "e30", quote(rank_token) + "x"):
            await self.assert_rejected_without_change("POST", f"{SEARCH}?next_batch={bad}", body, 400,
                                                      "M_INVALID_PARAM", token=self.bob)
        # A rank token does not page a recent search.
        recent = {"search_categories": {"room_events": {"search_term": "pager", "order_by": "recent"}}}
        await self.assert_rejected_without_change("POST", f"{SEARCH}?next_batch={quote(rank_token)}", recent,
                                                  400, "M_INVALID_PARAM", token=self.bob)


class AccessTest(SearchTestCase):
    async def test_only_rooms_the_user_was_joined_to(self) -> None:
        await self.setup_room()
        carol = (await self.register("carol"))["access_token"]
        other = await self.create(self.alice, preset="private_chat")
        await self.send(self.alice, other, "secret plans", "s1")
        public = await self.create(self.alice, preset="public_chat")
        await self.send(self.alice, public, "secret public plans", "s2")
        self.assertEqual(await self.found(carol, "secret"), [])  # never joined either room
        self.assertEqual(await self.found(self.bob, "secret"), [])
        # Asking for a room one is not in finds nothing from it (no error: it is a filter).
        self.assertEqual(await self.found(self.bob, "secret", filter={"rooms": [other]}), [])
        self.assertEqual(len(await self.found(self.alice, "secret", filter={"rooms": [other]})), 1)
        self.assertEqual(len(await self.found(self.alice, "secret", filter={"not_rooms": [other]})), 1)

    async def test_left_rooms_until_leaving(self) -> None:
        await self.setup_room()
        before = await self.send(self.alice, self.room_id, "comet before", "t1")
        r = await self.post(f"{V3}/rooms/{quote(self.room_id)}/leave", {}, token=self.bob)
        self.assertEqual(r.code, 200)
        await self.send(self.alice, self.room_id, "comet after", "t2")
        self.assertEqual(await self.found(self.bob, "comet"), [before])
        self.assertEqual(len(await self.found(self.alice, "comet")), 2)
        # Forgetting the room removes it from searches.
        r = await self.post(f"{V3}/rooms/{quote(self.room_id)}/forget", {}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.found(self.bob, "comet"), [])

    async def test_history_visibility_joined(self) -> None:
        await self.users()
        room = await self.create(self.alice, preset="public_chat")
        r = await self.request("PUT", f"{V3}/rooms/{quote(room)}/state/m.room.history_visibility/",
                               {"history_visibility": "joined"}, token=self.alice)
        self.assertEqual(r.code, 200)
        await self.send(self.alice, room, "nebula early", "t1")
        await self.post(f"{V3}/rooms/{quote(room)}/join", {}, token=self.bob)
        late = await self.send(self.alice, room, "nebula late", "t2")
        self.assertEqual(await self.found(self.bob, "nebula"), [late])

    async def test_redacted_and_ignored(self) -> None:
        await self.setup_room()
        gone = await self.send(self.alice, self.room_id, "asteroid oops", "t1")
        kept = await self.send(self.bob, self.room_id, "asteroid fine", "t2")
        r = await self.request("PUT", f"{V3}/rooms/{quote(self.room_id)}/redact/{quote(gone)}/r1", {},
                               token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.found(self.alice, "asteroid"), [kept])
        self.assertEqual(await self.found(self.alice, "oops"), [])
        rows = await self.hs.database.execute("row", "SELECT 1 FROM event_search WHERE event_id = ?", gone)
        self.assertEqual(rows, [])
        r = await self.request("PUT", f"{V3}/user/@alice:test/account_data/m.ignored_user_list",
                               {"ignored_users": {"@bob:test": {}}}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.found(self.alice, "asteroid"), [])


class FiltersGroupsContextTest(SearchTestCase):
    async def test_filter_senders_and_types(self) -> None:
        await self.setup_room()
        a = await self.send(self.alice, self.room_id, "galaxy from alice", "t1")
        b = await self.send(self.bob, self.room_id, "galaxy from bob", "t2")
        self.assertEqual(await self.found(self.bob, "galaxy", filter={"senders": ["@alice:test"]}), [a])
        self.assertEqual(await self.found(self.bob, "galaxy", filter={"not_senders": ["@alice:test"]}), [b])
        self.assertEqual(await self.found(self.bob, "galaxy", filter={"types": ["m.room.name"]}), [])
        self.assertEqual(len(await self.found(self.bob, "galaxy", filter={"types": ["m.room.*"]})), 2)

    async def test_groups(self) -> None:
        await self.setup_room()
        second = await self.create(self.bob, preset="private_chat")
        for i in range(3):
            await self.send(self.alice, self.room_id, f"orbit {i}", f"a{i}")
            await self.send(self.bob, second, f"orbit {i}", f"b{i}")
        result = await self.search(self.bob, {"search_term": "orbit", "order_by": "recent", "filter": {"limit": 4},
                                              "groupings": {"group_by": [{"key": "room_id"}, {"key": "sender"}]}})
        ids = [r["result"]["event_id"] for r in result["results"]]
        rooms = result["groups"]["room_id"]
        self.assertEqual(set(rooms), {self.room_id, second})
        self.assertEqual(sorted(g["order"] for g in rooms.values()), [1, 2])
        self.assertEqual(sorted(rooms[self.room_id]["results"] + rooms[second]["results"]), sorted(ids))
        senders = result["groups"]["sender"]
        self.assertEqual(set(senders), {"@alice:test", "@bob:test"})
        # A group's next_batch pages within the group only.
        page = await self.search(self.bob, {"search_term": "orbit", "order_by": "recent",
                                            "groupings": {"group_by": [{"key": "room_id"}]}},
                                 rooms[second]["next_batch"])
        rest = [r["result"] for r in page["results"]]
        self.assertEqual({e["room_id"] for e in rest}, {second})
        self.assertEqual(len(rooms[second]["results"]) + len(rest), 3)

    async def test_event_context_and_state(self) -> None:
        await self.setup_room()
        await self.request("PUT", f"{V3}/profile/@bob:test/displayname", {"displayname": "Bobby"}, token=self.bob)
        before = await self.send(self.bob, self.room_id, "first", "t1")
        hit = await self.send(self.alice, self.room_id, "the quasar", "t2")
        after = [await self.send(self.bob, self.room_id, f"after {i}", f"t{i + 3}") for i in range(3)]
        result = await self.search(self.bob, {
            "search_term": "quasar", "include_state": True,
            "event_context": {"before_limit": 1, "after_limit": 2, "include_profile": True}})
        [item] = result["results"]
        self.assertEqual(item["result"]["event_id"], hit)
        context = item["context"]
        self.assertEqual([e["event_id"] for e in context["events_before"]], [before])
        self.assertEqual([e["event_id"] for e in context["events_after"]], after[:2])
        self.assertIsInstance(context["start"], str)
        self.assertIsInstance(context["end"], str)
        r = await self.get(f"{V3}/rooms/{quote(self.room_id)}/messages?dir=f&from={context['end']}&limit=5",
                           token=self.bob)
        self.assertEqual([e["event_id"] for e in r.json["chunk"]], after[2:])  # the end token continues
        self.assertEqual(context["profile_info"]["@bob:test"], {"displayname": "Bobby"})
        self.assertIn("@alice:test", context["profile_info"])
        state_types = {e["type"] for e in result["state"][self.room_id]}
        self.assertTrue({"m.room.create", "m.room.name", "m.room.member"} <= state_types)
        # Defaults: five each side, no profiles.
        result = await self.search(self.bob, {"search_term": "quasar", "event_context": {}})
        context = result["results"][0]["context"]
        self.assertEqual(len(context["events_after"]), 3)
        self.assertNotIn("profile_info", context)
        self.assertNotIn("state", result)


class ErrorsTest(SearchTestCase):
    async def test_bad_bodies(self) -> None:
        await self.setup_room()
        cases = [
            ({}, "M_MISSING_PARAM"),
            ({"search_categories": []}, "M_BAD_JSON"),
            ({"search_categories": {}}, "M_INVALID_PARAM"),
            ({"search_categories": {"rooms": {"search_term": "x"}}}, "M_INVALID_PARAM"),
            ({"search_categories": {"room_events": {}}}, "M_MISSING_PARAM"),
            ({"search_categories": {"room_events": {"search_term": 3}}}, "M_BAD_JSON"),
            ({"search_categories": {"room_events": {"search_term": "x", "keys": ["content.url"]}}},
             "M_INVALID_PARAM"),
            ({"search_categories": {"room_events": {"search_term": "x", "keys": "content.body"}}}, "M_BAD_JSON"),
            ({"search_categories": {"room_events": {"search_term": "x", "order_by": "oldest"}}}, "M_INVALID_PARAM"),
            ({"search_categories": {"room_events": {"search_term": "x", "filter": {"rooms": "!a:test"}}}},
             "M_BAD_JSON"),
            ({"search_categories": {"room_events": {"search_term": "x", "filter": {"limit": 0}}}},
             "M_INVALID_PARAM"),
            ({"search_categories": {"room_events": {"search_term": "x", "event_context": {"before_limit": -1}}}},
             "M_INVALID_PARAM"),
            ({"search_categories": {"room_events": {"search_term": "x", "include_state": "yes"}}}, "M_BAD_JSON"),
            ({"search_categories": {"room_events": {"search_term": "x",
                                                    "groupings": {"group_by": [{"key": "type"}]}}}},
             "M_INVALID_PARAM"),
        ]
        for body, errcode in cases:
            await self.assert_rejected_without_change("POST", SEARCH, body, 400, errcode, token=self.bob)
        await self.assert_rejected_without_change("POST", SEARCH, None, 400, "M_NOT_JSON", token=self.bob,
                                                  raw_body=b"not json")
        await self.assert_rejected_without_change(
            "POST", SEARCH, {"search_categories": {"room_events": {"search_term": "x"}}}, 401, "M_MISSING_TOKEN")


class MigrationBackfillTest(SearchTestCase):
    async def test_migration_indexes_existing_events(self) -> None:
        """The 014 migration indexes what a database already holds: run its backfill statements
        again over emptied tables and search."""
        from homeserver.storage.engines import sqlite_statements
        from homeserver.storage.prepare import migrations

        def code(statement: str) -> str:  # without its leading comment lines
            return "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--")).strip()

        await self.setup_room()
        kept = await self.send(self.alice, self.room_id, "backfilled pulsar", "t1")
        gone = await self.send(self.alice, self.room_id, "redacted pulsar", "t2")
        await self.request("PUT", f"{V3}/rooms/{quote(self.room_id)}/redact/{quote(gone)}/r1", {}, token=self.alice)
        [(_, _, sql)] = [m for m in migrations(self.hs.database.engine.name) if m[0] == 14]
        # (014 has no trigger or function: SQLite's tokenizer splits the PostgreSQL twin too)
        backfill = [code(s) for s in sqlite_statements(sql) if code(s).startswith("INSERT")]
        self.assertEqual(len(backfill), 4 if self.hs.database.engine.name == "sqlite3" else 3)

        def redo(txn) -> None:
            txn.execute("DELETE FROM event_search")
            if self.hs.database.engine.name == "sqlite3":
                txn.execute("DELETE FROM event_search_fts")
            txn.execute("DELETE FROM user_directory_rooms")
            txn.execute("DELETE FROM user_directory_rebuild")
            for statement in backfill:
                txn.execute_script(statement)

        await self.hs.database.run("redo backfill", redo)
        self.assertEqual(await self.found(self.bob, "pulsar"), [kept])
        self.assertEqual(len(await self.found(self.bob, "expedition")), 1)
        rooms = await self.hs.database.execute("rooms", "SELECT room_id, public_join FROM user_directory_rooms")
        self.assertEqual([(r, bool(p)) for r, p in rooms], [(self.room_id, False)])


class RankGroupsAndInvisibleTest(SearchTestCase):
    async def test_rank_group_token_after_first_page(self) -> None:
        await self.setup_room()
        second = await self.create(self.bob, preset="private_chat")
        for i in range(6):
            await self.send(self.alice, self.room_id, f"meteor shower {i}", f"a{i}")
            await self.send(self.bob, second, f"meteor {i}", f"b{i}")
        criteria = {"search_term": "meteor", "filter": {"limit": 4}, "groupings": {"group_by": [{"key": "room_id"}]}}
        first = await self.search(self.bob, criteria)
        page2 = await self.search(self.bob, criteria, first["next_batch"])
        seen = [r["result"] for r in first["results"] + page2["results"]]
        # Page on within a room's group from the second page: only that room's later results.
        for room_id, group in page2["groups"]["room_id"].items():
            token = group["next_batch"]
            rest: list[dict] = []
            while token:
                page = await self.search(self.bob, criteria, token)
                rest += [r["result"] for r in page["results"]]
                token = page.get("next_batch")
            self.assertEqual({e["room_id"] for e in rest} | {room_id}, {room_id})
            self.assertFalse({e["event_id"] for e in rest} & {e["event_id"] for e in seen})
            self.assertEqual(len([e for e in seen if e["room_id"] == room_id]) + len(rest), 6)

    async def test_many_invisible_matches_page_on(self) -> None:
        from homeserver.handlers import search as search_handler

        self.patch(search_handler, "MAX_ROWS_PER_REQUEST", 20)
        await self.users()
        room = await self.create(self.alice, preset="public_chat")
        await self.request("PUT", f"{V3}/rooms/{quote(room)}/state/m.room.history_visibility/",
                           {"history_visibility": "joined"}, token=self.alice)
        visible_before = None
        for i in range(50):
            await self.send(self.alice, room, f"hidden eclipse {i}", f"h{i}")
        await self.post(f"{V3}/rooms/{quote(room)}/join", {}, token=self.bob)
        visible_before = await self.send(self.alice, room, "seen eclipse", "v")
        result = await self.search(self.bob, {"search_term": "eclipse", "order_by": "recent"})
        self.assertEqual([r["result"]["event_id"] for r in result["results"]], [visible_before])
        # The index was not read to its end in one request: a next_batch, whose pages hold nothing visible.
        token = result.get("next_batch")
        self.assertIsNotNone(token)
        pages = 0
        while token and pages < 10:
            page = await self.search(self.bob, {"search_term": "eclipse", "order_by": "recent"}, token)
            self.assertEqual(page["results"], [])
            token = page.get("next_batch")
            pages += 1
        self.assertIsNone(token)

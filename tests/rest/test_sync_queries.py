"""The per-sync work a message does not change: how many database statements a sync woken by one
message in a room costs (the /sync fan-out: one message wakes every member's waiting sync), and
that the caches which keep it low are dropped where their data is written (a stale value shows)."""

from collections import Counter
from unittest import mock
from urllib.parse import quote

from twisted.internet import defer

from homeserver.storage.database import Transaction
from tests.rest.e2e_support import E2ETestCase
from tests.rest.test_rooms import V3

# What a woken sync of a room with one new message may still ask the database: the page of the
# timeline, the room's state before it, the new event's redactions and relations, the page that
# counts unread notifications. Was 18 before the per-sync sections with nothing to say were cut.
MAX_STATEMENTS_PER_WOKEN_SYNC = 5
# The second member woken by the same message finds the room's reads cached by the first (only
# the relations, read for each viewer, remain).
MAX_STATEMENTS_PER_NEXT_WOKEN_SYNC = 1


class SyncQueryCountTest(E2ETestCase):
    async def counted_sync(self, token: str, since: str) -> tuple[dict, Counter]:
        statements: Counter = Counter()
        real_execute = Transaction.execute

        def counting_execute(txn: Transaction, sql: str, args: tuple | list = ()) -> Transaction:
            statements[" ".join(sql.split()[:8])] += 1
            return real_execute(txn, sql, args)

        with mock.patch.object(Transaction, "execute", counting_execute):
            body = await self.sync(token, since)
        return body, statements

    async def join(self, token: str, room_id: str) -> None:
        r = await self.post(f"{V3}/join/{quote(room_id)}", {}, token=token)
        self.assertEqual(r.code, 200, r.json)

    async def test_message_wakes_syncs_with_few_statements(self) -> None:
        alice, _ = await self.account("alice")
        bob, bob_device = await self.account("bob")
        carol, _ = await self.account("carol")
        await self.upload(bob["access_token"], {"device_keys": bob_device.device_keys(),
                                                "one_time_keys": bob_device.one_time_keys(3),
                                                "fallback_keys": bob_device.fallback_key()})
        room_id = await self.create(alice["access_token"], preset="public_chat")
        await self.join(bob["access_token"], room_id)
        await self.join(carol["access_token"], room_id)
        tokens = {}
        for user in (bob, carol):
            first = await self.sync(user["access_token"])
            # A first incremental sync fills what each user's syncs keep (keys, ignored users...).
            tokens[user["user_id"]] = (await self.sync(user["access_token"], first["next_batch"]))["next_batch"]
        await self.send(alice["access_token"], room_id, "hello", "t1")
        await self.hs.push_actions_handler.drain()  # the notifications it records are not the syncs' work

        body, statements = await self.counted_sync(bob["access_token"], tokens[bob["user_id"]])
        self.assertEqual([e["content"]["body"] for e in body["rooms"]["join"][room_id]["timeline"]["events"]],
                         ["hello"])
        self.assertEqual(body["device_one_time_keys_count"], {"signed_curve25519": 3})
        self.assertEqual(body["device_unused_fallback_key_types"], ["signed_curve25519"])
        self.assertNotIn("device_lists", body)
        self.assertLessEqual(sum(statements.values()), MAX_STATEMENTS_PER_WOKEN_SYNC, statements)

        body, statements = await self.counted_sync(carol["access_token"], tokens[carol["user_id"]])
        self.assertEqual([e["content"]["body"] for e in body["rooms"]["join"][room_id]["timeline"]["events"]],
                         ["hello"])
        self.assertLessEqual(sum(statements.values()), MAX_STATEMENTS_PER_NEXT_WOKEN_SYNC, statements)

    async def test_key_counts_follow_upload_claim_and_device_deletion(self) -> None:
        alice, device = await self.account("alice")
        bob, _ = await self.account("bob")
        token = alice["access_token"]
        await self.upload(token, {"device_keys": device.device_keys(), "one_time_keys": device.one_time_keys(2),
                                  "fallback_keys": device.fallback_key()})
        sync = await self.sync(token)
        self.assertEqual(sync["device_one_time_keys_count"], {"signed_curve25519": 2})
        self.assertEqual(sync["device_unused_fallback_key_types"], ["signed_curve25519"])
        wanted = {"@alice:test": {device.device_id: "signed_curve25519"}}
        await self.claim(bob["access_token"], wanted)
        sync = await self.sync(token, sync["next_batch"])
        self.assertEqual(sync["device_one_time_keys_count"], {"signed_curve25519": 1})
        await self.upload(token, {"one_time_keys": device.one_time_keys(3, start=10)})
        sync = await self.sync(token, sync["next_batch"])
        self.assertEqual(sync["device_one_time_keys_count"], {"signed_curve25519": 4})
        for _ in range(5):  # four one-time keys, then the fallback key
            await self.claim(bob["access_token"], wanted)
        sync = await self.sync(token, sync["next_batch"])
        self.assertEqual(sync["device_one_time_keys_count"], {"signed_curve25519": 0})
        self.assertEqual(sync["device_unused_fallback_key_types"], [])
        await self.upload(token, {"fallback_keys": device.fallback_key("GGGG")})
        sync = await self.sync(token, sync["next_batch"])
        self.assertEqual(sync["device_unused_fallback_key_types"], ["signed_curve25519"])
        # The device goes with its keys; a new login with the same device ID starts from nothing.
        await self.upload(token, {"one_time_keys": device.one_time_keys(2, start=20)})
        self.assertEqual((await self.sync(token))["device_one_time_keys_count"], {"signed_curve25519": 2})
        r = await self.post(f"{V3}/logout", {}, token=token)
        self.assertEqual(r.code, 200, r.json)
        again = await self.login("alice", device_id=device.device_id)
        sync = await self.sync(again["access_token"])
        self.assertEqual(sync["device_one_time_keys_count"], {"signed_curve25519": 0})
        self.assertEqual(sync["device_unused_fallback_key_types"], [])

    async def test_ignoring_takes_effect_on_the_next_sync(self) -> None:
        alice, _ = await self.account("alice")
        bob, _ = await self.account("bob")
        room_id = await self.create(alice["access_token"], preset="public_chat")
        await self.join(bob["access_token"], room_id)
        since = (await self.sync(bob["access_token"]))["next_batch"]
        since = (await self.sync(bob["access_token"], since))["next_batch"]  # nobody ignored: remembered
        path = f"{V3}/user/{quote(bob['user_id'])}/account_data/m.ignored_user_list"
        r = await self.request("PUT", path, {"ignored_users": {alice["user_id"]: {}}}, token=bob["access_token"])
        self.assertEqual(r.code, 200, r.json)
        since = (await self.sync(bob["access_token"], since))["next_batch"]
        await self.send(alice["access_token"], room_id, "hidden", "t1")
        await self.send(bob["access_token"], room_id, "shown", "t2")
        sync = await self.sync(bob["access_token"], since)
        self.assertEqual([e["content"]["body"] for e in sync["rooms"]["join"][room_id]["timeline"]["events"]],
                         ["shown"])
        r = await self.request("PUT", path, {"ignored_users": {}}, token=bob["access_token"])
        self.assertEqual(r.code, 200, r.json)
        since = (await self.sync(bob["access_token"], sync["next_batch"]))["next_batch"]
        await self.send(alice["access_token"], room_id, "seen again", "t3")
        sync = await self.sync(bob["access_token"], since)
        self.assertEqual([e["content"]["body"] for e in sync["rooms"]["join"][room_id]["timeline"]["events"]],
                         ["seen again"])

    async def test_membership_after_messages_still_reaches_device_lists(self) -> None:
        alice, _ = await self.account("alice")
        bob, _ = await self.account("bob")
        carol, _ = await self.account("carol")
        room_id = await self.create(alice["access_token"], preset="public_chat")
        await self.join(bob["access_token"], room_id)
        since = (await self.sync(bob["access_token"]))["next_batch"]
        await self.send(alice["access_token"], room_id, "only a message", "t1")
        sync = await self.sync(bob["access_token"], since)
        self.assertNotIn("device_lists", sync)
        await self.join(carol["access_token"], room_id)
        await self.send(alice["access_token"], room_id, "and another", "t2")
        sync = await self.sync(bob["access_token"], sync["next_batch"])
        self.assertEqual(sync["device_lists"]["changed"], [carol["user_id"]])
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/leave", {}, token=carol["access_token"])
        self.assertEqual(r.code, 200, r.json)
        sync = await self.sync(bob["access_token"], sync["next_batch"])
        self.assertEqual(sync["device_lists"]["left"], [carol["user_id"]])

    async def test_a_join_is_read_once_for_device_lists_and_presence(self) -> None:
        alice, _ = await self.account("alice")
        bob, _ = await self.account("bob")
        room_id = await self.create(alice["access_token"], preset="public_chat")
        since = (await self.sync(alice["access_token"]))["next_batch"]
        since = (await self.sync(alice["access_token"], since))["next_batch"]
        await self.sync(bob["access_token"])  # bob comes online
        await self.join(bob["access_token"], room_id)
        sync, statements = await self.counted_sync(alice["access_token"], since)
        self.assertEqual(sync["device_lists"]["changed"], [bob["user_id"]])
        self.assertIn(bob["user_id"], [e["sender"] for e in sync["presence"]["events"]])
        reads = sum(n for sql, n in statements.items()
                    if sql.startswith("SELECT room_id, membership FROM room_memberships"))
        self.assertEqual(reads, 1, statements)

    async def test_unread_counts_follow_read_receipts(self) -> None:
        alice, _ = await self.account("alice")
        bob, _ = await self.account("bob")
        room_id = await self.create(alice["access_token"], preset="public_chat")
        await self.join(bob["access_token"], room_id)
        since = (await self.sync(bob["access_token"]))["next_batch"]
        last = None
        for i in range(3):
            last = await self.send(alice["access_token"], room_id, f"m{i}", f"t{i}")
        sync = await self.sync(bob["access_token"], since)
        self.assertEqual(sync["rooms"]["join"][room_id]["unread_notifications"]["notification_count"], 3)
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/receipt/m.read/{quote(last)}", {},
                            token=bob["access_token"])
        self.assertEqual(r.code, 200, r.json)
        sync = await self.sync(bob["access_token"], sync["next_batch"])
        self.assertEqual(sync["rooms"]["join"][room_id]["unread_notifications"]["notification_count"], 0)

    async def test_reads_of_settled_positions_are_shared_and_later_ones_are_not_kept(self) -> None:
        alice, _ = await self.account("alice")
        room_id = await self.create(alice["access_token"], preset="public_chat")
        first = await self.send(alice["access_token"], room_id, "one", "t1")
        events = self.hs.events_store
        now = events.stream.current
        statements: Counter = Counter()
        real_execute = Transaction.execute

        def counting_execute(txn: Transaction, sql: str, args: tuple | list = ()) -> Transaction:
            statements[sql.split()[0]] += 1
            return real_execute(txn, sql, args)

        with mock.patch.object(Transaction, "execute", counting_execute):
            pages = await defer.gatherResults([defer.ensureDeferred(events.paginate_room_events(room_id, now, True, 5))
                                               for _ in range(10)])
            at = await defer.gatherResults([defer.ensureDeferred(events.get_event_at_position(room_id, now))
                                            for _ in range(10)])
        self.assertEqual(statements["SELECT"], 2)  # one for the ten pages, one for the ten lookups
        self.assertEqual({tuple(p) for p in pages}, {tuple(pages[0])})
        self.assertEqual(pages[0][0], (first, now))
        self.assertEqual(set(at), {first})
        # Positions past the stream's end are not settled: what is written there later shows.
        ahead = now + 10
        self.assertEqual((await events.paginate_room_events(room_id, ahead, True, 1))[0][0], first)
        self.assertEqual(await events.get_event_at_position(room_id, ahead), first)
        second = await self.send(alice["access_token"], room_id, "two", "t2")
        self.assertEqual((await events.paginate_room_events(room_id, ahead, True, 1))[0][0], second)
        self.assertEqual(await events.get_event_at_position(room_id, ahead), second)

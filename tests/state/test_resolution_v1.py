"""State resolution for room version 1 (spec: content/rooms/v1.md, "State resolution"), on small
hand-built forks (the in-memory room and stand-in auth rules of test_resolution)."""

from __future__ import annotations

import hashlib

from twisted.trial import unittest

from tests.state.test_resolution import ALICE, BOB, CHARLIE, PL, TOPIC, Room, base_room, member, put


def at_depth(room: Room, event_id: str, depth: int) -> str:
    room.events[event_id].pdu["depth"] = depth
    return event_id


def sha1(event_id: str) -> bytes:
    return hashlib.sha1(event_id.encode()).digest()


class ResolutionV1Test(unittest.TestCase):
    def room(self) -> tuple[Room, dict]:
        return base_room("1")

    async def test_no_conflict(self) -> None:
        room, state = self.room()
        self.assertEqual(await room.resolve(state, dict(state)), state)

    async def test_other_conflicts_take_the_deepest_allowed_event(self) -> None:
        room, state = self.room()
        at_depth(room, room.add("$t_deep", "m.room.topic", ALICE, {"topic": "deep"}, "", ("$create", "$pl"), ts=1), 9)
        at_depth(room, room.add("$t_new", "m.room.topic", ALICE, {"topic": "new"}, "", ("$create", "$pl"), ts=99), 8)
        resolved = await room.resolve(put(room, state, "$t_deep"), put(room, state, "$t_new"))
        self.assertEqual(resolved[TOPIC], "$t_deep")  # depth, not timestamp
        # charlie (level 0) may not set the topic in R: the deepest event is passed over.
        at_depth(room, room.add("$t_charlie", "m.room.topic", CHARLIE, {"topic": "c"}, "", ("$create", "$pl"),
                                ts=2), 20)
        resolved = await room.resolve(put(room, state, "$t_deep"), put(room, state, "$t_charlie"))
        self.assertEqual(resolved[TOPIC], "$t_deep")

    async def test_equal_depth_takes_the_lowest_sha1(self) -> None:
        room, state = self.room()
        ids = ["$ta", "$tb", "$tc"]
        for event_id in ids:
            at_depth(room, room.add(event_id, "m.room.topic", ALICE, {"topic": event_id}, "", ("$create", "$pl")), 9)
        resolved = await room.resolve(*(put(room, state, i) for i in ids))
        self.assertEqual(resolved[TOPIC], min(ids, key=sha1))

    async def test_power_levels_walked_oldest_first(self) -> None:
        room, state = self.room()
        at_depth(room, room.add("$pl_a", "m.room.power_levels", ALICE, {"users": {ALICE: 100, BOB: 50, CHARLIE: 10}},
                                "", ("$create", "$pl", "$alice")), 10)
        # bob raises charlie to 50 (allowed after $pl_a): applied on top of it.
        at_depth(room, room.add("$pl_b", "m.room.power_levels", BOB, {"users": {ALICE: 100, BOB: 50, CHARLIE: 50}},
                                "", ("$create", "$pl", "$bob")), 11)
        resolved = await room.resolve(put(room, state, "$pl_a"), put(room, state, "$pl_b"))
        self.assertEqual(resolved[PL], "$pl_b")
        # bob demoting alice is refused: the walk stops at the older, allowed event.
        at_depth(room, room.add("$pl_c", "m.room.power_levels", BOB, {"users": {ALICE: 0, BOB: 50}},
                                "", ("$create", "$pl", "$bob")), 12)
        resolved = await room.resolve(put(room, state, "$pl_a"), put(room, state, "$pl_c"))
        self.assertEqual(resolved[PL], "$pl_a")

    async def test_membership_conflicts_resolved_after_power_levels(self) -> None:
        room, state = self.room()
        # alice bans charlie at depth 10; on the other fork charlie leaves at depth 11: after the
        # ban, charlie may not leave, so the ban stands.
        at_depth(room, room.add("$ban", "m.room.member", ALICE, {"membership": "ban"}, CHARLIE,
                                ("$create", "$pl", "$alice", "$charlie")), 10)
        at_depth(room, room.add("$leave", "m.room.member", CHARLIE, {"membership": "leave"}, CHARLIE,
                                ("$create", "$pl", "$charlie")), 11)
        resolved = await room.resolve(put(room, state, "$ban"), put(room, state, "$leave"))
        self.assertEqual(resolved[member(CHARLIE)], "$ban")
        self.assertEqual(resolved[member(BOB)], state[member(BOB)])  # unconflicted, untouched

"""State resolution v2 / v2.1 (homeserver.state.resolution) on small hand-built auth DAGs.

Spec: content/rooms/fragments/v2-state-res.md and content/rooms/v12.md "State resolution". Most
tests use a small stand-in for the authorisation rules (`stand_in_check_auth`, below) so that they
do not depend on homeserver.events.auth; `RealAuthRulesTest` runs a few with the real rules.
"""

from __future__ import annotations

import math
import random
from typing import Any

from twisted.trial import unittest

from homeserver.events.model import Event
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.state.resolution import (
    CheckAuth,
    StateKey,
    _Resolver,
    is_power_event,
    resolve_state,
    sender_power_level,
    split_state,
    topological_order,
)

CREATE: StateKey = ("m.room.create", "")
PL: StateKey = ("m.room.power_levels", "")
JR: StateKey = ("m.room.join_rules", "")
TOPIC: StateKey = ("m.room.topic", "")
ALICE, BOB, CHARLIE, DAVE = "@alice:a", "@bob:b", "@charlie:c", "@dave:d"


def member(user: str) -> StateKey:
    return "m.room.member", user


# -- a stand-in for the authorisation rules (a simplified subset, enough for these DAGs) ----------


class StandInAuthError(Exception):
    pass


def _level(user: str, auth: dict[StateKey, Event]) -> float:
    create = auth.get(CREATE)
    if create is not None and create.room_version.privileged_creators and user == create.sender:
        return math.inf
    pl = auth.get(PL)
    if pl is not None:
        return pl.content.get("users", {}).get(user, pl.content.get("users_default", 0))
    return 100 if create is not None and user == create.sender else 0


def _membership(user: str, auth: dict[StateKey, Event]) -> str | None:
    event = auth.get(member(user))
    return event.content.get("membership") if event is not None else None


def stand_in_check_auth(event: Event, auth: dict[StateKey, Event]) -> None:
    def deny(why: str) -> None:
        raise StandInAuthError(f"{event.event_id}: {why}")

    if event.type == "m.room.create":
        return
    create = auth.get(CREATE)
    if create is None:
        deny("no create event")
    pl = auth.get(PL)
    levels: dict[str, Any] = pl.content if pl is not None else {}
    sender_level = _level(event.sender, auth)
    if event.type == "m.room.member":
        target, membership = event.state_key, event.content.get("membership")
        assert target is not None
        if membership == "join":
            if event.sender != target:
                deny("join for someone else")
            if target == create.sender and pl is None and _membership(target, auth) is None:
                return  # the creator's first join
            if _membership(target, auth) == "ban":
                deny("banned")
            rule = auth[JR].content.get("join_rule") if JR in auth else "invite"
            if rule == "public" or _membership(target, auth) in ("invite", "join"):
                return
            deny(f"join rule {rule}")
        if event.sender == target and membership == "leave":
            if _membership(target, auth) not in ("invite", "join", "knock"):
                deny("leave without being in the room")
            return
        if _membership(event.sender, auth) != "join":
            deny("sender not joined")
        if membership == "ban":
            if sender_level < levels.get("ban", 50) or _level(target, auth) >= sender_level:
                deny("may not ban")
            return
        if membership == "leave":
            if _membership(target, auth) == "ban" and sender_level < levels.get("ban", 50):
                deny("may not unban")
            if sender_level < levels.get("kick", 50) or _level(target, auth) >= sender_level:
                deny("may not kick")
            return
        deny(f"membership {membership} not handled by the stand-in")
    if _membership(event.sender, auth) != "join":
        deny("sender not joined")
    default = levels.get("state_default", 50 if pl is not None else 0) if event.is_state() else 0
    if sender_level < levels.get("events", {}).get(event.type, default):
        deny("power level too low")
    if event.type == "m.room.power_levels" and pl is not None:
        old, new = pl.content.get("users", {}), event.content.get("users", {})
        for user in set(old) | set(new):
            if old.get(user) == new.get(user):
                continue
            if user != event.sender and user in old and old[user] >= sender_level:
                deny(f"may not change {user}")
            if user in new and new[user] > sender_level:
                deny(f"may not raise {user} above own level")


# -- an in-memory room and store ------------------------------------------------------------------


class Room:
    """Events made by hand. `auth` lists the auth events as in rooms 1-11 (create included); in
    room 12 the create event is left out of them and named by the room ID instead."""

    def __init__(self, version: str, check: CheckAuth = stand_in_check_auth):
        self.rv = KNOWN_ROOM_VERSIONS[version]
        self.check = check
        self.events: dict[str, Event] = {}
        self.room_id = "!room:a"
        self.fetched: list[list[str]] = []
        self.checked: list[str] = []

    def add(self, event_id: str, type_: str, sender: str, content: dict[str, Any], state_key: str = "",
            auth: tuple[str, ...] = (), ts: int = 0, prev: tuple[str, ...] = ()) -> str:
        v12 = self.rv.room_id_from_create_event
        pdu: dict[str, Any] = {
            "type": type_, "sender": sender, "content": content, "state_key": state_key,
            "origin_server_ts": ts, "depth": 1, "prev_events": list(prev),
            "auth_events": [a for a in auth if not (v12 and self.events[a].type == "m.room.create")],
        }
        if type_ == "m.room.create":
            if v12:
                self.room_id = "!" + event_id[1:]
            else:
                pdu["room_id"] = self.room_id
                content.setdefault("room_version", self.rv.identifier)
        else:
            pdu["room_id"] = self.room_id
        self.events[event_id] = Event(pdu, self.rv, event_id)
        return event_id

    async def fetch_events(self, ids: list[str]) -> dict[str, Event]:
        self.fetched.append(list(ids))
        return {i: self.events[i] for i in ids if i in self.events}

    async def fetch_auth_chain_ids(self, ids: list[str]) -> set[str]:
        chain: set[str] = set()
        todo = [a for i in ids if i in self.events for a in self.events[i].auth_event_ids]
        while todo:
            event_id = todo.pop()
            if event_id not in chain:
                chain.add(event_id)
                todo.extend(self.events[event_id].auth_event_ids)
        return chain

    def checked_among(self, *event_ids: str) -> list[str]:
        """The order in which the given events went through the iterative auth checks."""
        return [i for i in self.checked if i in event_ids]

    def recording(self, check: CheckAuth) -> CheckAuth:
        def check_and_record(event: Event, auth: dict[StateKey, Event]) -> None:
            self.checked.append(event.event_id)
            check(event, auth)
        return check_and_record

    async def resolve(self, *state_sets: dict[StateKey, str]) -> dict[StateKey, str]:
        return await resolve_state(self.rv, list(state_sets), self.fetch_events, self.fetch_auth_chain_ids,
                                   check_auth=self.recording(self.check))


def base_room(version: str = "11", check: CheckAuth = stand_in_check_auth) -> tuple[Room, dict[StateKey, str]]:
    """alice creates a public room (alice 100, bob 50, charlie 0); bob and charlie join. Returns the
    room and its state. In room 12 alice, the creator, is left out of `users` (rule 10.4)."""
    room = Room(version, check)
    users = {BOB: 50} if room.rv.privileged_creators else {ALICE: 100, BOB: 50}
    c = room.add("$create", "m.room.create", ALICE, {}, ts=1)
    a = room.add("$alice", "m.room.member", ALICE, {"membership": "join"}, ALICE, (c,), 2, prev=(c,))
    p = room.add("$pl", "m.room.power_levels", ALICE, {"users": users}, "", (c, a), 3)
    j = room.add("$jr", "m.room.join_rules", ALICE, {"join_rule": "public"}, "", (c, a, p), 4)
    b = room.add("$bob", "m.room.member", BOB, {"membership": "join"}, BOB, (c, p, j), 5)
    ch = room.add("$charlie", "m.room.member", CHARLIE, {"membership": "join"}, CHARLIE, (c, p, j), 6)
    state = {CREATE: c, member(ALICE): a, PL: p, JR: j, member(BOB): b, member(CHARLIE): ch}
    return room, state


def put(room: Room, state: dict[StateKey, str], *event_ids: str) -> dict[StateKey, str]:
    new = dict(state)
    for event_id in event_ids:
        new[room.events[event_id].state_tuple] = event_id
    return new


# -- the tests --------------------------------------------------------------------------------------


class DefinitionsTest(unittest.TestCase):
    def test_split_state(self) -> None:
        s1 = {CREATE: "$c", TOPIC: "$t1", PL: "$p"}
        s2 = {CREATE: "$c", TOPIC: "$t2"}
        unconflicted, conflicted = split_state([s1, s2])
        self.assertEqual(unconflicted, {CREATE: "$c"})
        # A key missing from one state set is conflicted too.
        self.assertEqual(conflicted, {"$t1", "$t2", "$p"})

    def test_power_events(self) -> None:
        room, _ = base_room()
        room.add("$kick", "m.room.member", ALICE, {"membership": "leave"}, BOB, ("$create",))
        room.add("$left", "m.room.member", BOB, {"membership": "leave"}, BOB, ("$create",))
        room.add("$topic", "m.room.topic", ALICE, {"topic": "x"}, "", ("$create",))
        power = {i for i, e in room.events.items() if is_power_event(e)}
        self.assertEqual(power, {"$pl", "$jr", "$kick"})

    def test_sender_power_level(self) -> None:
        room, _ = base_room()
        auth = {CREATE: room.events["$create"], PL: room.events["$pl"]}
        self.assertEqual(sender_power_level(room.events["$bob"], auth, room.rv), 50)
        self.assertEqual(sender_power_level(room.events["$charlie"], auth, room.rv), 0)
        # Without power levels the creator has 100; in room 12 the creators are infinitely powerful.
        self.assertEqual(sender_power_level(room.events["$alice"], {CREATE: room.events["$create"]}, room.rv), 100)
        room12, _ = base_room("12")
        auth12 = {CREATE: room12.events["$create"], PL: room12.events["$pl"]}
        self.assertEqual(sender_power_level(room12.events["$alice"], auth12, room12.rv), math.inf)

    def test_topological_order_uses_key_among_ready_nodes(self) -> None:
        # d depends on b and c, which both depend on a; c sorts before b, and e is independent.
        parents = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": []}
        keys = {"a": 5, "b": 2, "c": 1, "d": 0, "e": 3}
        order = topological_order(parents.keys(), lambda n: parents[n], lambda n: keys[n])
        self.assertEqual(order, ["e", "a", "c", "b", "d"])


def random_room(seed: int, version: str, size: int = 40) -> tuple[Room, list[dict[StateKey, str]]]:
    """A random auth DAG (each event cites a few earlier ones) and three state sets over it, each a
    common base with a few random changes."""
    rng = random.Random(seed)
    room = Room(version)
    ids = [room.add("$e00", "m.room.create", ALICE, {})]
    for n in range(1, size):
        auth = tuple(sorted(set(rng.sample(ids, min(len(ids), rng.randint(1, 3))))))
        ids.append(room.add(f"$e{n:02}", "m.custom", ALICE, {}, f"k{rng.randint(0, 7)}", auth, n))
    base = {room.events[i].state_tuple: i for i in sorted(rng.sample(ids, 12))}
    sets = [{**base, **{room.events[i].state_tuple: i for i in sorted(rng.sample(ids, 3))}} for _ in range(3)]
    return room, sets


class DefinitionsOnRandomDagsTest(unittest.TestCase):
    """The shortcuts taken for the auth difference and the conflicted state subgraph against the
    definitions computed naively."""

    async def test_auth_difference(self) -> None:
        for seed in range(30):
            room, sets = random_room(seed, "11")
            chains = [await room.fetch_auth_chain_ids(sorted(s.values())) for s in sets]
            naive = set().union(*chains) - set.intersection(*chains)
            resolver = _Resolver(room.rv, room.fetch_events, room.fetch_auth_chain_ids, stand_in_check_auth)
            self.assertEqual(await resolver._auth_difference(sets, split_state(sets)[0]), naive, seed)

    async def test_conflicted_state_subgraph(self) -> None:
        for seed in range(30):
            room, sets = random_room(seed, "12")
            conflicted = split_state(sets)[1]
            below = {i: await room.fetch_auth_chain_ids([i]) | {i} for i in room.events}  # reachable, >= 0 edges
            naive = {v for v in room.events
                     if any(v in below[c1] for c1 in conflicted) and any(c2 in below[v] for c2 in conflicted)}
            resolver = _Resolver(room.rv, room.fetch_events, room.fetch_auth_chain_ids, stand_in_check_auth)
            self.assertEqual(await resolver._conflicted_subgraph(conflicted), naive, seed)


    async def test_resolution_does_not_depend_on_state_set_order(self) -> None:
        def every_third_denied(event: Event, auth: dict[StateKey, Event]) -> None:
            if int(event.event_id[2:]) % 3 == 0:
                raise StandInAuthError("denied")

        for version in ("11", "12"):
            for seed in range(15):
                room, sets = random_room(seed, version)
                room.check = every_third_denied
                resolved = await room.resolve(*sets)
                self.assertEqual(await room.resolve(*reversed(sets)), resolved, seed)
                self.assertEqual(await room.resolve(sets[1], sets[0], sets[2]), resolved, seed)
                unconflicted = split_state(sets)[0]
                self.assertEqual({k: resolved[k] for k in unconflicted}, unconflicted)  # step 5


class ResolutionV2Test(unittest.TestCase):
    """Room 11 (state resolution v2)."""

    check: CheckAuth = staticmethod(stand_in_check_auth)

    def base_room(self, version: str = "11") -> tuple[Room, dict[StateKey, str]]:
        return base_room(version, self.check)

    async def test_no_conflict(self) -> None:
        room, state = self.base_room()
        self.assertEqual(await room.resolve(state, dict(state)), state)
        self.assertEqual(await room.resolve(state), state)
        self.assertEqual(room.fetched, [])  # nothing to resolve, nothing fetched

    async def test_simple_conflicting_topic(self) -> None:
        room, state = self.base_room()
        room.add("$t_alice", "m.room.topic", ALICE, {"topic": "a"}, "", ("$create", "$pl", "$alice"), 10)
        room.add("$t_bob", "m.room.topic", BOB, {"topic": "b"}, "", ("$create", "$pl", "$bob"), 11)
        resolved = await room.resolve(put(room, state, "$t_alice"), put(room, state, "$t_bob"))
        # Same mainline position: the later timestamp is applied last and wins.
        self.assertEqual(resolved, put(room, state, "$t_bob"))
        self.assertEqual(room.checked_among("$t_alice", "$t_bob"), ["$t_alice", "$t_bob"])
        # bob's join is unconflicted but in the auth difference: only $t_bob's side cites it.
        self.assertIn("$bob", room.checked)

    async def test_ban_beats_power_levels_change_by_the_banned_user(self) -> None:
        room, state = self.base_room()
        # alice bans bob on one fork; bob (50) raises charlie to 50 on the other.
        room.add("$ban", "m.room.member", ALICE, {"membership": "ban"}, BOB, ("$create", "$pl", "$alice", "$bob"), 10)
        room.add("$pl2", "m.room.power_levels", BOB, {"users": {ALICE: 100, BOB: 50, CHARLIE: 50}}, "",
                 ("$create", "$pl", "$bob"), 11)
        resolved = await room.resolve(put(room, state, "$ban"), put(room, state, "$pl2"))
        # Both are power events; alice has more power, so her ban is checked first and bob, no
        # longer joined, cannot change the power levels. ($pl and $bob are conflicted too and come
        # first, being auth events of both.)
        self.assertEqual(room.checked, ["$pl", "$bob", "$ban", "$pl2"])
        self.assertEqual(resolved, put(room, state, "$ban"))

    async def test_demotion_beats_ban_by_the_demoted_user(self) -> None:
        room, state = self.base_room()
        room.add("$demote", "m.room.power_levels", ALICE, {"users": {ALICE: 100, BOB: 0}}, "",
                 ("$create", "$pl", "$alice"), 10)
        room.add("$ban", "m.room.member", BOB, {"membership": "ban"}, CHARLIE,
                 ("$create", "$pl", "$bob", "$charlie"), 9)
        resolved = await room.resolve(put(room, state, "$demote"), put(room, state, "$ban"))
        # alice's demotion comes first although later in time; bob's ban then fails (0 < 50).
        self.assertEqual(room.checked_among("$demote", "$ban"), ["$demote", "$ban"])
        self.assertEqual(resolved, put(room, state, "$demote"))

    async def test_topic_reset_by_power_levels_change(self) -> None:
        room, state = self.base_room()
        room.add("$t0", "m.room.topic", ALICE, {"topic": "old"}, "", ("$create", "$pl", "$alice"), 7)
        state = put(room, state, "$t0")
        room.add("$demote", "m.room.power_levels", ALICE, {"users": {ALICE: 100, BOB: 0}}, "",
                 ("$create", "$pl", "$alice"), 10)
        room.add("$t_bob", "m.room.topic", BOB, {"topic": "bob's"}, "", ("$create", "$pl", "$bob"), 11)
        resolved = await room.resolve(put(room, state, "$demote"), put(room, state, "$t_bob"))
        # The demotion wins the power levels; bob's topic, checked against it, is not allowed, so
        # the topic goes back to $t0 (which is in the conflicted set because one fork replaced it).
        self.assertEqual(resolved, put(room, state, "$demote"))
        self.assertEqual(resolved[TOPIC], "$t0")
        self.assertEqual(room.checked_among("$pl", "$demote", "$t0", "$t_bob"), ["$pl", "$demote", "$t0", "$t_bob"])

    async def test_join_rules_change_against_a_join(self) -> None:
        room, state = self.base_room()
        room.add("$invite_only", "m.room.join_rules", ALICE, {"join_rule": "invite"}, "",
                 ("$create", "$pl", "$alice"), 10)
        room.add("$dave", "m.room.member", DAVE, {"membership": "join"}, DAVE, ("$create", "$pl", "$jr"), 11)
        resolved = await room.resolve(put(room, state, "$invite_only"), put(room, state, "$dave"))
        # The join rules events are power events and are resolved first; dave's join is then
        # checked against "invite" and dropped.
        self.assertEqual(resolved, put(room, state, "$invite_only"))
        self.assertNotIn(member(DAVE), resolved)

    async def test_join_survives_unrelated_conflict(self) -> None:
        room, state = self.base_room()
        room.add("$t_alice", "m.room.topic", ALICE, {"topic": "a"}, "", ("$create", "$pl", "$alice"), 10)
        room.add("$dave", "m.room.member", DAVE, {"membership": "join"}, DAVE, ("$create", "$pl", "$jr"), 11)
        resolved = await room.resolve(put(room, state, "$t_alice"), put(room, state, "$dave"))
        self.assertEqual(resolved, put(room, state, "$t_alice", "$dave"))

    async def test_mainline_ties_broken_by_timestamp_then_event_id(self) -> None:
        room, state = self.base_room()
        auth = ("$create", "$pl", "$alice")
        room.add("$t_b", "m.room.topic", ALICE, {"topic": "b"}, "", auth, 10)
        room.add("$t_a", "m.room.topic", ALICE, {"topic": "a"}, "", auth, 10)
        room.add("$t_c", "m.room.topic", ALICE, {"topic": "c"}, "", auth, 9)
        resolved = await room.resolve(*(put(room, state, t) for t in ("$t_b", "$t_a", "$t_c")))
        # All cite $pl: timestamps first ($t_c), then the equal ones by event ID.
        self.assertEqual(room.checked, ["$t_c", "$t_a", "$t_b"])
        self.assertEqual(resolved[TOPIC], "$t_b")

    async def test_mainline_position_beats_timestamp(self) -> None:
        room, state = self.base_room()
        room.add("$pl2", "m.room.power_levels", ALICE, {"users": {ALICE: 100, BOB: 50, CHARLIE: 50}}, "",
                 ("$create", "$pl", "$alice"), 10)
        state = put(room, state, "$pl2")
        # $t_new cites the newer power levels but has the older timestamp.
        room.add("$t_old", "m.room.topic", BOB, {"topic": "old"}, "", ("$create", "$pl", "$bob"), 20)
        room.add("$t_new", "m.room.topic", CHARLIE, {"topic": "new"}, "", ("$create", "$pl2", "$charlie"), 15)
        resolved = await room.resolve(put(room, state, "$t_old"), put(room, state, "$t_new"))
        # Mainline [$pl2, $pl]: $t_old has position 1, $t_new 0; greater positions sort first.
        self.assertEqual(room.checked_among("$t_old", "$t_new"), ["$t_old", "$t_new"])
        self.assertEqual(resolved[TOPIC], "$t_new")

    async def test_event_failing_iterative_auth_is_dropped(self) -> None:
        room, state = self.base_room()
        room.add("$t_alice", "m.room.topic", ALICE, {"topic": "a"}, "", ("$create", "$pl", "$alice"), 10)
        # charlie (0) cannot set the topic (state_default 50), whatever the timestamp.
        room.add("$t_charlie", "m.room.topic", CHARLIE, {"topic": "c"}, "", ("$create", "$pl", "$charlie"), 11)
        resolved = await room.resolve(put(room, state, "$t_alice"), put(room, state, "$t_charlie"))
        self.assertEqual(resolved[TOPIC], "$t_alice")
        self.assertIn("$t_charlie", room.checked)

    async def test_auth_difference_is_in_the_full_conflicted_set(self) -> None:
        room, state = self.base_room()
        # bob raises charlie (power event) and charlie then sets a topic citing that; the other fork
        # only has alice's topic. The power levels are conflicted, and so is the topic.
        room.add("$pl2", "m.room.power_levels", BOB, {"users": {ALICE: 100, BOB: 50, CHARLIE: 50}}, "",
                 ("$create", "$pl", "$bob"), 10)
        room.add("$t_charlie", "m.room.topic", CHARLIE, {"topic": "c"}, "", ("$create", "$pl2", "$charlie"), 11)
        room.add("$t_alice", "m.room.topic", ALICE, {"topic": "a"}, "", ("$create", "$pl", "$alice"), 12)
        resolved = await room.resolve(put(room, state, "$pl2", "$t_charlie"), put(room, state, "$t_alice"))
        # Mainline [$pl2, $pl]: $t_alice (position 1) first, then $t_charlie (position 0), allowed.
        self.assertEqual(resolved, put(room, state, "$pl2", "$t_charlie"))

    async def test_deterministic_regardless_of_state_set_order(self) -> None:
        room, state = self.base_room()
        room.add("$ban", "m.room.member", ALICE, {"membership": "ban"}, BOB, ("$create", "$pl", "$alice", "$bob"), 10)
        room.add("$pl2", "m.room.power_levels", BOB, {"users": {ALICE: 100, BOB: 50, CHARLIE: 50}}, "",
                 ("$create", "$pl", "$bob"), 11)
        room.add("$t_bob", "m.room.topic", BOB, {"topic": "b"}, "", ("$create", "$pl", "$bob"), 12)
        sets = [put(room, state, "$ban"), put(room, state, "$pl2", "$t_bob"), state]
        first = await room.resolve(*sets)
        self.assertEqual(await room.resolve(*reversed(sets)), first)
        self.assertEqual(first, put(room, state, "$ban"))

    async def test_unavailable_event_is_left_out(self) -> None:
        room, state = self.base_room()
        room.add("$t_alice", "m.room.topic", ALICE, {"topic": "a"}, "", ("$create", "$pl", "$alice"), 10)
        resolved = await room.resolve(put(room, state, "$t_alice"), {**state, TOPIC: "$nowhere"})
        self.assertEqual(resolved[TOPIC], "$t_alice")

    async def test_rejected_auth_event_not_used_as_fallback(self) -> None:
        for rejected in (False, True):
            room, state = self.base_room()
            room.events["$pl"].pdu["content"]["users"][CHARLIE] = 50
            del state[member(CHARLIE)]  # charlie's membership is in neither state...
            if rejected:
                room.events["$charlie"].internal["rejected"] = "test"
            # ...but his join is in both auth chains (via an unconflicted event), so not re-checked.
            custom = room.add("$custom", "m.custom", CHARLIE, {}, "", ("$create", "$pl", "$charlie"), 9)
            state = put(room, state, custom)
            room.add("$t_alice", "m.room.topic", ALICE, {"topic": "a"}, "", ("$create", "$pl", "$alice"), 10)
            room.add("$t_charlie", "m.room.topic", CHARLIE, {"topic": "c"}, "", ("$create", "$pl", "$charlie"), 11)
            resolved = await room.resolve(put(room, state, "$t_alice"), put(room, state, "$t_charlie"))
            self.assertNotIn("$charlie", room.checked)
            # The missing key comes from $t_charlie's auth events, unless that event was rejected.
            self.assertEqual(resolved[TOPIC], "$t_alice" if rejected else "$t_charlie")


class ResolutionV21Test(unittest.TestCase):
    """Room 12 (state resolution v2.1) against room 11 on the same DAG."""

    check: CheckAuth = staticmethod(stand_in_check_auth)

    def base_room(self, version: str = "11") -> tuple[Room, dict[StateKey, str]]:
        return base_room(version, self.check)

    def stale_join_rules(self, version: str) -> tuple[Room, dict[StateKey, str], dict[StateKey, str]]:
        """bob (50) makes the room invite-only, then leaves; after that alice makes it public on one
        fork while the other keeps bob's rule. bob's leave is in both states (unconflicted)."""
        room, state = self.base_room(version)
        room.add("$jr_bob", "m.room.join_rules", BOB, {"join_rule": "invite"}, "", ("$create", "$pl", "$bob"), 10)
        room.add("$bob_left", "m.room.member", BOB, {"membership": "leave"}, BOB, ("$create", "$pl", "$bob"), 11)
        room.add("$jr_alice", "m.room.join_rules", ALICE, {"join_rule": "public"}, "",
                 ("$create", "$pl", "$alice"), 12)
        return room, put(room, state, "$jr_alice", "$bob_left"), put(room, state, "$jr_bob", "$bob_left")

    async def test_v2_checks_power_events_against_unconflicted_state(self) -> None:
        room, s1, s2 = self.stale_join_rules("11")
        resolved = await room.resolve(s1, s2)
        # v2: bob's rule is checked against the unconflicted state, where he has left: dropped.
        self.assertEqual(resolved[JR], "$jr_alice")
        self.assertEqual(resolved[member(BOB)], "$bob_left")

    async def test_v2_1_starts_from_empty_state(self) -> None:
        room, s1, s2 = self.stale_join_rules("12")
        resolved = await room.resolve(s1, s2)
        # v2.1: step 2 starts from an empty map, so bob's membership comes from his event's own auth
        # events (his join): allowed, and applied after alice's (less power sorts later).
        self.assertEqual(room.checked, ["$jr_alice", "$jr_bob"])
        self.assertEqual(resolved[JR], "$jr_bob")
        self.assertEqual(resolved[member(BOB)], "$bob_left")  # step 5: unconflicted state kept

    def power_levels_chain(self, version: str) -> tuple[Room, dict[StateKey, str], dict[StateKey, str]]:
        """$pl <- $pl2 <- $pl3 (each citing the one before). One state has $pl3, the other $pl; a
        topic citing $pl2 is in both, so $pl2 is in both full auth chains (not in the auth
        difference) but on the auth path between the conflicted $pl3 and $pl."""
        room, state = self.base_room(version)
        users = {BOB: 60} if room.rv.privileged_creators else {ALICE: 100, BOB: 60}
        room.add("$pl2", "m.room.power_levels", ALICE, {"users": users}, "", ("$create", "$pl", "$alice"), 10)
        users = {**users, BOB: 70}
        room.add("$pl3", "m.room.power_levels", ALICE, {"users": users}, "", ("$create", "$pl2", "$alice"), 11)
        room.add("$topic", "m.room.topic", ALICE, {"topic": "t"}, "", ("$create", "$pl2", "$alice"), 12)
        return room, put(room, state, "$pl3", "$topic"), put(room, state, "$topic")

    async def test_conflicted_state_subgraph_only_in_v2_1(self) -> None:
        room, s1, s2 = self.power_levels_chain("11")
        self.assertEqual(await room.resolve(s1, s2), s1)
        self.assertEqual(room.checked, ["$pl", "$pl3"])

        room, s1, s2 = self.power_levels_chain("12")
        self.assertEqual(await room.resolve(s1, s2), s1)
        self.assertEqual(room.checked, ["$pl", "$pl2", "$pl3"])

    async def test_v2_1_simple_topic_conflict(self) -> None:
        room, state = self.base_room("12")
        room.add("$t_alice", "m.room.topic", ALICE, {"topic": "a"}, "", ("$create", "$pl", "$alice"), 11)
        room.add("$t_bob", "m.room.topic", BOB, {"topic": "b"}, "", ("$create", "$pl", "$bob"), 10)
        resolved = await room.resolve(put(room, state, "$t_alice"), put(room, state, "$t_bob"))
        # The power levels are unconflicted, so the partial state has none (mainline empty): the
        # topics are ordered by timestamp and checked against their own auth events.
        self.assertEqual(room.checked_among("$t_bob", "$t_alice"), ["$t_bob", "$t_alice"])
        self.assertEqual(resolved[TOPIC], "$t_alice")


# -- the same cases with the real authorisation rules ----------------------------------------------


def _real_check_auth() -> CheckAuth | None:
    try:
        from homeserver.events.auth import check_auth
    except ImportError:
        return None
    return check_auth


class RealAuthRulesV2Test(ResolutionV2Test):
    """ResolutionV2Test with homeserver.events.auth.check_auth instead of the stand-in."""

    check = staticmethod(_real_check_auth() or stand_in_check_auth)
    skip = None if _real_check_auth() else "homeserver.events.auth is not available"


class RealAuthRulesV21Test(ResolutionV21Test):
    """ResolutionV21Test with homeserver.events.auth.check_auth instead of the stand-in."""

    check = staticmethod(_real_check_auth() or stand_in_check_auth)
    skip = None if _real_check_auth() else "homeserver.events.auth is not available"

    async def test_default_checker_is_the_real_one(self) -> None:
        room, s1, s2 = self.stale_join_rules("12")
        resolved = await resolve_state(room.rv, [s1, s2], room.fetch_events, room.fetch_auth_chain_ids)
        self.assertEqual(resolved[JR], "$jr_bob")

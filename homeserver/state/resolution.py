"""State resolution for room versions 2-11 (v2) and 12 (v2.1); room 1's (v1) is in resolution_v1.

Spec: content/rooms/fragments/v2-state-res.md ("Definitions", "Algorithm"); the v2.1 changes are in
content/rooms/v12.md "State resolution": the *conflicted state subgraph* joins the full conflicted set,
and step 2's iterative auth checks start from an empty state map instead of the unconflicted one.

`resolve_state` is the entry point. Storage is reached only through two async callables, and the
authorisation rules through `check_auth`, so the algorithm itself stays pure and deterministic: every
set is iterated in sorted order or through a total ordering, and ties always end on the event ID.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any

from homeserver.events.auth import auth_types_for_event, get_user_power_level
from homeserver.events.model import Event
from homeserver.events.room_versions import RoomVersion, StateResAlgorithm
from homeserver.state.resolution_v1 import resolve_v1

logger = logging.getLogger(__name__)

StateKey = tuple[str, str]
StateMap = dict[StateKey, str]
AuthEvents = dict[StateKey, Event]
FetchEvents = Callable[[list[str]], Awaitable[Mapping[str, Event]]]
"""Events by ID; IDs the store does not have are left out of the answer."""
FetchAuthChainIds = Callable[[list[str]], Awaitable[set[str]]]
"""The union of the auth chains of the given events (their auth events, recursively)."""
CheckAuth = Callable[[Event, AuthEvents], Any]
"""The authorisation rules: returns if `event` is allowed by `auth_events`, raises if not."""

CREATE: StateKey = ("m.room.create", "")
POWER_LEVELS: StateKey = ("m.room.power_levels", "")
JOIN_RULES: StateKey = ("m.room.join_rules", "")
MEMBER = "m.room.member"


async def resolve_state(
    room_version: RoomVersion,
    state_sets: list[dict[StateKey, str]],
    fetch_events: FetchEvents,
    fetch_auth_chain_ids: FetchAuthChainIds,
    check_auth: CheckAuth | None = None,
) -> StateMap:
    """The resolution of `state_sets` (each a map (type, state_key) -> event ID)."""
    unconflicted, conflicted = split_state(state_sets)
    if not conflicted:
        # No conflict means every state set is the same map, so their auth chains are equal too.
        return unconflicted
    if check_auth is None:
        from homeserver.events.auth import check_auth as default_check_auth

        check_auth = default_check_auth
    if room_version.state_res is StateResAlgorithm.V1:
        return await _resolve_v1(room_version, state_sets, unconflicted, fetch_events, check_auth)
    resolver = _Resolver(room_version, fetch_events, fetch_auth_chain_ids, check_auth)
    return await resolver.resolve(state_sets, unconflicted, conflicted)


async def _resolve_v1(room_version: RoomVersion, state_sets: list[dict[StateKey, str]], unconflicted: StateMap,
                      fetch_events: FetchEvents, check_auth: CheckAuth) -> StateMap:
    conflicted_ids: dict[StateKey, set[str]] = defaultdict(set)
    for state in state_sets:
        for key, event_id in state.items():
            if key not in unconflicted:
                conflicted_ids[key].add(event_id)
    fetched = await fetch_events(sorted(set(unconflicted.values()).union(*conflicted_ids.values())))
    by_key = {k: [fetched[i] for i in sorted(ids) if i in fetched and not is_rejected(fetched[i])]
              for k, ids in conflicted_ids.items()}
    agreed = {k: fetched[i] for k, i in unconflicted.items() if i in fetched}
    return {**unconflicted, **resolve_v1(by_key, agreed, lambda e: auth_types_for(e, room_version), check_auth)}


# -- definitions (pure helpers) --------------------------------------------------------------------


def split_state(state_sets: list[dict[StateKey, str]]) -> tuple[StateMap, set[str]]:
    """Definitions, "Unconflicted state map and conflicted state set": a key with the same event in
    every state set is unconflicted; every other (key, event) pair puts the event in the conflicted set."""
    unconflicted: StateMap = {}
    conflicted: set[str] = set()
    all_keys: set[StateKey] = set().union(*state_sets) if state_sets else set()
    for key in all_keys:
        values = [s.get(key) for s in state_sets]
        first = values[0]
        if first is not None and all(v == first for v in values):
            unconflicted[key] = first
        else:
            conflicted.update(v for v in values if v is not None)
    return unconflicted, conflicted


def is_power_event(event: Event) -> bool:
    """Definitions, "Power events": power levels, join rules, and kicks and bans of someone else."""
    if not event.is_state():
        return False
    if event.type in ("m.room.power_levels", "m.room.join_rules"):
        return True
    return (event.type == MEMBER and event.content.get("membership") in ("leave", "ban")
            and event.sender != event.state_key)


def is_rejected(event: Event) -> bool:
    """Whether the event was rejected on receipt (noted by storage in `Event.internal`)."""
    return bool(event.internal.get("rejected"))


def auth_types_for(event: Event, room_version: RoomVersion) -> set[StateKey]:
    """The state keys the authorisation rules look at for `event`: the auth events selection,
    plus the create event in every room version (room 12 leaves it out of `auth_events` but its
    rules still read it)."""
    return auth_types_for_event(event.type, event.sender, event.state_key, event.content, room_version) | {CREATE}


def sender_power_level(event: Event, auth_events: Mapping[StateKey, Event], room_version: RoomVersion) -> float:
    """The sender's power level according to `auth_events` (as the authorisation rules read it)."""
    return get_user_power_level(event.sender, dict(auth_events))


def topological_order(nodes: Collection[str], parents: Callable[[str], Iterable[str]],
                      sort_key: Callable[[str], Any]) -> list[str]:
    """Kahn's algorithm over the DAG `nodes` -> `parents` (auth events), earliest first; among the
    ready nodes the one with the smallest `sort_key` goes next (a heap, so O((V + E) log V)).
    Nodes on a cycle (impossible for hashed events) are left out."""
    waiting: dict[str, int] = {}
    children: dict[str, list[str]] = defaultdict(list)
    for node in nodes:
        node_parents = {p for p in parents(node) if p in nodes and p != node}
        waiting[node] = len(node_parents)
        for p in node_parents:
            children[p].append(node)
    heap = [(sort_key(n), n) for n, count in waiting.items() if count == 0]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        _, node = heapq.heappop(heap)
        order.append(node)
        for child in children[node]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(heap, (sort_key(child), child))
    if len(order) != len(waiting):
        logger.warning("auth event cycle among %d events; they are left out", len(waiting) - len(order))
    return order


# -- the algorithm -----------------------------------------------------------------------------------


class _Resolver:
    """One resolution: the injected callables and a cache of the events fetched so far."""

    def __init__(self, room_version: RoomVersion, fetch_events: FetchEvents,
                 fetch_auth_chain_ids: FetchAuthChainIds, check_auth: CheckAuth):
        self.room_version = room_version
        self.v2_1 = room_version.state_res is StateResAlgorithm.V2_1
        self._fetch_events = fetch_events
        self._fetch_auth_chain_ids = fetch_auth_chain_ids
        self._check_auth = check_auth
        self.events: dict[str, Event] = {}
        self._missing: set[str] = set()

    async def resolve(self, state_sets: list[dict[StateKey, str]], unconflicted: StateMap,
                      conflicted: set[str]) -> StateMap:
        # Definitions, "Full conflicted set": conflicted state set + auth difference
        # (+ v2.1: conflicted state subgraph).
        full = conflicted | await self._auth_difference(state_sets, unconflicted)
        if self.v2_1:
            full |= await self._conflicted_subgraph(conflicted)
        await self._load(full)
        for event_id in sorted(full - self.events.keys()):
            logger.warning("state resolution: event %s is not available; left out", event_id)
        full = {i for i in full if i in self.events and self.events[i].is_state()}

        # Step 1: power events in the full conflicted set, plus the events of their auth chains
        # that are in the full conflicted set, in reverse topological power ordering.
        power = {i for i in full if is_power_event(self.events[i])}
        chain = await self._fetch_auth_chain_ids(sorted(power)) if power else set()
        selected = power | (chain & full)
        await self._load_auth_events(selected)
        power_order = topological_order(selected, self._auth_ids, self._power_sort_key)

        # Step 2: iterative auth checks from the unconflicted state map (v2.1: from an empty map).
        partial = await self._iterative_auth_checks({} if self.v2_1 else unconflicted, power_order)

        # Step 3: the remaining events in mainline ordering based on the resolved power levels.
        others = await self._mainline_order(full - selected, partial.get(POWER_LEVELS))

        # Step 4: iterative auth checks on the partially resolved state.
        resolved = await self._iterative_auth_checks(partial, others)

        # Step 5: the unconflicted state map wins over whatever was resolved for the same key.
        resolved.update(unconflicted)
        return resolved

    # -- fetching -------------------------------------------------------------------------------

    async def _load(self, event_ids: Iterable[str]) -> None:
        wanted = sorted({i for i in event_ids if i not in self.events and i not in self._missing})
        if not wanted:
            return
        found = await self._fetch_events(wanted)
        for event_id in wanted:
            event = found.get(event_id)
            if event is None:
                self._missing.add(event_id)
            else:
                self.events[event_id] = event

    async def _load_auth_events(self, event_ids: Iterable[str]) -> None:
        """Fetch the auth events of already fetched events (and, in room 12, their create event)."""
        wanted: set[str] = set()
        for event_id in event_ids:
            event = self.events.get(event_id)
            if event is not None:
                wanted.update(event.auth_event_ids)
                create_id = self._create_id(event)
                if create_id is not None:
                    wanted.add(create_id)
        await self._load(wanted)

    def _auth_ids(self, event_id: str) -> list[str]:
        event = self.events.get(event_id)
        return event.auth_event_ids if event is not None else []

    def _create_id(self, event: Event) -> str | None:
        """Room 12: the create event is not an auth event; its ID is the room ID with `$` for `!`."""
        if not self.room_version.room_id_from_create_event:
            return None
        room_id = event.room_id
        return "$" + room_id[1:] if isinstance(room_id, str) and room_id.startswith("!") else None

    # -- definitions that need events ---------------------------------------------------------------

    async def _auth_chain(self, event_ids: Iterable[str]) -> set[str]:
        ids = sorted(set(event_ids))
        return await self._fetch_auth_chain_ids(ids) if ids else set()

    async def _auth_difference(self, state_sets: list[dict[StateKey, str]], unconflicted: StateMap) -> set[str]:
        """Definitions, "Auth difference": union minus intersection of the full auth chains C_i of
        the state sets (C_i: the union of the auth chains of the events in S_i).

        The unconflicted events add the same chain U to every C_i, so with D_i the chain of S_i's
        other events, C_i = U | D_i and the difference is (union D_i) - (intersection D_i) - U:
        the big common chain is fetched once rather than once per state set."""
        common = await self._auth_chain(unconflicted.values())
        own = [await self._auth_chain(v for k, v in s.items() if unconflicted.get(k) != v) for s in state_sets]
        return set().union(*own) - set.intersection(*own) - common

    async def _conflicted_subgraph(self, conflicted: set[str]) -> set[str]:
        """v2.1 definitions, "Conflicted state subgraph": every event on an auth_events path from a
        conflicted event to a conflicted event. Those are the events reachable from the conflicted
        set (its auth chain) from which a conflicted event is reachable in turn."""
        reachable = conflicted | await self._fetch_auth_chain_ids(sorted(conflicted))
        await self._load(reachable)
        leads_to_conflict: dict[str, bool] = {}
        # Auth events come before the events citing them, so each node sees its parents' answers.
        for node in topological_order(reachable, self._auth_ids, lambda n: n):
            leads_to_conflict[node] = node in conflicted or any(
                leads_to_conflict.get(p, False) for p in self._auth_ids(node))
        return {n for n, leads in leads_to_conflict.items() if leads}

    def _auth_events_of(self, event: Event) -> AuthEvents:
        """The event's own auth events by state key (with room 12's create event)."""
        found: AuthEvents = {}
        for auth_id in event.auth_event_ids:
            auth_event = self.events.get(auth_id)
            if auth_event is not None and auth_event.is_state():
                found.setdefault(auth_event.state_tuple, auth_event)
        create_id = self._create_id(event)
        if create_id is not None and create_id in self.events:
            found.setdefault(CREATE, self.events[create_id])
        return found

    def _power_sort_key(self, event_id: str) -> tuple[float, int, str]:
        """Definitions, "Reverse topological power ordering": greater sender power level first (from
        the event's auth events), then smaller origin_server_ts, then smaller event ID."""
        event = self.events[event_id]
        power = sender_power_level(event, self._auth_events_of(event), self.room_version)
        return -power, event.origin_server_ts, event_id

    # -- iterative auth checks ------------------------------------------------------------------------

    async def _iterative_auth_checks(self, initial: StateMap, order: list[str]) -> StateMap:
        """Definitions, "Iterative auth checks": apply each event that the authorisation rules allow
        against the state so far; an event that is not allowed is ignored. A needed key missing from
        the state comes from the event's own auth events, unless that auth event was rejected."""
        await self._load(order)
        await self._load_auth_events(order)
        needed: set[StateKey] = set()
        for event_id in order:
            needed |= auth_types_for(self.events[event_id], self.room_version)
        await self._load(initial[k] for k in needed if k in initial)

        state = dict(initial)
        for event_id in order:
            event = self.events[event_id]
            auth_events = self._auth_events_for_check(event, state)
            try:
                self._check_auth(event, auth_events)
            except Exception as e:  # the rules reject by raising; anything else counts as not allowed
                logger.debug("state resolution: %s not allowed: %r", event_id, e)
                continue
            state[event.state_tuple] = event_id
        return state

    def _auth_events_for_check(self, event: Event, state: StateMap) -> AuthEvents:
        own = {k: v for k, v in self._auth_events_of(event).items() if not is_rejected(v)}
        chosen: AuthEvents = {}
        for key in auth_types_for(event, self.room_version):
            state_id = state.get(key)
            if state_id is not None and state_id in self.events:
                chosen[key] = self.events[state_id]
            elif key in own:
                chosen[key] = own[key]
        return chosen

    # -- mainline ordering ----------------------------------------------------------------------------

    def _power_levels_auth_event(self, event: Event) -> str | None:
        """The m.room.power_levels event among the event's auth events (auth events must be loaded)."""
        for auth_id in event.auth_event_ids:
            auth_event = self.events.get(auth_id)
            if auth_event is not None and auth_event.is_state() and auth_event.state_tuple == POWER_LEVELS:
                return auth_id
        return None

    async def _mainline_order(self, event_ids: set[str], power_levels_id: str | None) -> list[str]:
        """Definitions, "Mainline ordering": greater mainline position first, then smaller
        origin_server_ts, then smaller event ID."""
        # The mainline of P0: P0, its power levels auth event P1, and so on (index = position).
        mainline: dict[str, int] = {}
        current = power_levels_id
        while current is not None and current not in mainline:
            await self._load([current])
            await self._load_auth_events([current])
            if current not in self.events:
                break
            mainline[current] = len(mainline)
            current = self._power_levels_auth_event(self.events[current])

        positions = await self._mainline_positions(event_ids, mainline)

        def sort_key(event_id: str) -> tuple[float, int, str]:
            return -positions[event_id], self.events[event_id].origin_server_ts, event_id

        return sorted(event_ids, key=sort_key)

    async def _mainline_positions(self, event_ids: set[str], mainline: dict[str, int]) -> dict[str, float]:
        """For each event e: walk e1, e2, ... (each the power levels auth event of the one before) to
        the first one on the mainline; its index there is e's position, infinity if none is.
        All walks advance together, one fetch per step; the answer for every power levels event
        passed on the way is remembered, so shared chains are walked once."""
        known: dict[str, float] = dict(mainline)  # power levels event -> position of events citing it
        await self._load_auth_events(event_ids)
        cursor = {i: self._power_levels_auth_event(self.events[i]) for i in sorted(event_ids)}
        walked: dict[str, list[str]] = {i: [] for i in event_ids}
        positions: dict[str, float] = {}
        while cursor:
            advancing: dict[str, str] = {}
            for event_id, pl_id in cursor.items():
                if pl_id is None or pl_id in known or pl_id in walked[event_id]:
                    position = known.get(pl_id, math.inf) if pl_id is not None else math.inf
                    positions[event_id] = position
                    for passed in walked[event_id]:
                        known[passed] = position
                else:
                    walked[event_id].append(pl_id)
                    advancing[event_id] = pl_id
            await self._load(advancing.values())
            await self._load_auth_events(advancing.values())
            cursor = {
                event_id: self._power_levels_auth_event(self.events[pl_id]) if pl_id in self.events else None
                for event_id, pl_id in advancing.items()
            }
        return positions

"""A user's settings follow a room upgrade (spec: room upgrades, "Server behaviour": when a user
joins the new room, the server should transfer their personalised settings): when a local user
joins a room whose m.room.create names a predecessor, their tags and room push rules of the old
room are copied to the new one, and their `m.direct` points at the new room instead."""

from __future__ import annotations

import copy
import logging
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure

from homeserver.api.errors import MatrixError
from homeserver.handlers.push_rules import PushRulesHandler
from homeserver.notifier import Notifier
from homeserver.storage.account_data import AccountDataStore
from homeserver.storage.events import EventsStore, PersistedEvent

logger = logging.getLogger(__name__)

CREATE = ("m.room.create", "")


class UpgradeSettingsHandler:
    def __init__(self, server_name: str, events: EventsStore, account_data: AccountDataStore,
                 push_rules: PushRulesHandler, notifier: Notifier):
        self._suffix = ":" + server_name
        self._events = events
        self._account_data = account_data
        self._push_rules = push_rules
        self._notifier = notifier
        self._in_flight: set[defer.Deferred] = set()

    def on_event_persisted(self, persisted: PersistedEvent) -> None:
        """An EventPersister listener: a local user's join starts the copy in the background
        (the room's lock is held now)."""
        event = persisted.event
        if event.type != "m.room.member" or event.content.get("membership") != "join" \
                or not isinstance(event.state_key, str) or not event.state_key.endswith(self._suffix):
            return
        d = defer.ensureDeferred(self._on_join(event.state_key, event.room_id, event.unsigned.get("replaces_state")))
        self._in_flight.add(d)

        def done(result: object) -> None:
            self._in_flight.discard(d)
            if isinstance(result, Failure):
                logger.error("Copying %s's settings to %s failed", event.state_key, event.room_id,
                             exc_info=result.value)

        d.addBoth(done)

    async def drain(self) -> None:
        """Wait for the copies under way (at shutdown, and in tests)."""
        while self._in_flight:
            await defer.DeferredList(list(self._in_flight), consumeErrors=True)

    async def _on_join(self, user_id: str, room_id: str, replaced: str | None) -> None:
        if replaced is not None:
            before = await self._events.get_event(replaced)
            if before is not None and before.content.get("membership") == "join":
                return  # a profile change, not a join: settings were copied at the join
        state = await self._events.get_current_state_ids(room_id)
        create = await self._events.get_event(state[CREATE]) if CREATE in state else None
        predecessor = create.content.get("predecessor") if create is not None else None
        old_room_id = predecessor.get("room_id") if isinstance(predecessor, dict) else None
        if not isinstance(old_room_id, str) or old_room_id == room_id:
            return
        await self.copy_settings(user_id, old_room_id, room_id)

    async def copy_settings(self, user_id: str, old_room_id: str, new_room_id: str) -> None:
        """Tags (unless the new room has some already), room-specific push rules (those the new
        room lacks) and m.direct."""
        changed = False
        tags = await self._account_data.get(user_id, old_room_id, "m.tag")
        if tags and not await self._account_data.get(user_id, new_room_id, "m.tag"):
            await self._account_data.put(user_id, new_room_id, "m.tag", copy.deepcopy(tags))
            changed = True
        direct = await self._account_data.get(user_id, "", "m.direct")
        if isinstance(direct, dict) and any(isinstance(v, list) and old_room_id in v for v in direct.values()):
            await self._account_data.put(user_id, "", "m.direct", {
                k: list(dict.fromkeys(new_room_id if r == old_room_id else r for r in v))
                if isinstance(v, list) and old_room_id in v else v
                for k, v in direct.items()})
            changed = True
        if changed:
            self._notifier.on_user_data(user_id)
        await self._copy_push_rules(user_id, old_room_id, new_room_id)

    async def _copy_push_rules(self, user_id: str, old_room_id: str, new_room_id: str) -> None:
        ruleset = await self._push_rules.get_ruleset(user_id)
        for kind in ("override", "room", "underride"):
            existing = {r["rule_id"] for r in ruleset.get(kind, [])}
            for rule in ruleset.get(kind, []):
                if rule.get("default") or not _names_room(kind, rule, old_room_id):
                    continue
                new_id = rule["rule_id"].replace(old_room_id, new_room_id)
                if new_id == rule["rule_id"]:
                    new_id = f"{rule['rule_id']}-{new_room_id}"
                if new_id in existing:
                    continue  # the user has one for the new room already
                body: dict[str, Any] = {"actions": rule["actions"]}
                if "conditions" in rule:
                    body["conditions"] = [_moved_condition(c, old_room_id, new_room_id) for c in rule["conditions"]]
                try:
                    # Just before the old room's rule: the same place in the evaluation order.
                    await self._push_rules.set_rule(user_id, kind, new_id, body, rule["rule_id"], None)
                    if not rule.get("enabled", True):
                        await self._push_rules.set_enabled(user_id, kind, new_id, False)
                except MatrixError as e:  # e.g. the user has as many rules as allowed
                    logger.info("Could not copy push rule %s of %s to %s: %s", rule["rule_id"], user_id,
                                new_room_id, e.msg)


def _names_room(kind: str, rule: dict[str, Any], room_id: str) -> bool:
    """A room rule for the room, or an override/underride rule with a condition on its ID."""
    if kind == "room":
        return rule["rule_id"] == room_id
    return any(_is_room_condition(c, room_id) for c in rule.get("conditions", []))


def _is_room_condition(condition: Any, room_id: str) -> bool:
    if not isinstance(condition, dict) or condition.get("key") != "room_id":
        return False
    return (condition.get("kind") == "event_match" and condition.get("pattern") == room_id) or \
        (condition.get("kind") == "event_property_is" and condition.get("value") == room_id)


def _moved_condition(condition: Any, old_room_id: str, new_room_id: str) -> Any:
    if not _is_room_condition(condition, old_room_id):
        return condition
    moved = dict(condition)
    moved["pattern" if moved["kind"] == "event_match" else "value"] = new_room_id
    return moved

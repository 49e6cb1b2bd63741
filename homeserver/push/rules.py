"""The spec's predefined (server-default) push rules, and merging them with a user's own rules.

Client-server API, "Push Rules" / "Predefined Rules" (v1.17+: the legacy body-based mention rules
`.m.rule.contains_display_name`, `.m.rule.contains_user_name` and `.m.rule.roomnotif` were
removed from the spec, so they are not served here)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

# The kinds, in the order they are checked.
KINDS = ("override", "content", "room", "sender", "underride")

# Stands for the owner's Matrix ID in the predefined rules' conditions.
USER_ID = "[the user's Matrix ID]"

# Actions from older spec versions that clients and homeservers must ignore.
HISTORICAL_ACTIONS = frozenset({"dont_notify", "coalesce"})

_SOUND_DEFAULT = {"set_tweak": "sound", "value": "default"}
_HIGHLIGHT = {"set_tweak": "highlight"}


def _match(key: str, pattern: str) -> dict[str, Any]:
    return {"kind": "event_match", "key": key, "pattern": pattern}


# `.m.rule.master` comes before every other rule, user-defined ones included.
MASTER_RULE: dict[str, Any] = {
    "rule_id": ".m.rule.master", "default": True, "enabled": False, "conditions": [], "actions": [],
}

# The other default override rules, after the user's override rules, in the spec's order.
DEFAULT_OVERRIDE_RULES: list[dict[str, Any]] = [
    {
        "rule_id": ".m.rule.suppress_notices", "default": True, "enabled": True,
        "conditions": [_match("content.msgtype", "m.notice")],
        "actions": [],
    },
    {
        "rule_id": ".m.rule.invite_for_me", "default": True, "enabled": True,
        "conditions": [_match("type", "m.room.member"), _match("content.membership", "invite"),
                       _match("state_key", USER_ID)],
        "actions": ["notify", _SOUND_DEFAULT],
    },
    {
        "rule_id": ".m.rule.member_event", "default": True, "enabled": True,
        "conditions": [_match("type", "m.room.member")],
        "actions": [],
    },
    {
        "rule_id": ".m.rule.is_user_mention", "default": True, "enabled": True,
        "conditions": [{"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids",
                        "value": USER_ID}],
        "actions": ["notify", _SOUND_DEFAULT, _HIGHLIGHT],
    },
    {
        "rule_id": ".m.rule.is_room_mention", "default": True, "enabled": True,
        "conditions": [{"kind": "event_property_is", "key": "content.m\\.mentions.room", "value": True},
                       {"kind": "sender_notification_permission", "key": "room"}],
        "actions": ["notify", _HIGHLIGHT],
    },
    {
        "rule_id": ".m.rule.tombstone", "default": True, "enabled": True,
        "conditions": [_match("type", "m.room.tombstone"), _match("state_key", "")],
        "actions": ["notify", _HIGHLIGHT],
    },
    {
        "rule_id": ".m.rule.reaction", "default": True, "enabled": True,
        "conditions": [_match("type", "m.reaction")],
        "actions": [],
    },
    {
        "rule_id": ".m.rule.room.server_acl", "default": True, "enabled": True,
        "conditions": [_match("type", "m.room.server_acl"), _match("state_key", "")],
        "actions": [],
    },
    {
        "rule_id": ".m.rule.suppress_edits", "default": True, "enabled": True,
        "conditions": [{"kind": "event_property_is", "key": "content.m\\.relates_to.rel_type",
                        "value": "m.replace"}],
        "actions": [],
    },
]

DEFAULT_UNDERRIDE_RULES: list[dict[str, Any]] = [
    {
        "rule_id": ".m.rule.call", "default": True, "enabled": True,
        "conditions": [_match("type", "m.call.invite")],
        "actions": ["notify", {"set_tweak": "sound", "value": "ring"}],
    },
    {
        "rule_id": ".m.rule.encrypted_room_one_to_one", "default": True, "enabled": True,
        "conditions": [{"kind": "room_member_count", "is": "2"}, _match("type", "m.room.encrypted")],
        "actions": ["notify", _SOUND_DEFAULT],
    },
    {
        "rule_id": ".m.rule.room_one_to_one", "default": True, "enabled": True,
        "conditions": [{"kind": "room_member_count", "is": "2"}, _match("type", "m.room.message")],
        "actions": ["notify", _SOUND_DEFAULT],
    },
    {
        "rule_id": ".m.rule.message", "default": True, "enabled": True,
        "conditions": [_match("type", "m.room.message")],
        "actions": ["notify"],
    },
    {
        "rule_id": ".m.rule.encrypted", "default": True, "enabled": True,
        "conditions": [_match("type", "m.room.encrypted")],
        "actions": ["notify"],
    },
]

# kind -> {rule_id: rule}
PREDEFINED: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
PREDEFINED["override"][MASTER_RULE["rule_id"]] = MASTER_RULE
for _rule in DEFAULT_OVERRIDE_RULES:
    PREDEFINED["override"][_rule["rule_id"]] = _rule
for _rule in DEFAULT_UNDERRIDE_RULES:
    PREDEFINED["underride"][_rule["rule_id"]] = _rule


def is_predefined(kind: str, rule_id: str) -> bool:
    return rule_id in PREDEFINED.get(kind, {})


def strip_historical(actions: list[Any]) -> list[Any]:
    """Actions without the historical `dont_notify` / `coalesce` (which must be ignored)."""
    return [a for a in actions if not (isinstance(a, str) and a in HISTORICAL_ACTIONS)]


@dataclass
class UserRule:
    """A rule the user defined (or set with PUT), as stored."""

    kind: str
    rule_id: str
    actions: list[Any]
    enabled: bool = True
    conditions: list[dict[str, Any]] | None = None  # override / underride
    pattern: str | None = None  # content


@dataclass
class PredefinedOverride:
    """What a user changed in a predefined rule: its `enabled` flag and/or its actions."""

    enabled: bool | None = None
    actions: list[Any] | None = None


@dataclass
class UserRules:
    """A user's custom rules per kind, most important first, and their changes to predefined rules."""

    custom: dict[str, list[UserRule]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    overrides: dict[str, PredefinedOverride] = field(default_factory=dict)  # keyed by predefined rule_id


def _predefined_for_user(rule: dict[str, Any], user_id: str, override: PredefinedOverride | None
                         ) -> dict[str, Any]:
    out = copy.deepcopy(rule)
    for cond in out["conditions"]:
        for name in ("pattern", "value"):
            if cond.get(name) == USER_ID:
                cond[name] = user_id
    if override is not None:
        if override.enabled is not None:
            out["enabled"] = override.enabled
        if override.actions is not None:
            out["actions"] = copy.deepcopy(override.actions)
    return out


def custom_rule_json(rule: UserRule) -> dict[str, Any]:
    """A user rule as the client-server API shows it (push_rule.yaml)."""
    out: dict[str, Any] = {"rule_id": rule.rule_id, "default": False, "enabled": rule.enabled,
                           "actions": copy.deepcopy(rule.actions)}
    if rule.kind in ("override", "underride"):
        out["conditions"] = copy.deepcopy(rule.conditions or [])
    elif rule.kind == "content":
        out["pattern"] = rule.pattern
    return out


def merged_ruleset(user_id: str, rules: UserRules) -> dict[str, list[dict[str, Any]]]:
    """The user's whole ruleset (push_ruleset.yaml), each kind in evaluation order:
    `.m.rule.master`, the user's overrides, the default overrides; then content, room and sender
    rules; then the user's underrides before the default underrides."""
    out: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}

    def predefined(rule: dict[str, Any]) -> dict[str, Any]:
        return _predefined_for_user(rule, user_id, rules.overrides.get(rule["rule_id"]))

    out["override"].append(predefined(MASTER_RULE))
    for kind in KINDS:
        out[kind].extend(custom_rule_json(r) for r in rules.custom.get(kind, []))
    out["override"].extend(predefined(r) for r in DEFAULT_OVERRIDE_RULES)
    out["underride"].extend(predefined(r) for r in DEFAULT_UNDERRIDE_RULES)
    return out


def evaluation_rules(ruleset: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """All rules of a merged ruleset in the order they are checked, content/room/sender rules
    turned into their implied conditions (so every rule is {rule_id, enabled, conditions, actions})."""
    flat: list[dict[str, Any]] = []
    for kind in KINDS:
        for rule in ruleset.get(kind, []):
            if kind == "content":
                pattern = rule.get("pattern")
                # A content rule without a pattern cannot match (an unknown condition never does).
                conditions = [_match("content.body", pattern) if isinstance(pattern, str) else {"kind": ""}]
            elif kind == "room":  # exact, not a glob: IDs are matched as they are
                conditions = [{"kind": "event_property_is", "key": "room_id", "value": rule["rule_id"]}]
            elif kind == "sender":
                conditions = [{"kind": "event_property_is", "key": "sender", "value": rule["rule_id"]}]
            else:
                conditions = rule.get("conditions") or []
            flat.append({"rule_id": rule["rule_id"], "kind": kind, "enabled": rule.get("enabled", True),
                         "conditions": conditions, "actions": rule.get("actions", [])})
    return flat

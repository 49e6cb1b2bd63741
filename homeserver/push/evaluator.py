"""Push rule evaluation: which actions (if any) a user's rules give an event. Pure and synchronous.

Build a `PushRuleEvaluator` once from the rules in evaluation order
(`homeserver.push.rules.evaluation_rules`): conditions are compiled to small functions, glob
patterns to cached linear-time matchers (homeserver/util/glob.py). Then `evaluate(event, context)` returns the actions of the first
enabled rule whose conditions all hold, or None; `notification(...)` sums them up as
notify / highlight / sound for unread counts."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from homeserver.push.rules import HISTORICAL_ACTIONS
from homeserver.util.dotted_paths import split_dotted_path
from homeserver.util.glob import Glob

_MISSING = object()
_MAX_SAFE_INT = 2**53 - 1
DEFAULT_NOTIFICATION_LEVEL = 50  # `notifications.room` and any other key without a level


@dataclass(frozen=True)
class PushContext:
    """What evaluation needs to know beyond the event itself, for one recipient."""

    user_id: str
    member_count: int
    display_name: str | None = None
    sender_power_level: int | float = 0  # math.inf for the creators of v12+ rooms
    notification_levels: dict[str, Any] = field(default_factory=dict)  # power levels' `notifications`


@dataclass(frozen=True)
class Notification:
    notify: bool
    highlight: bool
    sound: str | None
    actions: list[Any]


# -- keys and patterns ------------------------------------------------------------------------


def lookup(event: dict[str, Any], key: str) -> Any:
    """The value at a dotted path of the event, or _MISSING."""
    value: Any = event
    for part in split_dotted_path(key):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


@functools.lru_cache(maxsize=4096)
def compiled_glob(pattern: str) -> Glob:
    """Push rule globs are matched case-insensitively, with `*` and `?`."""
    return Glob(pattern, ignore_case=True)


def glob_matches(pattern: str, value: str, words: bool = False) -> bool:
    """Whether `pattern` matches the whole value, or (`words`) any substring of it that starts and
    ends at a word boundary (the value's ends, or a character outside [A-Za-z0-9_])."""
    glob = compiled_glob(pattern)
    return glob.matches_words(value) if words else glob.matches(value)


def _is_simple_value(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool)):
        return True
    return isinstance(value, int) and -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT


def _same_value(a: Any, b: Any) -> bool:
    """Exact canonical-JSON equality: no casting between booleans, integers and strings."""
    return type(a) is type(b) and a == b


# -- conditions -------------------------------------------------------------------------------

Condition = Callable[[dict[str, Any], PushContext], bool]


def _never(event: dict[str, Any], ctx: PushContext) -> bool:
    return False


def _event_match(cond: dict[str, Any]) -> Condition:
    key, pattern = cond.get("key"), cond.get("pattern")
    if not isinstance(key, str) or not isinstance(pattern, str):
        return _never
    glob = compiled_glob(pattern)
    match = glob.matches_words if key == "content.body" else glob.matches

    def check(event: dict[str, Any], ctx: PushContext) -> bool:
        value = lookup(event, key)
        return isinstance(value, str) and match(value)

    return check


def _event_property_is(cond: dict[str, Any]) -> Condition:
    key, expected = cond.get("key"), cond.get("value", _MISSING)
    if not isinstance(key, str) or expected is _MISSING or not _is_simple_value(expected):
        return _never

    def check(event: dict[str, Any], ctx: PushContext) -> bool:
        value = lookup(event, key)
        return _is_simple_value(value) and _same_value(value, expected)

    return check


def _event_property_contains(cond: dict[str, Any]) -> Condition:
    key, expected = cond.get("key"), cond.get("value", _MISSING)
    if not isinstance(key, str) or expected is _MISSING or not _is_simple_value(expected):
        return _never

    def check(event: dict[str, Any], ctx: PushContext) -> bool:
        value = lookup(event, key)
        if not isinstance(value, list):
            return False
        return any(_is_simple_value(v) and _same_value(v, expected) for v in value)

    return check


def _contains_display_name(cond: dict[str, Any]) -> Condition:
    def check(event: dict[str, Any], ctx: PushContext) -> bool:
        if not ctx.display_name:
            return False
        body = lookup(event, "content.body")
        if not isinstance(body, str):
            return False
        return _display_name_glob(ctx.display_name).matches_words(body)

    return check


@functools.lru_cache(maxsize=4096)
def _display_name_glob(name: str) -> Glob:
    return Glob.literal(name, ignore_case=True)


_MEMBER_COUNT_RE = re.compile(r"(==|<=|>=|<|>)?([0-9]+)")
_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "==": lambda a, b: a == b, "<": lambda a, b: a < b, ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
}


def _room_member_count(cond: dict[str, Any]) -> Condition:
    spec = cond.get("is")
    m = _MEMBER_COUNT_RE.fullmatch(spec) if isinstance(spec, str) else None
    if m is None:
        return _never
    compare, number = _COMPARE[m.group(1) or "=="], int(m.group(2))

    def check(event: dict[str, Any], ctx: PushContext) -> bool:
        return compare(ctx.member_count, number)

    return check


def notification_level(levels: dict[str, Any], key: str) -> int | float:
    """The power level needed to send a notification of type `key` (default 50)."""
    value = levels.get(key) if isinstance(levels, dict) else None
    if isinstance(value, bool):
        return DEFAULT_NOTIFICATION_LEVEL
    if isinstance(value, int):
        return value
    if isinstance(value, str):  # older room versions allow levels as strings
        try:
            return int(value.strip())
        except ValueError:
            return DEFAULT_NOTIFICATION_LEVEL
    return DEFAULT_NOTIFICATION_LEVEL


def _sender_notification_permission(cond: dict[str, Any]) -> Condition:
    key = cond.get("key")
    if not isinstance(key, str):
        return _never

    def check(event: dict[str, Any], ctx: PushContext) -> bool:
        return ctx.sender_power_level >= notification_level(ctx.notification_levels, key)

    return check


_CONDITIONS: dict[str, Callable[[dict[str, Any]], Condition]] = {
    "event_match": _event_match,
    "event_property_is": _event_property_is,
    "event_property_contains": _event_property_contains,
    "contains_display_name": _contains_display_name,
    "room_member_count": _room_member_count,
    "sender_notification_permission": _sender_notification_permission,
}


def compile_condition(cond: Any) -> Condition:
    """A condition as a function; unknown (or malformed) conditions never match."""
    if not isinstance(cond, dict):
        return _never
    factory = _CONDITIONS.get(cond.get("kind"))  # type: ignore[arg-type]
    return _never if factory is None else factory(cond)


# -- rules ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CompiledRule:
    rule_id: str
    conditions: tuple[Condition, ...]
    actions: list[Any]


class PushRuleEvaluator:
    """One user's rules, compiled. `rules`: dicts with rule_id, enabled, conditions, actions, in
    the order they are checked; disabled rules are dropped here since they never match."""

    def __init__(self, rules: list[dict[str, Any]]):
        self._rules = [
            _CompiledRule(rule["rule_id"], tuple(compile_condition(c) for c in rule.get("conditions") or []),
                          [a for a in rule.get("actions") or []
                           if not (isinstance(a, str) and a in HISTORICAL_ACTIONS)])
            for rule in rules if rule.get("enabled", True)
        ]

    def matching_rule(self, event: dict[str, Any], ctx: PushContext) -> _CompiledRule | None:
        for rule in self._rules:
            if all(cond(event, ctx) for cond in rule.conditions):
                return rule
        return None

    def evaluate(self, event: dict[str, Any], ctx: PushContext) -> list[Any] | None:
        """The actions of the first enabled rule matching the event, or None if none does."""
        rule = self.matching_rule(event, ctx)
        return None if rule is None else rule.actions

    def notification(self, event: dict[str, Any], ctx: PushContext) -> Notification:
        """notify/highlight/sound for this event; never a notification for the user's own events."""
        if event.get("sender") == ctx.user_id:
            return Notification(False, False, None, [])
        actions = self.evaluate(event, ctx)
        return summarize(actions or [])


def summarize(actions: list[Any]) -> Notification:
    notify = False
    highlight = False
    sound = None
    for action in actions:
        if action == "notify":
            notify = True
        elif isinstance(action, dict):
            tweak = action.get("set_tweak")
            if tweak == "highlight":
                highlight = action.get("value", True) is True
            elif tweak == "sound" and isinstance(action.get("value"), str):
                sound = action["value"]
    # A highlight without `notify` shows nothing: only notifying events count as highlights.
    return Notification(notify, highlight and notify, sound if notify else None, actions)


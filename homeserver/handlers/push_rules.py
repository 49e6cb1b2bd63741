"""Push rules: reading and changing a user's ruleset, and the compiled evaluator for their events."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from homeserver.api.errors import Codes, MatrixError, invalid_param, not_found
from homeserver.push.evaluator import PushRuleEvaluator
from homeserver.push.rules import (
    KINDS,
    PREDEFINED,
    UserRule,
    evaluation_rules,
    merged_ruleset,
    strip_historical,
)
from homeserver.storage.push_rules import PushRulesStore
from homeserver.util.caches import LruCache
from homeserver.util.glob import MAX_GLOB_LENGTH
from homeserver.util.linearizer import Linearizer

if TYPE_CHECKING:
    from homeserver.notifier import Notifier
    from homeserver.storage.account_data import AccountDataStore

KNOWN_ACTIONS = frozenset({"notify", "dont_notify", "coalesce"})


def rule_not_found() -> MatrixError:
    return not_found("The push rule was not found.")


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise invalid_param(f"Unknown push rule kind {kind!r}: must be one of {', '.join(KINDS)}")


# Every rule of every recipient is evaluated against every event they may be notified of: a user's
# rules are bounded in number and size (far above what clients create: one rule per muted room).
MAX_USER_RULES = 2000
MAX_RULE_PARTS = 64  # conditions, or actions, of one rule


def validate_actions(actions: Any) -> list[Any]:
    """The actions, checked (strings we know, or objects naming a tweak) and without the historical
    `dont_notify` / `coalesce`."""
    if not isinstance(actions, list):
        raise MatrixError(400, Codes.BAD_JSON, "'actions' must be an array")
    if len(actions) > MAX_RULE_PARTS:
        raise invalid_param(f"A push rule may have at most {MAX_RULE_PARTS} actions")
    for action in actions:
        if isinstance(action, str):
            if action not in KNOWN_ACTIONS:
                raise invalid_param(f"Unknown push rule action {action!r}")
        elif isinstance(action, dict):
            if not isinstance(action.get("set_tweak"), str):
                raise invalid_param("A push rule action object must have a string 'set_tweak'")
        else:
            raise MatrixError(400, Codes.BAD_JSON, "Push rule actions must be strings or objects")
    return strip_historical(actions)


def validate_conditions(conditions: Any) -> list[dict[str, Any]]:
    if not isinstance(conditions, list):
        raise MatrixError(400, Codes.BAD_JSON, "'conditions' must be an array")
    if len(conditions) > MAX_RULE_PARTS:
        raise invalid_param(f"A push rule may have at most {MAX_RULE_PARTS} conditions")
    for cond in conditions:
        if not isinstance(cond, dict) or not isinstance(cond.get("kind"), str):
            raise MatrixError(400, Codes.BAD_JSON, "Each condition must be an object with a string 'kind'")
        check_pattern_length(cond.get("pattern"))
    return conditions


def check_pattern_length(pattern: Any) -> None:
    """Globs are matched against every event the user may be notified of: bounded in length."""
    if isinstance(pattern, str) and len(pattern) > MAX_GLOB_LENGTH:
        raise invalid_param(f"'pattern' may be at most {MAX_GLOB_LENGTH} characters long")


class PushRulesHandler:
    def __init__(self, store: PushRulesStore, account_data: AccountDataStore | None = None,
                 notifier: Notifier | None = None):
        self._store = store
        self._account_data = account_data
        self._notifier = notifier
        self._lock = Linearizer()
        # An evaluator built from rules read before a change is used for the request that built
        # it, never cached (see LruCache).
        self._evaluators: LruCache[str, PushRuleEvaluator] = LruCache("push_rule_evaluators", 10000)

    # -- reading --------------------------------------------------------------------------------

    async def get_ruleset(self, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """The user's `global` ruleset (push_ruleset.yaml), each kind in evaluation order; this is
        also the content of their `m.push_rules` account data."""
        return merged_ruleset(user_id, await self._store.get_user_rules(user_id))

    async def get_rule(self, user_id: str, kind: str, rule_id: str) -> dict[str, Any]:
        check_kind(kind)
        for rule in (await self.get_ruleset(user_id))[kind]:
            if rule["rule_id"] == rule_id:
                return rule
        raise rule_not_found()

    async def get_account_data_content(self, user_id: str) -> dict[str, Any]:
        """The content of the user's `m.push_rules` account data event."""
        return {"global": await self.get_ruleset(user_id)}

    async def get_evaluator(self, user_id: str) -> PushRuleEvaluator:
        """The user's rules compiled for evaluation (cached until they change them)."""
        async def load() -> PushRuleEvaluator:
            return PushRuleEvaluator(evaluation_rules(await self.get_ruleset(user_id)))

        return await self._evaluators.get_or_load(user_id, load)

    # -- changing -------------------------------------------------------------------------------

    async def set_rule(self, user_id: str, kind: str, rule_id: str, body: dict[str, Any],
                       before: str | None, after: str | None) -> None:
        """PUT a user rule: create it (enabled, first of its kind unless `before`/`after` say
        otherwise) or update it in place (keeping its enabled flag)."""
        check_kind(kind)
        if rule_id.startswith("."):
            raise invalid_param("Rule IDs starting with '.' are reserved for server-default rules")
        if "/" in rule_id or "\\" in rule_id:
            raise invalid_param("Rule IDs may not contain slashes or backslashes")
        if kind == "room" and not rule_id.startswith("!"):
            raise invalid_param("The rule_id of a room rule must be a room ID")
        if kind == "sender" and not rule_id.startswith("@"):
            raise invalid_param("The rule_id of a sender rule must be a user ID")
        if "actions" not in body:
            raise MatrixError(400, Codes.MISSING_PARAM, "Missing parameter: actions")
        actions = validate_actions(body["actions"])
        conditions = None
        pattern = None
        if kind in ("override", "underride"):
            conditions = validate_conditions(body.get("conditions", []))
        elif kind == "content":
            pattern = body.get("pattern")
            if pattern is None:
                raise MatrixError(400, Codes.MISSING_PARAM, "Content rules need a 'pattern'")
            if not isinstance(pattern, str):
                raise MatrixError(400, Codes.BAD_JSON, "'pattern' must be a string")
            check_pattern_length(pattern)
        for other in (before, after):
            if other is not None and other.startswith("."):
                raise MatrixError(400, Codes.UNKNOWN, f"Cannot add a rule relative to a predefined rule: {other}")

        async with self._lock.queue(user_id):
            rules = await self._store.get_user_rules(user_id)
            existing = {r.rule_id: r for r in rules.custom.get(kind, [])}
            order = [r.rule_id for r in rules.custom.get(kind, [])]
            for other in (before, after):
                if other is not None and (other not in existing or other == rule_id):
                    raise MatrixError(400, Codes.UNKNOWN, f"before/after rule not found: {other}")
            old = existing.get(rule_id)
            if old is None and sum(len(of_kind) for of_kind in rules.custom.values()) >= MAX_USER_RULES:
                raise invalid_param(f"A user may have at most {MAX_USER_RULES} push rules of their own")
            if old is None or before is not None or after is not None:
                if rule_id in order:
                    order.remove(rule_id)
                if before is not None:  # `before` wins when both are given
                    order.insert(order.index(before), rule_id)
                elif after is not None:
                    order.insert(order.index(after) + 1, rule_id)
                else:
                    order.insert(0, rule_id)
            rule = UserRule(kind, rule_id, actions, old.enabled if old is not None else True, conditions, pattern)
            await self._store.put_rule(user_id, rule, order)
            await self._changed(user_id)

    async def delete_rule(self, user_id: str, kind: str, rule_id: str) -> None:
        check_kind(kind)
        if rule_id in PREDEFINED[kind]:
            raise invalid_param("Server-default push rules cannot be deleted")
        async with self._lock.queue(user_id):
            if not await self._store.delete_rule(user_id, kind, rule_id):
                raise rule_not_found()
            await self._changed(user_id)

    async def get_enabled(self, user_id: str, kind: str, rule_id: str) -> bool:
        return (await self.get_rule(user_id, kind, rule_id))["enabled"]

    async def get_actions(self, user_id: str, kind: str, rule_id: str) -> list[Any]:
        return (await self.get_rule(user_id, kind, rule_id))["actions"]

    async def set_enabled(self, user_id: str, kind: str, rule_id: str, enabled: bool) -> None:
        check_kind(kind)
        async with self._lock.queue(user_id):
            if rule_id in PREDEFINED[kind]:
                await self._store.set_predefined(user_id, kind, rule_id, enabled=enabled)
            elif not await self._store.set_rule_enabled(user_id, kind, rule_id, enabled):
                raise rule_not_found()
            await self._changed(user_id)

    async def set_actions(self, user_id: str, kind: str, rule_id: str, actions: Any) -> None:
        check_kind(kind)
        actions = validate_actions(actions)
        async with self._lock.queue(user_id):
            if rule_id in PREDEFINED[kind]:
                await self._store.set_predefined(user_id, kind, rule_id, actions=copy.deepcopy(actions))
            elif not await self._store.set_rule_actions(user_id, kind, rule_id, actions):
                raise rule_not_found()
            await self._changed(user_id)

    async def _changed(self, user_id: str) -> None:
        """Drop the cached evaluator; publish the new ruleset as `m.push_rules` account data so the
        user's clients see it in their next /sync."""
        self._evaluators.pop(user_id)
        if self._account_data is not None:
            await self._account_data.put(user_id, "", "m.push_rules", await self.get_account_data_content(user_id))
            if self._notifier is not None:
                self._notifier.on_user_data(user_id)


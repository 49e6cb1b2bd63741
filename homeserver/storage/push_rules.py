"""Push rules: a user's own rules (ordered per kind) and their changes to predefined rules."""

from __future__ import annotations

import json
from typing import Any

from homeserver.push.rules import PredefinedOverride, UserRule, UserRules
from homeserver.storage.database import Database, Transaction


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class PushRulesStore:
    def __init__(self, db: Database):
        self._db = db

    async def get_user_rules(self, user_id: str) -> UserRules:
        def txn_fn(txn: Transaction) -> UserRules:
            rules = UserRules()
            rows = txn.execute(
                "SELECT kind, rule_id, conditions, pattern, actions, enabled FROM push_rules WHERE user_id = ? "
                "ORDER BY kind, priority DESC", (user_id,)).fetchall()
            for kind, rule_id, conditions, pattern, actions, enabled in rows:
                rules.custom.setdefault(kind, []).append(UserRule(
                    kind, rule_id, json.loads(actions), bool(enabled),
                    json.loads(conditions) if conditions is not None else None, pattern))
            rows = txn.execute(
                "SELECT rule_id, enabled, actions FROM push_rules_predefined WHERE user_id = ?",
                (user_id,)).fetchall()
            for rule_id, enabled, actions in rows:
                rules.overrides[rule_id] = PredefinedOverride(
                    None if enabled is None else bool(enabled), None if actions is None else json.loads(actions))
            return rules

        return await self._db.run("get_push_rules", txn_fn)

    async def put_rule(self, user_id: str, rule: UserRule, order: list[str]) -> None:
        """Insert or replace `rule` and renumber the kind's rules so they follow `order` (every
        rule_id of the kind, most important first, `rule.rule_id` included)."""
        def txn_fn(txn: Transaction) -> None:
            txn.execute("DELETE FROM push_rules WHERE user_id = ? AND kind = ? AND rule_id = ?",
                        (user_id, rule.kind, rule.rule_id))
            txn.execute(
                "INSERT INTO push_rules (user_id, kind, rule_id, priority, conditions, pattern, actions, enabled) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (user_id, rule.kind, rule.rule_id, 0,
                 None if rule.conditions is None else _dumps(rule.conditions), rule.pattern,
                 _dumps(rule.actions), rule.enabled))
            count = len(order)
            txn.executemany(
                "UPDATE push_rules SET priority = ? WHERE user_id = ? AND kind = ? AND rule_id = ?",
                [(count - i, user_id, rule.kind, rule_id) for i, rule_id in enumerate(order)])

        await self._db.run("put_push_rule", txn_fn)

    async def delete_rule(self, user_id: str, kind: str, rule_id: str) -> bool:
        def txn_fn(txn: Transaction) -> bool:
            cur = txn.execute("DELETE FROM push_rules WHERE user_id = ? AND kind = ? AND rule_id = ?",
                              (user_id, kind, rule_id))
            return cur.rowcount > 0

        return await self._db.run("delete_push_rule", txn_fn)

    async def set_rule_enabled(self, user_id: str, kind: str, rule_id: str, enabled: bool) -> bool:
        def txn_fn(txn: Transaction) -> bool:
            cur = txn.execute("UPDATE push_rules SET enabled = ? WHERE user_id = ? AND kind = ? AND rule_id = ?",
                              (enabled, user_id, kind, rule_id))
            return cur.rowcount > 0

        return await self._db.run("set_push_rule_enabled", txn_fn)

    async def set_rule_actions(self, user_id: str, kind: str, rule_id: str, actions: list[Any]) -> bool:
        def txn_fn(txn: Transaction) -> bool:
            cur = txn.execute("UPDATE push_rules SET actions = ? WHERE user_id = ? AND kind = ? AND rule_id = ?",
                              (_dumps(actions), user_id, kind, rule_id))
            return cur.rowcount > 0

        return await self._db.run("set_push_rule_actions", txn_fn)

    async def set_predefined(self, user_id: str, kind: str, rule_id: str, *, enabled: bool | None = None,
                             actions: list[Any] | None = None) -> None:
        """Record a change to a predefined rule; the arguments left None keep their stored value."""
        def txn_fn(txn: Transaction) -> None:
            row = txn.execute(
                "SELECT enabled, actions FROM push_rules_predefined WHERE user_id = ? AND kind = ? AND rule_id = ?",
                (user_id, kind, rule_id)).fetchone()
            new_enabled = enabled if enabled is not None else (None if row is None or row[0] is None
                                                               else bool(row[0]))
            new_actions = _dumps(actions) if actions is not None else (row[1] if row is not None else None)
            txn.execute("DELETE FROM push_rules_predefined WHERE user_id = ? AND kind = ? AND rule_id = ?",
                        (user_id, kind, rule_id))
            txn.execute("INSERT INTO push_rules_predefined (user_id, kind, rule_id, enabled, actions) "
                        "VALUES (?, ?, ?, ?, ?)", (user_id, kind, rule_id, new_enabled, new_actions))

        await self._db.run("set_push_rule_predefined", txn_fn)

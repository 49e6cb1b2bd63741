"""User-interactive auth sessions: what was asked, which stages are done, per-session data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from homeserver.storage.database import Database, Transaction


@dataclass(frozen=True)
class UIASession:
    session_id: str
    creation_time: int
    method: str
    uri: str
    clientdict: dict[str, Any]
    user_id: str | None
    flows: list[list[str]]


class UIAStore:
    def __init__(self, db: Database):
        self._db = db

    async def create_session(
        self, session_id: str, now_ms: int, method: str, uri: str, clientdict: dict[str, Any],
        user_id: str | None, flows: list[list[str]],
    ) -> None:
        await self._db.run(
            "create_ui_auth_session",
            lambda txn: txn.execute(
                "INSERT INTO ui_auth_sessions (session_id, creation_time, method, uri, clientdict, user_id, flows) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session_id, now_ms, method, uri, json.dumps(clientdict), user_id, json.dumps(flows)),
            ),
        )

    async def get_session(self, session_id: str) -> UIASession | None:
        rows = await self._db.execute(
            "get_ui_auth_session",
            "SELECT session_id, creation_time, method, uri, clientdict, user_id, flows FROM ui_auth_sessions "
            "WHERE session_id = ?",
            session_id,
        )
        if not rows:
            return None
        r = rows[0]
        return UIASession(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], json.loads(r[6]))

    async def mark_stage_completed(self, session_id: str, stage_type: str, result: Any) -> None:
        def txn_fn(txn: Transaction) -> None:
            txn.execute(
                "DELETE FROM ui_auth_sessions_credentials WHERE session_id = ? AND stage_type = ?",
                (session_id, stage_type),
            )
            txn.execute(
                "INSERT INTO ui_auth_sessions_credentials (session_id, stage_type, result) VALUES (?, ?, ?)",
                (session_id, stage_type, json.dumps(result)),
            )

        await self._db.run("mark_ui_auth_stage_completed", txn_fn)

    async def get_completed_stages(self, session_id: str) -> dict[str, Any]:
        rows = await self._db.execute(
            "get_completed_ui_auth_stages",
            "SELECT stage_type, result FROM ui_auth_sessions_credentials WHERE session_id = ?",
            session_id,
        )
        return {stage: json.loads(result) for stage, result in rows}

    async def set_session_data(self, session_id: str, key: str, value: Any) -> None:
        def txn_fn(txn: Transaction) -> None:
            txn.execute("DELETE FROM ui_auth_sessions_data WHERE session_id = ? AND key = ?", (session_id, key))
            txn.execute(
                "INSERT INTO ui_auth_sessions_data (session_id, key, value) VALUES (?, ?, ?)",
                (session_id, key, json.dumps(value)),
            )

        await self._db.run("set_ui_auth_session_data", txn_fn)

    async def get_session_data(self, session_id: str, key: str) -> Any:
        rows = await self._db.execute(
            "get_ui_auth_session_data",
            "SELECT value FROM ui_auth_sessions_data WHERE session_id = ? AND key = ?",
            session_id, key,
        )
        return json.loads(rows[0][0]) if rows else None

    async def delete_session(self, session_id: str) -> None:
        await self._db.run("delete_ui_auth_session", self._delete_sessions_txn, [session_id])

    def _delete_sessions_txn(self, txn: Transaction, session_ids: list[str]) -> None:
        for sid in session_ids:
            txn.execute("DELETE FROM ui_auth_sessions_credentials WHERE session_id = ?", (sid,))
            txn.execute("DELETE FROM ui_auth_sessions_data WHERE session_id = ?", (sid,))
            txn.execute("DELETE FROM ui_auth_sessions WHERE session_id = ?", (sid,))

    async def delete_sessions_older_than(self, cutoff_ms: int) -> list[tuple[str, Any]]:
        """Remove expired sessions; returns (session_id, registration token or None) for each."""

        def txn_fn(txn: Transaction) -> list[tuple[str, Any]]:
            rows = txn.execute(
                "SELECT s.session_id, d.value FROM ui_auth_sessions s LEFT JOIN ui_auth_sessions_data d "
                "ON d.session_id = s.session_id AND d.key = 'registration_token' WHERE s.creation_time < ?",
                (cutoff_ms,),
            ).fetchall()
            self._delete_sessions_txn(txn, [r[0] for r in rows])
            return [(r[0], json.loads(r[1]) if r[1] else None) for r in rows]

        return await self._db.run("delete_old_ui_auth_sessions", txn_fn)

"""The two database engines behind one interface: SQLite (default) and PostgreSQL.

SQL in stores is written once with `?` placeholders; the PostgreSQL engine rewrites them."""

from __future__ import annotations

import sqlite3
from functools import lru_cache
from typing import Any


class SQLiteEngine:
    name = "sqlite3"
    IntegrityError = sqlite3.IntegrityError
    # Errors after which the connection is dropped and the transaction retried once.
    ConnectionErrors: tuple[type[BaseException], ...] = ()
    RetryableErrors: tuple[type[BaseException], ...] = (sqlite3.OperationalError,)
    # SQLite has one writer at a time: more threads would only wait on its lock.
    default_pool_size = 1

    def __init__(self, args: dict[str, Any]):
        self.path = args["database"]

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        # FULL: a committed transaction survives a crash or power loss, not just a process kill.
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def begin(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN")

    @staticmethod
    def convert(sql: str) -> str:
        return sql

    def is_retryable(self, e: BaseException) -> bool:
        return isinstance(e, sqlite3.OperationalError) and "locked" in str(e)


class PostgresEngine:
    name = "psycopg2"
    default_pool_size = 5

    def __init__(self, args: dict[str, Any]):
        import psycopg2
        import psycopg2.errors
        import psycopg2.extensions

        self._psycopg2 = psycopg2
        self.IntegrityError = psycopg2.IntegrityError
        self.ConnectionErrors = (psycopg2.OperationalError, psycopg2.InterfaceError)
        self._retryable = (psycopg2.errors.SerializationFailure, psycopg2.errors.DeadlockDetected)
        self.args = {k: v for k, v in args.items() if k not in ("cp_min", "cp_max", "cp_reconnect")}
        self.pool_size = int(args.get("cp_max", self.default_pool_size))

    def connect(self):
        conn = self._psycopg2.connect(**self.args)
        conn.set_session(autocommit=False)
        return conn

    def begin(self, conn) -> None:
        pass  # psycopg2 opens a transaction on the first statement

    @staticmethod
    @lru_cache(maxsize=4096)
    def convert(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def is_retryable(self, e: BaseException) -> bool:
        return isinstance(e, self._retryable)


def create_engine(name: str, args: dict[str, Any]) -> SQLiteEngine | PostgresEngine:
    if name == "sqlite3":
        return SQLiteEngine(args)
    if name == "psycopg2":
        return PostgresEngine(args)
    raise ValueError(f"Unknown database engine {name!r}")

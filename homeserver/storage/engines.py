"""The two database engines behind one interface: SQLite (default) and PostgreSQL.

SQL in stores is written once with `?` placeholders; the PostgreSQL engine rewrites them."""

from __future__ import annotations

import sqlite3
from functools import lru_cache
from typing import Any


class MissingDriverError(ImportError):
    """The configured engine's Python driver is not installed."""


MISSING_PSYCOPG2 = (
    "database.name is psycopg2 (PostgreSQL) but the psycopg2 module is not installed. Install the "
    "server with its postgres extra: pip install -c constraints.txt '.[postgres]' (or "
    "scripts/setup-env.sh postgres); building psycopg2 needs libpq-dev, python3-dev and a C compiler. "
    "Or use name: sqlite3, which needs nothing more."
)


class ScriptError(ValueError):
    """A script ends inside a statement (an unterminated string, trigger or statement)."""


def sqlite_statements(sql: str) -> list[str]:
    """The statements of an SQLite script, cut where SQLite's own tokenizer says one is complete
    (sqlite3.complete_statement): a `;` in a string, a comment or a trigger's BEGIN ... END body
    does not end one. Parts holding only comments and whitespace are dropped."""
    statements: list[str] = []
    pending = ""
    for part in sql.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if _has_code(pending):
                statements.append(pending.strip())
            pending = ""
    if _has_code(pending[:-1]):
        raise ScriptError(f"incomplete SQL statement at the end of the script: {pending[:-1].strip()[:200]!r}")
    return statements


def _has_code(sql: str) -> bool:
    """False for text that is only whitespace, `;`, `-- line` and `/* block */` comments."""
    return bool(_strip_comments(sql).strip(" \t\r\n;"))


def _strip_comments(sql: str) -> str:
    out, i, n = [], 0, len(sql)
    while i < n:
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif sql[i] in "'\"":
            end = sql.find(sql[i], i + 1)
            end = n if end < 0 else end + 1
            out.append(sql[i:end])
            i = end
        else:
            out.append(sql[i])
            i += 1
    return "".join(out)


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
    def execute_script(cursor: sqlite3.Cursor, sql: str) -> None:
        # Not executescript(): it would COMMIT the transaction the script belongs to first.
        for statement in sqlite_statements(sql):
            cursor.execute(statement)

    @staticmethod
    def convert(sql: str) -> str:
        return sql

    def is_retryable(self, e: BaseException) -> bool:
        return isinstance(e, sqlite3.OperationalError) and "locked" in str(e)


class PostgresEngine:
    name = "psycopg2"
    default_pool_size = 5

    def __init__(self, args: dict[str, Any]):
        # An optional dependency (the `postgres` extra): a SQLite install has no compiler to build it.
        try:
            import psycopg2
            import psycopg2.errors
            import psycopg2.extensions
        except ImportError as e:
            raise MissingDriverError(MISSING_PSYCOPG2) from e

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
    def execute_script(cursor: Any, sql: str) -> None:
        # The whole script in one call: the server parses it (dollar-quoted function bodies
        # included). No arguments, so psycopg2 leaves `%` and `?` alone.
        cursor.execute(sql)

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

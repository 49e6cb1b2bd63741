"""Run SQL transactions in a thread pool, off the reactor, with one connection per thread."""

from __future__ import annotations

import contextvars
import inspect
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from twisted.internet import threads
from twisted.python.threadpool import ThreadPool

from homeserver import metrics
from homeserver.storage.engines import PostgresEngine, SQLiteEngine

logger = logging.getLogger(__name__)
R = TypeVar("R")
IN_CHUNK = 500  # values per IN (...) list


class Transaction:
    """A thin cursor wrapper: converts placeholders and collects after-commit callbacks."""

    __slots__ = ("_cursor", "_convert", "_script", "after_commit")

    def __init__(self, cursor: Any, convert: Callable[[str], str],
                 script: Callable[[Any, str], None] | None = None):
        self._cursor = cursor
        self._convert = convert
        self._script = script
        self.after_commit: list[Callable[[], Any]] = []

    def execute(self, sql: str, args: tuple | list = ()) -> Transaction:
        self._cursor.execute(self._convert(sql), tuple(args))
        return self

    def execute_script(self, sql: str) -> None:
        """Several statements as written (no placeholders), inside this transaction, split only
        where the engine's own parser ends a statement: a function or trigger body keeps its `;`."""
        assert self._script is not None, "this transaction's engine runs no scripts"
        self._script(self._cursor, sql)

    def executemany(self, sql: str, rows: list[tuple]) -> None:
        self._cursor.executemany(self._convert(sql), rows)

    def select_in(self, sql: str, values: Sequence[Any], before: Sequence[Any] = (),
                  after: Sequence[Any] = ()) -> list[tuple]:
        """All rows of `sql`, whose `{in}` stands for `IN (?, ...)` over `values`. Runs in chunks,
        so no statement carries more parameters than an engine accepts. `before`/`after`: the
        arguments of the placeholders around it."""
        rows: list[tuple] = []
        for i in range(0, len(values), IN_CHUNK):
            chunk = list(values[i:i + IN_CHUNK])
            marks = f"IN ({','.join('?' * len(chunk))})"
            rows += self.execute(sql.replace("{in}", marks), [*before, *chunk, *after]).fetchall()
        return rows

    def fetchone(self) -> tuple | None:
        return self._cursor.fetchone()

    def fetchall(self) -> list[tuple]:
        return self._cursor.fetchall()

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def call_after_commit(self, fn: Callable[[], Any]) -> None:
        """Run `fn` on the reactor thread once this transaction has committed (cache invalidation).
        If it returns an awaitable, `Database.run` awaits it before returning."""
        self.after_commit.append(fn)


class Database:
    def __init__(self, engine: SQLiteEngine | PostgresEngine, reactor: Any, pool_size: int | None = None):
        self.engine = engine
        self.IntegrityError = engine.IntegrityError
        self._reactor = reactor
        size = pool_size or getattr(engine, "pool_size", engine.default_pool_size)
        self._pool = ThreadPool(minthreads=1, maxthreads=size, name="db")
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._pool.start()
            self._started = True

    def stop(self) -> None:
        if self._started:
            self._pool.stop()
            self._started = False
        with self._lock:
            for conn in self._connections:
                try:
                    conn.close()
                except Exception:  # closing a broken connection is best-effort
                    pass
            self._connections.clear()

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.engine.connect()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                if conn in self._connections:
                    self._connections.remove(conn)
            try:
                conn.close()
            except Exception:
                pass

    def _run_in_thread(self, desc: str, func: Callable[..., R], args: tuple) -> tuple[R, list]:
        attempts = 0
        while True:
            attempts += 1
            conn = None
            try:
                conn = self._connection()
                self.engine.begin(conn)
                txn = Transaction(conn.cursor(), self.engine.convert, self.engine.execute_script)
                start = time.perf_counter()
                result = func(txn, *args)
                conn.commit() if self.engine.name == "psycopg2" else conn.execute("COMMIT")
                metrics.db_txn_duration.labels(desc).observe(time.perf_counter() - start)
                return result, txn.after_commit
            except Exception as e:
                # Checked first: psycopg2's deadlock and serialization errors subclass its
                # OperationalError, which otherwise means the connection is gone.
                if self.engine.is_retryable(e):
                    self._rollback(conn)
                    if attempts < 5:
                        logger.info("Retrying %s after %s", desc, e)
                        continue
                    raise
                if isinstance(e, self.engine.ConnectionErrors):
                    self._drop_connection()
                    if attempts >= 2:
                        raise
                    logger.warning("Database connection lost during %s (%s); reconnecting", desc, e)
                    continue
                self._rollback(conn)
                raise

    def _rollback(self, conn: Any) -> None:
        if conn is None:
            return
        try:
            if self.engine.name == "psycopg2":
                conn.rollback()
            elif conn.in_transaction:
                conn.execute("ROLLBACK")
        except Exception:
            self._drop_connection()

    async def run(self, desc: str, func: Callable[..., R], *args: Any) -> R:
        """Run `func(txn, *args)` in one transaction on a pool thread; commit, or roll back on error."""
        metrics.db_txn_count.labels(desc).inc()
        ctx = contextvars.copy_context()  # keeps the request id in the thread's log lines
        result, after = await threads.deferToThreadPool(
            self._reactor, self._pool, ctx.run, self._run_in_thread, desc, func, args
        )
        for fn in after:
            follow_up = fn()
            if inspect.isawaitable(follow_up):
                await follow_up  # e.g. a device-list change: recorded before the caller goes on
        return result

    async def execute(self, desc: str, sql: str, *args: Any) -> list[tuple]:
        """One statement, all rows back."""
        return await self.run(desc, lambda txn: txn.execute(sql, args).fetchall())

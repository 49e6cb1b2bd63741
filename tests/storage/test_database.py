"""The database layer on the engine under test: migrations, transactions, refusing newer schemas."""

import os
import tempfile

from twisted.internet import reactor
from twisted.trial import unittest

from homeserver.storage.database import Database
from homeserver.storage.engines import create_engine
from homeserver.storage.prepare import SchemaError, migrations, prepare_database, split_statements
from tests.server import postgres_args, reset_postgres_schema, use_postgres


class DatabaseTest(unittest.TestCase):
    def setUp(self) -> None:
        if use_postgres():
            reset_postgres_schema()
            engine = create_engine("psycopg2", postgres_args())
        else:
            self.dir = tempfile.mkdtemp()
            engine = create_engine("sqlite3", {"database": os.path.join(self.dir, "t.db")})
        self.db = Database(engine, reactor)
        self.db.start()
        self.addCleanup(self.db.stop)

    async def test_migrations_apply_once(self) -> None:
        latest = await prepare_database(self.db)
        self.assertEqual(latest, migrations(self.db.engine.name)[-1][0])
        self.assertEqual(await prepare_database(self.db), latest)
        rows = await self.db.execute("v", "SELECT version FROM schema_version")
        self.assertEqual(rows, [(latest,)])

    async def test_refuses_newer_schema(self) -> None:
        latest = await prepare_database(self.db)
        await self.db.run("bump", lambda txn: txn.execute("UPDATE schema_version SET version = ?", (latest + 1,)))
        with self.assertRaises(SchemaError) as cm:
            await prepare_database(self.db)
        self.assertIn("newer", str(cm.exception))

    async def test_failed_transaction_rolls_back(self) -> None:
        await prepare_database(self.db)

        def txn_fn(txn):
            txn.execute("INSERT INTO users (user_id, created_ts) VALUES (?, ?)", ("@a:x", 1))
            raise ValueError("boom")

        with self.assertRaises(ValueError):
            await self.db.run("fail", txn_fn)
        self.assertEqual(await self.db.execute("count", "SELECT COUNT(*) FROM users"), [(0,)])
        # The connection is still usable afterwards.
        await self.db.run("ok", lambda txn: txn.execute("INSERT INTO users (user_id, created_ts) VALUES (?, ?)",
                                                       ("@a:x", 1)))
        self.assertEqual(await self.db.execute("count", "SELECT COUNT(*) FROM users"), [(1,)])

    async def test_integrity_error_is_the_engines(self) -> None:
        await prepare_database(self.db)
        insert = "INSERT INTO users (user_id, created_ts) VALUES (?, ?)"
        await self.db.run("a", lambda txn: txn.execute(insert, ("@a:x", 1)))
        with self.assertRaises(self.db.IntegrityError):
            await self.db.run("b", lambda txn: txn.execute(insert, ("@a:x", 2)))

    async def test_foreign_keys_enforced(self) -> None:
        await prepare_database(self.db)
        with self.assertRaises(self.db.IntegrityError):
            await self.db.run("fk", lambda txn: txn.execute(
                "INSERT INTO devices (user_id, device_id) VALUES (?, ?)", ("@ghost:x", "D")))

    def test_split_statements(self) -> None:
        sql = "-- comment; with semicolon\nCREATE TABLE a (x INT);\n\nCREATE TABLE b (y INT);\n"
        self.assertEqual(split_statements(sql), ["CREATE TABLE a (x INT)", "CREATE TABLE b (y INT)"])


class SQLitePragmasTest(unittest.TestCase):
    def test_wal_and_foreign_keys(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            conn = create_engine("sqlite3", {"database": os.path.join(d, "t.db")}).connect()
            self.assertEqual(conn.execute("PRAGMA journal_mode").fetchone()[0], "wal")
            self.assertEqual(conn.execute("PRAGMA foreign_keys").fetchone()[0], 1)
            conn.close()

"""The database layer on the engine under test: migrations, transactions, refusing newer schemas."""

import os
import sqlite3
import tempfile

from twisted.internet import reactor
from twisted.trial import unittest

from homeserver.storage import prepare
from homeserver.storage.database import Database
from homeserver.storage.engines import create_engine, sqlite_statements
from homeserver.storage.prepare import SchemaError, migrations, prepare_database
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

    def test_sqlite_statements(self) -> None:
        sql = ("-- comment; with semicolon\nCREATE TABLE a (x INT);\n\nCREATE TABLE b (y TEXT DEFAULT 'a;b');\n"
               "/* c; d */ ;\nCREATE TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO b VALUES ('x;'); END;\n-- end;\n")
        self.assertEqual(sqlite_statements(sql), [
            "-- comment; with semicolon\nCREATE TABLE a (x INT);", "CREATE TABLE b (y TEXT DEFAULT 'a;b');",
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO b VALUES ('x;'); END;"])

    def with_extra_migration(self, sql: str) -> int:
        """The real migrations, then one more made of `sql`; returns its version."""
        real = migrations(self.db.engine.name)
        version = real[-1][0] + 1
        self.patch(prepare, "migrations", lambda engine: [*real, (version, f"{version:03}_test.sql", sql)])
        return version

    async def test_migration_with_trigger_and_function_bodies(self) -> None:
        # A body has semicolons of its own; '%' and '?' in a migration are not placeholders.
        if use_postgres():
            sql = """
                CREATE TABLE trig_test (x INTEGER, note TEXT DEFAULT '100%; sure?');
                CREATE TABLE trig_log (x INTEGER);
                -- each insert is logged twice; by the function below
                CREATE FUNCTION trig_test_log() RETURNS trigger AS $$
                BEGIN
                    INSERT INTO trig_log (x) VALUES (NEW.x);
                    INSERT INTO trig_log (x) VALUES (NEW.x * 10);
                    RETURN NEW;
                END;
                $$ LANGUAGE plpgsql;
                CREATE TRIGGER trig_test_log AFTER INSERT ON trig_test FOR EACH ROW EXECUTE FUNCTION trig_test_log();
            """
        else:
            sql = """
                CREATE TABLE trig_test (x INTEGER, note TEXT DEFAULT '100%; sure?');
                CREATE TABLE trig_log (x INTEGER);
                -- each insert is logged twice; by the trigger below
                CREATE TRIGGER trig_test_log AFTER INSERT ON trig_test BEGIN
                    INSERT INTO trig_log (x) VALUES (NEW.x);
                    INSERT INTO trig_log (x) VALUES (NEW.x * 10);
                END;
            """
        version = self.with_extra_migration(sql)
        self.assertEqual(await prepare_database(self.db), version)
        await self.db.run("insert", lambda txn: txn.execute("INSERT INTO trig_test (x) VALUES (?)", (7,)))
        self.assertEqual(sorted(await self.db.execute("log", "SELECT x FROM trig_log")), [(7,), (70,)])
        self.assertEqual(await self.db.execute("note", "SELECT note FROM trig_test"), [("100%; sure?",)])

    async def test_a_failing_migration_changes_nothing(self) -> None:
        latest = await prepare_database(self.db)
        version = self.with_extra_migration("CREATE TABLE half_done (x INTEGER);\nCREATE TABLE broken (;\n")
        if use_postgres():
            import psycopg2

            database_error: type[Exception] = psycopg2.DatabaseError
        else:
            database_error = sqlite3.DatabaseError
        with self.assertRaises(database_error):
            await prepare_database(self.db)
        self.assertEqual(await self.db.execute("v", "SELECT version FROM schema_version"), [(latest,)])
        with self.assertRaises(database_error):
            await self.db.execute("t", "SELECT * FROM half_done")
        self.assertEqual(version, latest + 1)


class SQLitePragmasTest(unittest.TestCase):
    def test_wal_and_foreign_keys(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            conn = create_engine("sqlite3", {"database": os.path.join(d, "t.db")}).connect()
            self.assertEqual(conn.execute("PRAGMA journal_mode").fetchone()[0], "wal")
            self.assertEqual(conn.execute("PRAGMA foreign_keys").fetchone()[0], 1)
            conn.close()

"""Numbered schema migrations, applied at start-up, each in one transaction with the version bump.

Files in storage/schema/ are named NNN_description.sql. A file may have engine-specific twins
(NNN_description.sqlite.sql / NNN_description.postgres.sql) where the dialects differ.

A file is not cut at every `;` (a trigger or function body has its own): SQLite gets it statement
by statement as its own parser delimits them, PostgreSQL the whole file at once (engines.py)."""

from __future__ import annotations

import logging
import re
from importlib import resources

from homeserver.storage.database import Database, Transaction

logger = logging.getLogger(__name__)
_NAME_RE = re.compile(r"^(\d{3})_([a-z0-9_]+?)(?:\.(sqlite|postgres))?\.sql$")


class SchemaError(Exception):
    pass


def migrations(engine_name: str) -> list[tuple[int, str, str]]:
    """[(version, filename, sql)] for this engine, in order."""
    dialect = "sqlite" if engine_name == "sqlite3" else "postgres"
    found: dict[int, tuple[str, str]] = {}
    for entry in resources.files("homeserver.storage.schema").iterdir():
        m = _NAME_RE.fullmatch(entry.name)
        if not m or m.group(3) not in (None, dialect):
            continue
        version = int(m.group(1))
        if version in found and m.group(3) is None:
            continue  # the dialect-specific twin wins
        found[version] = (entry.name, entry.read_text())
    versions = sorted(found)
    if versions != list(range(1, len(versions) + 1)):
        raise SchemaError(f"Schema migrations are not numbered 1..N: {versions}")
    return [(v, *found[v]) for v in versions]


def _current_version(txn: Transaction) -> int:
    txn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = txn.execute("SELECT version FROM schema_version").fetchone()
    if row is None:
        txn.execute("INSERT INTO schema_version (version) VALUES (0)")
        return 0
    return row[0]


async def prepare_database(db: Database) -> int:
    """Bring the schema up to date; refuse a database newer than this code. Returns the version."""
    todo = migrations(db.engine.name)
    latest = todo[-1][0] if todo else 0
    current = await db.run("schema_version", _current_version)
    if current > latest:
        raise SchemaError(
            f"The database schema is version {current}, newer than this server's {latest}: "
            "it was used by a newer release. Upgrade the server (downgrades are not supported)."
        )
    for version, name, sql in todo:
        if version <= current:
            continue

        def apply(txn: Transaction, version: int = version, sql: str = sql) -> None:
            txn.execute_script(sql)
            txn.execute("UPDATE schema_version SET version = ?", (version,))

        logger.info("Applying schema migration %s", name)
        await db.run(f"migration_{version}", apply)
    return latest

"""Every third-party module the server imports is declared in setup.cfg (the PostgreSQL driver
only as the `postgres` extra), every declared package is pinned in constraints.txt, and unpadded
base64 is unpaddedbase64's, not written again by hand."""

from __future__ import annotations

import ast
import configparser
import re
import sys
from importlib import metadata
from pathlib import Path

from twisted.trial import unittest

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _imports() -> dict[str, set[str]]:
    """top-level module -> files of homeserver/ importing it (absolute imports only)."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "homeserver").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


class DependencyTests(unittest.TestCase):
    def setUp(self) -> None:
        cfg = configparser.ConfigParser()
        cfg.read(ROOT / "setup.cfg")
        self.required = {_name(r) for r in cfg["options"]["install_requires"].split("\n") if r.strip()}
        self.extras = {k: {_name(r) for r in v.split("\n") if r.strip()}
                       for k, v in cfg["options.extras_require"].items()}

    def test_imports_are_declared(self) -> None:
        distributions = metadata.packages_distributions()
        undeclared = {}
        for module, files in _imports().items():
            if module in sys.stdlib_module_names or module in ("homeserver", "__future__"):
                continue
            names = {_name(d) for d in distributions.get(module, [module])}
            if module == "psycopg2":
                self.assertTrue(names & self.extras["postgres"], "psycopg2 belongs to the postgres extra")
                self.assertFalse(names & self.required, "a SQLite install must not need psycopg2")
            elif not names & self.required:
                undeclared[module] = sorted(files)
        self.assertEqual(undeclared, {})

    def test_declared_packages_are_pinned(self) -> None:
        pins = {}
        for line in (ROOT / "constraints.txt").read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, _, version = line.partition("==")
                self.assertTrue(version, f"not an exact pin: {line}")
                pins[_name(name)] = version
        for name in self.required | set().union(*self.extras.values()):
            self.assertIn(name, pins)

    def test_no_hand_written_unpadded_base64(self) -> None:
        pattern = re.compile(r"""rstrip\(b?["']="\)|["']=["'] \* \(""")
        offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "homeserver").rglob("*.py")
                     if pattern.search(p.read_text())]
        self.assertEqual(offenders, [])

#!/usr/bin/env python3
"""Merge the Matrix client-server (and server-server) API of the spec into one OpenAPI 3.1 document each.

The spec describes each API as one OpenAPI 3.1 file per area
(``data/api/client-server/*.yaml``, ``data/api/server-server/*.yaml``), each with its own ``servers`` base path and ``$ref``s into
``definitions/``, the event schemas and examples, and its own ``components``. This script makes
one self-contained document of each, for the spec fuzz tests (tests/clients/test_fuzz_client_api.py,
tests/clients/test_fuzz_federation_api.py):

- every path is prefixed with its file's base path (``/_matrix/client/v3``, ``/_matrix/client/v1``,
  ``/_matrix/media/v3``, ``/.well-known``...), so the document's server is just the origin;
- every ``$ref`` (to another file, or to the file's own ``#/components/...``) is replaced by what
  it points at, with any keys written beside the ``$ref`` laid over it (the spec's own meaning for
  its examples); a reference back into a schema being expanded (recursion) becomes ``{}``;
- the security schemes are the spec's (``definitions/security.yaml``).

The results are vendored as tests/clients/openapi/{client-server,server-server}.json, so CI never
reads the spec directory; regenerate them after updating the spec:

    .venv/bin/python scripts/merge-openapi.py            # ../shared/matrix-spec by default
    .venv/bin/python scripts/merge-openapi.py --spec /path/to/matrix-spec --check   # up to date?
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = REPO_ROOT.parent / "shared" / "matrix-spec"
DEFAULT_OUT = REPO_ROOT / "tests" / "clients" / "openapi"
APIS = ("client-server", "server-server")


class _Loader(yaml.SafeLoader):
    """YAML without implicit timestamps: example values like 2024-01-01 stay strings (as in JSON)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class Merger:
    def __init__(self) -> None:
        self._files: dict[Path, Any] = {}

    def load(self, path: Path) -> Any:
        path = path.resolve()
        if path not in self._files:
            with open(path, encoding="utf-8") as f:
                self._files[path] = yaml.load(f, Loader=_Loader)  # noqa: S506 (a SafeLoader)
        return self._files[path]

    @staticmethod
    def _pointer(doc: Any, fragment: str) -> Any:
        node = doc
        for part in fragment.lstrip("/").split("/") if fragment.strip("/") else []:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def resolve(self, node: Any, base: Path, stack: tuple[tuple[Path, str], ...] = ()) -> Any:
        """``node`` (found in file ``base``) with every $ref in it replaced by its target."""
        if isinstance(node, list):
            return [self.resolve(item, base, stack) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            target_file, _, fragment = ref.partition("#")
            path = (base.parent / target_file).resolve() if target_file else base.resolve()
            key = (path, fragment)
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if key in stack:  # recursion: any value
                target: Any = {}
            else:
                raw = self._pointer(self.load(path), fragment)
                target = self.resolve(copy.deepcopy(raw), path, stack + (key,))
            if siblings:
                resolved_siblings = self.resolve(siblings, base, stack)
                if isinstance(target, dict):
                    return {**target, **resolved_siblings}
                return resolved_siblings
            return target
        return {k: self.resolve(v, base, stack) for k, v in node.items()}


def merge(spec_dir: Path, api: str) -> dict[str, Any]:
    api_dir = spec_dir / "data" / "api" / api
    files = sorted(api_dir.glob("*.yaml"))
    if not files:
        raise SystemExit(f"no client-server API files in {api_dir}")
    merger = Merger()
    paths: dict[str, Any] = {}
    for file in files:
        doc = merger.load(file)
        version = str(doc.get("openapi", ""))
        if not version.startswith("3.1"):
            raise SystemExit(f"{file.name}: openapi {version!r}, expected 3.1.x")
        servers = doc.get("servers") or [{}]
        base_path = servers[0].get("variables", {}).get("basePath", {}).get("default", "")
        for path, item in (doc.get("paths") or {}).items():
            full = base_path.rstrip("/") + path
            resolved = merger.resolve(item, file)
            merged = paths.setdefault(full, {})
            for key, value in resolved.items():
                if key in merged:  # two files may share a path, never an operation
                    raise SystemExit(f"{file.name}: {key} {full} is also defined by another file")
                if key in _METHODS:
                    value["x-spec-file"] = file.name
                merged[key] = value
    security = merger.load(api_dir / "definitions" / "security.yaml")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"Matrix {api} API (merged by scripts/merge-openapi.py)",
            "version": "1.0.0",
        },
        "servers": [{"url": "http://localhost:8008"}],
        "paths": dict(sorted(paths.items())),
        "components": {"securitySchemes": copy.deepcopy(security)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="the matrix-spec checkout")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the directory of the JSON documents")
    parser.add_argument("--check", action="store_true", help="fail if a document in --out is not up to date")
    args = parser.parse_args()
    stale = 0
    for api in APIS:
        out = args.out / f"{api}.json"
        text = json.dumps(merge(args.spec, api), indent=1, sort_keys=False, ensure_ascii=False) + "\n"
        if args.check:
            if not out.exists() or out.read_text(encoding="utf-8") != text:
                print(f"{out} is out of date: run scripts/merge-openapi.py", file=sys.stderr)
                stale += 1
            else:
                print(f"{out} is up to date")
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        doc = json.loads(text)
        operations = sum(1 for item in doc["paths"].values() for k in item if k in _METHODS)
        print(f"wrote {out}: {len(doc['paths'])} paths, {operations} operations, {len(text)} bytes")
    return 1 if stale else 0


_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}

if __name__ == "__main__":
    sys.exit(main())

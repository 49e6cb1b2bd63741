"""Generate homeserver.yaml.example and docs/config.md from the config schema.

    python -m homeserver.config.docs          # rewrite both files
    python -m homeserver.config.docs --check  # exit 1 if either is out of date (the tests do this)
"""

from __future__ import annotations

import os
import sys
import textwrap
from typing import Any

import yaml

from homeserver.config.loader import _resolve, config_schema

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE_PATH = os.path.join(ROOT, "homeserver.yaml.example")
DOCS_PATH = os.path.join(ROOT, "docs", "config.md")


def _options() -> list[tuple[str, dict[str, Any]]]:
    schema = config_schema()
    return [(k, _resolve(schema, v)) for k, v in schema["properties"].items() if not v.get("x-ignored")]


def _ignored() -> list[str]:
    return [k for k, v in config_schema()["properties"].items() if v.get("x-ignored")]


def _yaml_value(key: str, value: Any) -> str:
    return yaml.safe_dump({key: value}, default_flow_style=False, sort_keys=False).rstrip()


def _describe(node: dict[str, Any]) -> str:
    return " ".join(node.get("description", "").split())


def render_example() -> str:
    out = [
        "# homeserver.yaml.example: every option, with its default.",
        "# Generated from homeserver/config/schema.yaml by `python -m homeserver.config.docs`; do not edit.",
        "# Uncomment and change what you need. `homeserver generate-config` writes a working starting point.",
        "",
    ]
    for key, node in _options():
        for line in textwrap.wrap(_describe(node), 96):
            out.append(f"# {line}")
        for sub_key, sub_node in (node.get("properties") or {}).items():
            desc = _describe(_resolve(config_schema(), sub_node))
            if desc:
                out.extend(textwrap.wrap(f"`{sub_key}`: {desc}", 96, initial_indent="# ",
                                         subsequent_indent="# "))
        if key == "server_name":
            out.append(_yaml_value(key, node.get("example", "example.com")))
        else:
            # Commented-out YAML: "#key:", "#  nested:", "#- item" (descriptions start "# ").
            for line in _yaml_value(key, node.get("default")).splitlines():
                out.append(f"#{line}")
        out.append("")
    out.append("# Accepted so that a Synapse homeserver.yaml loads, with no effect: " + ", ".join(_ignored()))
    return "\n".join(out) + "\n"


def render_markdown() -> str:
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated from homeserver/config/schema.yaml by `python -m homeserver.config.docs`; do not edit. -->",
        "",
        "The server reads one YAML file, `homeserver.yaml` (`homeserver run -c homeserver.yaml`).",
        "Every option is checked against a schema at start-up: an unknown option or a wrong type",
        "stops the server with the option's path and the reason. Option names and shapes follow",
        "Synapse's, so a Synapse configuration mostly loads as it is (see the end of this page).",
        "Relative paths are relative to the directory of the config file. Durations are",
        "milliseconds or strings such as `30s`, `5m`, `2h`, `7d`; sizes are bytes or `100K`, `50M`.",
        "",
    ]
    for key, node in _options():
        out.append(f"## `{key}`")
        out.append("")
        out.append(_describe(node))
        out.append("")
        out.append("Required. Example:" if key in config_schema().get("required", []) else "Default:")
        out.append("")
        out.append("```yaml")
        out.append(_yaml_value(key, node.get("example") if key == "server_name" else node.get("default")))
        out.append("```")
        sub = node.get("properties")
        if sub:
            out.append("")
            for sub_key, sub_node in sub.items():
                resolved = _resolve(config_schema(), sub_node)
                default = resolved.get("default")
                line = f"- `{sub_key}`"
                if "default" in resolved:
                    # A scalar dumps as a document with an end marker ("100\n...\n"): drop it.
                    text = yaml.safe_dump(default, default_flow_style=True).removesuffix("...\n").strip()
                    line += f" (default `{text}`)"
                desc = _describe(resolved)
                out.append(line + (f": {desc}" if desc else ""))
        out.append("")
    out.append("## Synapse options with no effect")
    out.append("")
    out.append("These are accepted so that a Synapse `homeserver.yaml` loads, and do nothing here: "
               + ", ".join(f"`{k}`" for k in _ignored()) + ".")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    wanted = {EXAMPLE_PATH: render_example(), DOCS_PATH: render_markdown()}
    if "--check" in argv:
        stale = [p for p, text in wanted.items() if not os.path.exists(p) or open(p).read() != text]
        for p in stale:
            print(f"{p} is out of date: run python -m homeserver.config.docs", file=sys.stderr)
        return 1 if stale else 0
    for path, text in wanted.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

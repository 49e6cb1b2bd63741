"""Optional fields sent as `null` are treated as absent (as the reference server does: clients
send `"since": null` and the like). Guided by the body's JSON Schema: a `null` is dropped where
the schema names the field and does not accept `null` there, at any depth the schema describes;
fields the schema leaves open (event content, account data) keep their nulls."""

from __future__ import annotations

from typing import Any


def drop_absent_nulls(value: Any, schema: Any) -> None:
    """Remove, in place, the `null` fields of `value` that `schema` does not allow to be null."""
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        properties = schema.get("properties")
        if isinstance(properties, dict):
            for key in [k for k in value if k in properties]:
                sub = properties[key]
                if value[key] is None:
                    if not allows_null(sub):
                        del value[key]
                else:
                    drop_absent_nulls(value[key], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in [k for k in value if not isinstance(properties, dict) or k not in properties]:
                if value[key] is not None:
                    drop_absent_nulls(value[key], extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            drop_absent_nulls(item, schema["items"])


def allows_null(schema: Any) -> bool:
    """Whether `null` may stand there: a schema without a type (anything goes), a type or enum
    that includes null, or a branch of anyOf/oneOf that does."""
    if not isinstance(schema, dict):
        return True
    for branches in (schema.get("anyOf"), schema.get("oneOf")):
        if isinstance(branches, list):
            return any(allows_null(b) for b in branches)
    if "enum" in schema:
        return None in schema["enum"]
    if "const" in schema:
        return schema["const"] is None
    kind = schema.get("type")
    if kind is None:
        return True
    return kind == "null" or (isinstance(kind, list) and "null" in kind)

"""JSON Schema validators for what clients send, with the spec's idea of an integer.

Draft 2020-12 counts `5.0` as an integer; Matrix does not (canonical JSON has no floats), and a
float reaching SQL or a comparison where an integer belongs is a bug waiting. Here "integer"
means a Python int that is not a bool. Integers beyond the canonical range never get this far:
the JSON parser refuses them (json_input.py)."""

from __future__ import annotations

from typing import Any

import jsonschema


def _is_integer(checker: Any, value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


StrictValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


def validator_for(schema: dict[str, Any]) -> Any:
    """A validator of `schema` whose "integer" refuses floats."""
    return StrictValidator(schema)

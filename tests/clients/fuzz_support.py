"""What the spec fuzz tests (tests/clients/test_fuzz_client_api.py, test_fuzz_federation_api.py)
share: loading a vendored OpenAPI document, running one operation's examples, the checks."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

OPENAPI_DIR = Path(__file__).resolve().parent / "openapi"
# Generated examples per operation: 8 (6 in the PostgreSQL pass). The suite's PostgreSQL pass
# skips the fuzz tests (the same server code again, only the storage differs; CI's time is
# short): HOMESERVER_FUZZ_ON_POSTGRES=1 runs them there by hand.
_ON_POSTGRES = os.environ.get("HOMESERVER_TEST_DB", "").strip().lower() in ("postgres", "postgresql")
EXAMPLES = int(os.environ.get("HOMESERVER_FUZZ_EXAMPLES") or (6 if _ON_POSTGRES else 8))
SKIP_REASON = ("the fuzz tests run in the SQLite pass; HOMESERVER_FUZZ_ON_POSTGRES=1 runs them on PostgreSQL"
               if _ON_POSTGRES and not os.environ.get("HOMESERVER_FUZZ_ON_POSTGRES") else None)
OPERATIONS = re.compile(os.environ.get("HOMESERVER_FUZZ_OPERATIONS", ""))
SEED = int(os.environ.get("HOMESERVER_FUZZ_SEED", "18"))
REQUEST_TIMEOUT_S = 20.0
# Long-polls (/sync, /events) are clamped to this many milliseconds so no example waits long.
MAX_POLL_MS = 50


def load_operations(api: str, excluded: dict[str, str]) -> list[tuple[str, Any]]:
    """("METHOD /path", schemathesis operation) of the vendored document, minus `excluded` and
    those HOMESERVER_FUZZ_OPERATIONS does not match. Raises ImportError without schemathesis."""
    import schemathesis

    schema = schemathesis.openapi.from_dict(json.loads((OPENAPI_DIR / f"{api}.json").read_text(encoding="utf-8")))
    operations = []
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if label in excluded or not OPERATIONS.search(label):
            continue
        operations.append((label, operation))
    return operations


def matrix_error_problem(status: int, body: bytes) -> str | None:
    """Why this 4xx body is not a Matrix error, or None when it is one."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:200]!r}"
    if not isinstance(parsed, dict):
        return f"not a JSON object: {body[:200]!r}"
    if status == 401 and isinstance(parsed.get("flows"), list):
        return None  # user-interactive auth: errcode/error only after a failed stage
    if not isinstance(parsed.get("errcode"), str) or not isinstance(parsed.get("error"), str):
        return f"no errcode/error strings: {body[:300]!r}"
    return None


class OperationRun:
    """The examples of one operation: sends them with `call` (a case -> a requests.Response), path
    parameters named in `values` mostly replaced by those real values; keeps one example per kind
    of failure in `problems`."""

    def __init__(self, label: str, values: dict[str, str], call: Callable[[Any], Any]) -> None:
        self.values = values
        self.call = call
        self.label = label
        self.problems: dict[str, str] = {}
        self.count = 0
        self.seconds = 0.0
        self.call_seconds = 0.0

    def fuzz(self, operation: Any) -> None:
        from hypothesis import HealthCheck, Phase, given, seed, settings
        from hypothesis import strategies as st
        from schemathesis.generation import GenerationMode

        started = time.monotonic()
        strategies = []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategies.append(operation.as_strategy(generation_mode=mode))
            except Exception as e:  # noqa: BLE001 (a schema schemathesis cannot negate)
                self.problems[f"strategy {mode.value}"] = f"{self.label}: cannot generate {mode.value}: {e!r}"
        # The spec's own examples of this operation first, once each, with the real path values.
        try:
            examples = operation.schema.get_strategies_from_examples(operation)
        except Exception as e:  # noqa: BLE001
            examples = []
            self.problems["examples"] = f"{self.label}: cannot read the spec's examples: {e!r}"
        for example in examples:
            test = settings(max_examples=1, deadline=None, database=None, phases=[Phase.generate],
                            suppress_health_check=list(HealthCheck))(
                given(case=example)(lambda case: self.send(case, [True] * 4)))
            try:
                seed(SEED)(test)()
            except Exception as e:  # noqa: BLE001
                self.problems.setdefault("example", f"{self.label}: the spec's example failed: {type(e).__name__}: {e}")
        if strategies:
            # For each path parameter (sorted by name), whether it takes the fixture's real value.
            real = st.lists(st.integers(0, 3).map(bool), min_size=4, max_size=4)
            test = settings(
                max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
            )(given(case=st.one_of(strategies), real=real)(self.send))
            try:
                seed(SEED)(test)()
            except Exception as e:  # noqa: BLE001 (generation errors: report them, go on)
                self.problems["generation"] = f"{self.label}: generation failed: {type(e).__name__}: {e}"
        self.seconds = time.monotonic() - started

    def send(self, case: Any, real: list[bool]) -> None:
        self.count += 1
        names = sorted(case.path_parameters or {})
        for name, use_real in zip(names, real, strict=False):
            if use_real and name in self.values:
                case.path_parameters[name] = self.values[name]
        if isinstance(case.query, dict) and isinstance(case.query.get("timeout"), int):
            case.query["timeout"] = min(case.query["timeout"], MAX_POLL_MS)
        call_started = time.monotonic()
        try:
            response = self.call(case)
        except Exception as e:  # noqa: BLE001 (a timeout or a dropped connection is a failure too)
            self.problems.setdefault(f"transport {type(e).__name__}",
                                     f"{self.label}: {type(e).__name__}: {e}\n    {curl(case)}")
            return
        finally:
            self.call_seconds += time.monotonic() - call_started
        status = response.status_code
        if status >= 500:
            self.problems.setdefault(f"{status}", f"{self.label}: {status} {response.content[:300]!r}\n    {curl(case)}")
        elif 400 <= status < 500:
            problem = matrix_error_problem(status, response.content)
            if problem is not None:
                self.problems.setdefault(f"body {status}", f"{self.label}: {status} {problem}\n    {curl(case)}")


def curl(case: Any) -> str:
    try:
        return case.as_curl_command().replace("http://localhost:8008", "http://127.0.0.1:PORT")
    except Exception as e:  # noqa: BLE001
        return f"(no curl: {e!r}) {case!r}"

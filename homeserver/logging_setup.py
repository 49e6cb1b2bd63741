"""Logging: every line carries the id of the request it belongs to (a contextvar, set per request).

A `log_config` written for Synapse works unchanged: the classes it names from Synapse's own
package (its log context filter, its buffering and remote handlers, its JSON formatters) are
replaced by standard ones before `logging.config.dictConfig` reads it."""

from __future__ import annotations

import copy
import logging
import logging.config
import logging.handlers
import sys
import time
from typing import Any

import yaml

from homeserver.rest.http import current_request_id

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request)s] %(message)s"

logger = logging.getLogger(__name__)


class LogConfigError(Exception):
    """The log config cannot be used; the message says why."""


class RequestIdFilter(logging.Filter):
    def __init__(self, name: str = "", **_ignored: Any):
        # Synapse's LoggingContextFilter took `request: ""`: accepted and unused.
        super().__init__(name)

    def filter(self, record: logging.LogRecord) -> bool:
        record.request = current_request_id.get()
        return True


class PeriodicallyFlushingMemoryHandler(logging.handlers.MemoryHandler):
    """A MemoryHandler that also writes out what it holds once `period` seconds have passed since
    it last did (checked as each record comes in), so a quiet server's log is not held back for
    long. Stands in for Synapse's handler of the same name."""

    def __init__(self, capacity: int, flushLevel: int = logging.ERROR, target: logging.Handler | None = None,
                 flushOnClose: bool = True, period: float = 5.0):
        super().__init__(capacity, flushLevel, target, flushOnClose)
        self._period = period
        self._last_flush = time.monotonic()

    def shouldFlush(self, record: logging.LogRecord) -> bool:
        return super().shouldFlush(record) or time.monotonic() - self._last_flush >= self._period

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        super().flush()


class JsonFormatter(logging.Formatter):
    """One JSON object a line (Synapse's TerseJsonFormatter/JsonFormatter write the same idea)."""

    def format(self, record: logging.LogRecord) -> str:
        import json

        line = {"log": record.getMessage(), "namespace": record.name, "level": record.levelname,
                "time": round(record.created, 2), "request": getattr(record, "request", None)}
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line)


_HERE = __name__
# Synapse's classes -> ours or the standard library's. Keys are matched on the last dotted name,
# so the older module paths (synapse.util.logcontext, ...) map the same way.
_FILTERS = {"LoggingContextFilter": f"{_HERE}.RequestIdFilter", "MetadataFilter": f"{_HERE}.RequestIdFilter"}
_FORMATTERS = {"TerseJsonFormatter": f"{_HERE}.JsonFormatter", "JsonFormatter": f"{_HERE}.JsonFormatter"}
_HANDLERS = {"PeriodicallyFlushingMemoryHandler": f"{_HERE}.PeriodicallyFlushingMemoryHandler"}
# Handler arguments the replacement does not take.
_DROPPED_HANDLER_ARGS = {"RemoteHandler": ("host", "port", "maximum_buffer", "_reactor")}


def _replace_synapse_classes(config: dict[str, Any]) -> list[str]:
    """Rewrite (in place) the parts of a dictConfig that name Synapse's classes; returns notes
    for the ones that had to change meaning (logged once logging works)."""
    notes: list[str] = []
    for spec in (config.get("filters") or {}).values():
        factory = spec.get("()") if isinstance(spec, dict) else None
        if isinstance(factory, str) and factory.startswith("synapse."):
            spec["()"] = _FILTERS.get(factory.rsplit(".", 1)[-1], f"{_HERE}.RequestIdFilter")
    for name, spec in (config.get("formatters") or {}).items():
        if not isinstance(spec, dict):
            continue
        for key in ("()", "class"):
            cls = spec.get(key)
            if isinstance(cls, str) and cls.startswith("synapse."):
                short = cls.rsplit(".", 1)[-1]
                spec[key] = _FORMATTERS.get(short, "logging.Formatter")
                if short not in _FORMATTERS:
                    notes.append(f"formatter {name!r}: {cls} replaced by logging.Formatter")
    for name, spec in (config.get("handlers") or {}).items():
        if not isinstance(spec, dict):
            continue
        cls = spec.get("class")
        if not (isinstance(cls, str) and cls.startswith("synapse.")):
            continue
        short = cls.rsplit(".", 1)[-1]
        if short in _HANDLERS:
            spec["class"] = _HANDLERS[short]
            continue
        # A handler we have no stand-in for (e.g. synapse.logging.RemoteHandler, which streams
        # lines to a TCP collector): its lines go to standard error instead, and we say so.
        for arg in _DROPPED_HANDLER_ARGS.get(short, ()):
            spec.pop(arg, None)
        kept = {k: v for k, v in spec.items() if k in ("level", "formatter", "filters")}
        spec.clear()
        spec.update(kept, **{"class": "logging.StreamHandler", "stream": "ext://sys.stderr"})
        notes.append(f"handler {name!r}: {cls} is not available here; its lines go to standard error")
    return notes


def read_log_config(path: str) -> tuple[dict[str, Any], list[str]]:
    """The dictConfig of a log config file with Synapse's classes replaced, and notes to log."""
    try:
        with open(path) as f:
            config = yaml.safe_load(f)
    except OSError as e:
        raise LogConfigError(f"Config error at log_config: cannot read {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise LogConfigError(f"Config error at log_config: {path} is not valid YAML: {e}") from None
    if not isinstance(config, dict):
        raise LogConfigError(f"Config error at log_config: {path} must be a YAML mapping (logging's dictConfig)")
    config = copy.deepcopy(config)
    config.setdefault("version", 1)
    # Our modules' loggers exist before the file is read: disabling them would silence the server.
    config.setdefault("disable_existing_loggers", False)
    notes = _replace_synapse_classes(config)
    return config, notes


def _install_request_id_on_records() -> None:
    """Every record carries `request`, whichever handler (and filter) the log config gives it."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "_sets_request_id", False):
        return

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.request = current_request_id.get()
        return record

    make_record._sets_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record)


def setup_logging(log_config_path: str | None, level: int = logging.INFO) -> None:
    """Raises LogConfigError (never a traceback) for a log config that cannot be used."""
    # Every request logs a line: skip the per-record work no format here uses (the caller's
    # file and line, thread and process names). %(funcName)s and %(lineno)d are then empty.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    _install_request_id_on_records()
    notes: list[str] = []
    if log_config_path:
        config, notes = read_log_config(log_config_path)
        try:
            logging.config.dictConfig(config)
        except (ValueError, TypeError, AttributeError, ImportError, OSError) as e:
            cause = e.__cause__ or e
            raise LogConfigError(f"Config error at log_config: {log_config_path}: {e}"
                                 + (f" ({cause})" if cause is not e else "")) from None
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdFilter())
    for note in notes:
        logger.warning("log_config: %s", note)
    # Twisted's own log messages go through the standard library too.
    from twisted.logger import STDLibLogObserver, globalLogBeginner

    globalLogBeginner.beginLoggingTo([STDLibLogObserver()], redirectStandardIO=False)

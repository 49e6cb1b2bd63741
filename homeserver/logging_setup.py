"""Logging: every line carries the id of the request it belongs to (a contextvar, set per request)."""

from __future__ import annotations

import logging
import logging.config
import sys

import yaml

from homeserver.rest.http import current_request_id

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request)s] %(message)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request = current_request_id.get()
        return True


def setup_logging(log_config_path: str | None, level: int = logging.INFO) -> None:
    # Every request logs a line: skip the per-record work no format here uses (the caller's
    # file and line, thread and process names). %(funcName)s and %(lineno)d are then empty.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    if log_config_path:
        with open(log_config_path) as f:
            logging.config.dictConfig(yaml.safe_load(f))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdFilter())
    # Twisted's own log messages go through the standard library too.
    from twisted.logger import STDLibLogObserver, globalLogBeginner

    globalLogBeginner.beginLoggingTo([STDLibLogObserver()], redirectStandardIO=False)

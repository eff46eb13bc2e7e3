"""The access log: uvicorn's line for every response, written for a twentieth of its cost.

uvicorn logs each response through the logging module: a LogRecord, its copy, an HTTPStatus
lookup and the formatter's fields, 17 us of CPU a line, about 4% of a compiled film page's
(bench/README.md). When the `uvicorn.access` logger is as `filmgraph serve` configures it (one
stream handler with uvicorn's access format, without colours), AccessLog writes the same line
to the same stream itself; configured any other way (another handler, format, level, filter,
or colours on a terminal), it hands every line to the logger as uvicorn does.
"""

from __future__ import annotations

import http
import logging
from typing import Any

from uvicorn.logging import AccessFormatter

# uvicorn's default access format (uvicorn.config.LOGGING_CONFIG), which `serve` keeps.
UVICORN_FORMAT = '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'
# The line's "levelprefix", as uvicorn pads it, for INFO.
PREFIX = "INFO:    "
PHRASES = {status.value: status.phrase for status in http.HTTPStatus}


class AccessLog:
    """Stands in for uvicorn's access logger on the HTTP protocol (graph/receive.py): uvicorn
    calls `info(message, client, method, path, http_version, status)` for each response."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def hasHandlers(self) -> bool:
        return self.logger.hasHandlers()

    def info(self, message: str, *args: Any) -> None:
        handler = self._plain_handler()
        if handler is None or len(args) != 5:
            self.logger.info(message, *args)
            return
        client, method, path, version, status = args
        phrase = PHRASES.get(status, "")
        line = f'{PREFIX} {client} - "{method} {path} HTTP/{version}" {status} {phrase}\n'
        with handler.lock:  # type: ignore[union-attr]
            handler.stream.write(line)
            handler.stream.flush()

    def _plain_handler(self) -> logging.StreamHandler[Any] | None:
        """The logger's one stream handler, when the logger writes uvicorn's plain line for
        INFO through it and nothing else; else None."""
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO) or logger.filters or logger.propagate:
            return None
        handlers = logger.handlers
        if len(handlers) != 1:
            return None
        handler = handlers[0]
        if type(handler) is not logging.StreamHandler or handler.filters:
            return None
        if handler.level > logging.INFO:
            return None
        formatter = handler.formatter
        if (
            type(formatter) is not AccessFormatter
            or formatter.use_colors
            or formatter._fmt != UVICORN_FORMAT
        ):
            return None
        return handler

"""Log hygiene: no token ever reaches a log line, and refusals are not errors.

uvicorn logs every websocket request line with its query string (so
``?access_token=…``), and at DEBUG the websockets library logs request
headers (so ``Authorization: Bearer …``). A filter on those loggers masks
both. uvicorn also logs "ASGI callable returned without completing
handshake" at ERROR for every handshake the service refuses on purpose with
an HTTP denial; those lines are dropped, or anyone could flood the error log.
"""

from __future__ import annotations

import logging
import re

_SECRETS = re.compile(r"(access_token=|[Bb]earer\s+)[^\s&\"',;]+")
_DENIAL_NOISE = "ASGI callable returned without completing handshake"
LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "websockets",
    "websockets.server",
    "websockets.protocol",
    "hotplugd",
)


def redact(text: str) -> str:
    """``text`` with token values replaced by ``***``."""
    return _SECRETS.sub(r"\1***", text)


class RedactTokens(logging.Filter):
    """Masks tokens in a record's message; drops uvicorn's noise about our refusals."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _DENIAL_NOISE in message:
            return False
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def install() -> None:
    """Attach the filter to the loggers that see request lines and headers (idempotent)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())

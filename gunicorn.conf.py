"""gunicorn's settings for tillit (read from the working directory: `gunicorn config.wsgi`).

gunicorn writes its own access and error logs outside Django's LOGGING; their loggers get the
same filter as every handler in config/settings.py, which replaces email addresses and phone
numbers (tillit.core.redaction). A filter on the logger holds for every handler gunicorn adds,
whatever --access-logfile or --error-logfile says.
"""

from __future__ import annotations

import logging
from typing import Any


def on_starting(server: Any) -> None:
    from tillit.core.redaction import RedactIdentifiers

    for name in ("gunicorn.error", "gunicorn.access"):
        logging.getLogger(name).addFilter(RedactIdentifiers())

"""Library logger: ``lead_hf.*`` children of one root logger; no handler is added at import."""

import logging

LIBRARY_LOGGER_NAME = "lead_hf"


def get_logger(name: str) -> logging.Logger:
    """Return the logger for a ``lead_hf`` module (``name`` is usually ``__name__``)."""
    if not name.startswith(LIBRARY_LOGGER_NAME):
        name = f"{LIBRARY_LOGGER_NAME}.{name}"
    return logging.getLogger(name)

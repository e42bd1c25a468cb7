"""Exceptions raised by lead-hf. Input errors are ``ValueError`` subclasses, as in scikit-learn."""


class LeadHfError(Exception):
    """Base class of every lead-hf error."""


class InvalidInputError(LeadHfError, ValueError):
    """Bad user input: the message names the problem and how to fix it."""


class ExtractionError(LeadHfError, RuntimeError):
    """A model could not be loaded or run to extract features."""


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (its type name when empty), for one-line error messages."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__

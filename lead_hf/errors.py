"""Exceptions raised by lead-hf. Input errors are ``ValueError`` subclasses, as in scikit-learn."""


class LeadHfError(Exception):
    """Base class of every lead-hf error."""


class InvalidInputError(LeadHfError, ValueError):
    """Bad user input: the message names the problem and how to fix it."""


class ExtractionError(LeadHfError, RuntimeError):
    """A model could not be loaded or run to extract features."""

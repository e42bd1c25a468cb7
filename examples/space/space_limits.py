"""Per-request limits that keep a shared Space responsive, read from environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

MAX_MODELS_ENV = "LEAD_HF_SPACE_MAX_MODELS"
MAX_SAMPLES_PER_CLASS_ENV = "LEAD_HF_SPACE_MAX_SAMPLES_PER_CLASS"
TIMEOUT_ENV = "LEAD_HF_SPACE_TIMEOUT_S"


@dataclass(frozen=True)
class SpaceLimits:
    """What one Rank request may ask for.

    Args:
        max_models (`int`): most candidate models ranked in one request.
        max_samples_per_class (`int`): most images per class fed to every model.
        timeout_s (`float`): time budget of one request in seconds. It is checked before each model
            starts: models not started in time get an error row; a started model is finished.
    """

    max_models: int = 8
    max_samples_per_class: int = 64
    timeout_s: float = 600.0

    def __post_init__(self) -> None:
        for name in ("max_models", "max_samples_per_class", "timeout_s"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"SpaceLimits.{name} must be positive, got {value!r}.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SpaceLimits:
        """Read the limits from ``LEAD_HF_SPACE_*`` variables; unset ones keep their defaults."""
        environ = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            max_models=_positive(environ, MAX_MODELS_ENV, int, defaults.max_models),
            max_samples_per_class=_positive(
                environ, MAX_SAMPLES_PER_CLASS_ENV, int, defaults.max_samples_per_class
            ),
            timeout_s=_positive(environ, TIMEOUT_ENV, float, defaults.timeout_s),
        )

    def markdown(self) -> str:
        """One line for the page that tells users what this Space accepts."""
        return (
            f"Limits of this Space: at most **{self.max_models} models**, "
            f"**{self.max_samples_per_class} images per class** and **{self.timeout_s:g} s** per request "
            f"(`{MAX_MODELS_ENV}`, `{MAX_SAMPLES_PER_CLASS_ENV}`, `{TIMEOUT_ENV}`)."
        )


def _positive(environ: Mapping[str, str], name: str, kind: type, default: int | float) -> int | float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not value > 0:
        raise ValueError(
            f"Environment variable {name}={raw!r} is not a positive {kind.__name__}; "
            f"set it to e.g. {default!r} or unset it."
        )
    return value

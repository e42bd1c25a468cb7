"""Per-request limits that keep a shared Space responsive, read from environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

MAX_MODELS_ENV = "LEAD_HF_SPACE_MAX_MODELS"
MAX_SAMPLES_PER_CLASS_ENV = "LEAD_HF_SPACE_MAX_SAMPLES_PER_CLASS"
TIMEOUT_ENV = "LEAD_HF_SPACE_TIMEOUT_S"
ALLOW_LOCAL_PATHS_ENV = "LEAD_HF_SPACE_ALLOW_LOCAL_PATHS"
SPACE_ID_ENV = "SPACE_ID"  # set by Hugging Face Spaces on every Space
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class SpaceLimits:
    """What one Rank request may ask for.

    Args:
        max_models (`int`): most candidate models ranked in one request.
        max_samples_per_class (`int`): most images per class fed to every model.
        timeout_s (`float`): time budget of one request in seconds. It is checked before each model
            starts: models not started in time get an error row; a started model is finished.
        allow_local_paths (`bool`): whether users may name folders of the machine (an imagefolder, a
            model directory). Off by default on a Hugging Face Space, where visitors must not read the
            server's files; on by default elsewhere (a local run).
    """

    max_models: int = 8
    max_samples_per_class: int = 64
    timeout_s: float = 600.0
    allow_local_paths: bool = True

    def __post_init__(self) -> None:
        for name in ("max_models", "max_samples_per_class", "timeout_s"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"SpaceLimits.{name} must be positive, got {value!r}.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SpaceLimits:
        """Read the limits from ``LEAD_HF_SPACE_*`` variables; unset ones keep their defaults (local paths:
        refused when ``SPACE_ID`` says this runs on a Hugging Face Space)."""
        environ = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            max_models=_positive(environ, MAX_MODELS_ENV, int, defaults.max_models),
            max_samples_per_class=_positive(
                environ, MAX_SAMPLES_PER_CLASS_ENV, int, defaults.max_samples_per_class
            ),
            timeout_s=_positive(environ, TIMEOUT_ENV, float, defaults.timeout_s),
            allow_local_paths=_flag(environ, ALLOW_LOCAL_PATHS_ENV, default=SPACE_ID_ENV not in environ),
        )

    def markdown(self) -> str:
        """One line for the page that tells users what this Space accepts."""
        return (
            f"Limits of this Space: at most **{self.max_models} models**, "
            f"**{self.max_samples_per_class} images per class** and **{self.timeout_s:g} s** per request "
            f"(`{MAX_MODELS_ENV}`, `{MAX_SAMPLES_PER_CLASS_ENV}`, `{TIMEOUT_ENV}`); local folders are "
            f"{'accepted' if self.allow_local_paths else 'refused'} (`{ALLOW_LOCAL_PATHS_ENV}`)."
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


def _flag(environ: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in _TRUE + _FALSE:
        raise ValueError(f"Environment variable {name}={environ[name]!r} is not a yes/no flag; set it to 1 or 0.")
    return raw in _TRUE

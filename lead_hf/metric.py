"""The LEAD ``evaluate`` module, loaded from the installed package or registered for ``evaluate.load("lead")``.

The module script ships inside the package (``lead_hf/metric_module/lead.py``; ``metric/lead/`` in a
checkout links to it), so :func:`load_metric` works right after ``pip install lead-hf[metric]`` with no
network. ``evaluate.load`` resolves a bare name only to Hugging Face's ``evaluate-metric`` namespace on
the Hub, to ``./<name>/<name>.py`` in the working directory, and then to its modules cache;
:func:`register_metric` is the explicit opt-in that puts LEAD in that cache. Nothing here runs at import.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

from ._logging import get_logger
from .errors import InvalidInputError

__all__ = ["METRIC_NAME", "load_metric", "metric_script_path", "register_metric"]

logger = get_logger(__name__)

METRIC_NAME = "lead"
# evaluate caches a bare-name module downloaded from the Hub as "evaluate-metric/<name>".
_CANONICAL_NAMESPACE = "evaluate-metric"


def metric_script_path() -> Path:
    """Path of the packaged module script (``lead_hf/metric_module/lead.py``)."""
    return Path(str(resources.files("lead_hf") / "metric_module" / f"{METRIC_NAME}.py"))


def _require_evaluate() -> None:
    try:
        import evaluate  # noqa: F401
    except ImportError as err:
        raise ImportError('The LEAD metric needs the evaluate library: pip install "lead-hf[metric]"') from err


def load_metric(**kwargs: Any):
    """Load the LEAD metric from the script packaged with lead-hf (offline, no Hub access).

    Args:
        **kwargs: keyword arguments of `evaluate.load` other than the path, e.g. ``keep_in_memory=True``,
            ``cache_dir``, ``experiment_id``, ``num_process`` and ``process_id``, and the module's
            ``feature_dim`` (the feature width, if known: faster ``add_batch``).

    Returns:
        `evaluate.EvaluationModule`: the metric; ``compute`` returns ``lead``, ``energy0``, ``loss0``,
        ``acc0`` and the further diagnostics of :meth:`lead_hf.LeadResult.as_dict`.

    Raises:
        InvalidInputError: ``path`` was passed (the packaged script is the path).
        ImportError: `evaluate` is not installed (``pip install "lead-hf[metric]"``).

    Example:
        >>> import numpy as np, lead_hf
        >>> metric = lead_hf.load_metric(keep_in_memory=True)
        >>> y = np.repeat([0, 1], 10); X = np.random.default_rng(0).normal(size=(20, 4)) + y[:, None]
        >>> results = metric.compute(predictions=X, references=y, head_widths=(16,))
        >>> {"lead", "energy0", "loss0", "acc0"} <= set(results)
        True
    """
    if "path" in kwargs:
        raise InvalidInputError(
            f"load_metric loads the packaged LEAD script; got path={kwargs['path']!r}. "
            "Call evaluate.load(path) directly to load another module."
        )
    _require_evaluate()
    import evaluate

    return evaluate.load(str(metric_script_path()), **kwargs)


def register_metric(*, hf_modules_cache: str | os.PathLike[str] | None = None) -> Path:
    """Install the LEAD module in evaluate's modules cache so that ``evaluate.load("lead")`` finds it.

    ``evaluate.load("lead")`` first asks the Hub for ``evaluate-metric/lead``, Hugging Face's own
    namespace; when that fails (offline, or no such module) it uses the newest cached copy. This puts the
    packaged script there, exactly where evaluate would cache a download, and marks it newest. An
    official module of the same name, when one exists and the Hub is reachable, still takes precedence.
    Idempotent: a second call reuses the same directory (keyed by the script's content hash). Never
    called at import: run it once, or ``lead-hf install-metric``.

    Args:
        hf_modules_cache (`str` or `os.PathLike`, *optional*): evaluate's modules cache; defaults to
            `evaluate.config.HF_MODULES_CACHE` (``$HF_MODULES_CACHE``, else ``$HF_HOME/modules``).

    Returns:
        `Path`: the installed script.

    Raises:
        ImportError: `evaluate` is not installed (``pip install "lead-hf[metric]"``).

    Example:
        >>> import lead_hf
        >>> path = lead_hf.register_metric()  # doctest: +SKIP
        >>> import evaluate; metric = evaluate.load("lead")  # doctest: +SKIP
    """
    _require_evaluate()
    from evaluate.loading import _create_importable_file, init_dynamic_modules

    dynamic_modules_path = init_dynamic_modules(hf_modules_cache=hf_modules_cache)
    # Same call as evaluate's HubEvaluationModuleFactory makes for a downloaded "evaluate-metric/lead".
    module_path, _ = _create_importable_file(
        local_path=str(metric_script_path()),
        local_imports=[],
        additional_files=[],
        dynamic_modules_path=dynamic_modules_path,
        module_namespace="metrics",
        name=f"{_CANONICAL_NAMESPACE}/{METRIC_NAME}",
        download_mode=None,
    )
    # module_path is "<dynamic modules package>.metrics.evaluate-metric--lead.<hash>.lead"
    installed = Path(dynamic_modules_path).parent.joinpath(*module_path.split(".")).with_suffix(".py")
    os.utime(installed)  # evaluate picks the most recently modified cached copy
    logger.info("Registered the LEAD metric for evaluate.load(%r) at %s", METRIC_NAME, installed)
    return installed

"""lead-hf: rank pre-trained Hugging Face image classifiers for fine-tuning on your dataset.

Public names are imported lazily so that ``import lead_hf`` stays cheap (no torch or Hub import
until a function that needs it is called).
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("lead-hf")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "available_scorers": "lead_hf.scoring",
    "score": "lead_hf.scoring",
    "lead_score": "lead_hf.scoring.lead",  # the function itself: help() shows its signature and options
    "LeadResult": "lead_hf.scoring.lead",
    "initial_energy": "lead_hf.energy",
    "head_probing_curve": "lead_hf.energy",
    "weighted_tau": "lead_hf.evaluation",
    "evaluate_ranking": "lead_hf.evaluation",
    "load_image_dataset": "lead_hf.data",
    "extract": "lead_hf.extraction",
    "Extraction": "lead_hf.extraction",
    "finetune": "lead_hf.finetune",
    "FinetuneRecipe": "lead_hf.finetune",
    "list_candidate_models": "lead_hf.hub",
    "rank_models": "lead_hf.rank",
    "rank_hub_models": "lead_hf.rank",
    "Ranking": "lead_hf.rank",
    "Budget": "lead_hf.budget",
    "load_metric": "lead_hf.metric",
    "register_metric": "lead_hf.metric",
    "LeadHfError": "lead_hf.errors",
    "InvalidInputError": "lead_hf.errors",
    "ExtractionError": "lead_hf.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lead_hf' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

"""Resolve, load and read an image model (classifier or headless backbone): the model layer of :mod:`lead_hf.extraction`.

Every failure becomes an :class:`~lead_hf.errors.ExtractionError` with a one-line, actionable message.
The cheap steps (revision, config, image processor) come first so that a wrong model fails before any
weight is read, and so that a cache hit never loads the weights.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._digest import file_digest, json_digest
from ._hub_access import unreachable_hub_message
from ._logging import get_logger
from .errors import ExtractionError, first_line

if TYPE_CHECKING:
    import torch

# (cls head, distillation head) attribute pairs of distilled models whose logits average the two heads
TWO_HEAD_ATTRIBUTES = (("cls_classifier", "distillation_classifier"), ("classifier", "classifier_distill"))
HEAD_ATTRIBUTES = ("classifier", "fc", "head", "heads", "cls_head", "classification_head", "linear")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".msgpack", ".h5")

logger = get_logger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """What is known about a model before its weights are loaded."""

    ref: str  # Hub id or absolute local directory
    revision: str | None  # commit sha (Hub) or a digest of the local weight and config files' content
    config: Any
    processor: Any

    @property
    def preprocessing(self) -> dict[str, Any]:
        """The image processor's settings (part of the cache key)."""
        return {"class": type(self.processor).__name__, **json.loads(self.processor.to_json_string())}


def import_backends() -> None:
    """Import transformers' auto classes now (about 3 s the first time), so that no model's timing pays for it."""
    from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageClassification  # noqa: F401


def resolve_model(model: str | Path, *, revision: str | None, trust_remote_code: bool) -> ModelSpec:
    """Find the model (local folder or Hub id), pin its revision, load its config and image processor."""
    from transformers import AutoConfig, AutoImageProcessor

    path = Path(model).expanduser()
    if path.is_dir():
        if revision is not None:
            raise ExtractionError(f"revision={revision!r} applies to Hub models, but {str(model)!r} is a local "
                                  "folder; drop revision= or pass the Hub id.")
        ref, revision = str(path.resolve()), _local_revision(path)
        if not (path / "config.json").is_file():
            raise ExtractionError(f"{str(model)!r} has no config.json: not a transformers model folder "
                                  "(save it with model.save_pretrained(folder)).")
    elif isinstance(model, Path) or str(model).startswith((".", "/", "~")):
        raise ExtractionError(f"model folder {str(model)!r} does not exist; pass an existing folder or a Hub id.")
    else:
        ref, revision = str(model), _hub_revision(str(model), revision)
    kwargs = {"revision": None if path.is_dir() else revision, "trust_remote_code": trust_remote_code}
    try:
        config = AutoConfig.from_pretrained(ref, **kwargs)
    except (ValueError, KeyError, OSError) as err:
        raise ExtractionError(f"could not read the config of {str(model)!r}: {first_line(err)}") from err
    _check_image_model(str(model), config)
    try:
        processor = AutoImageProcessor.from_pretrained(ref, **kwargs)
    except (ValueError, KeyError, OSError) as err:
        raise ExtractionError(
            f"{str(model)!r} has no usable image processor (preprocessor_config.json): {first_line(err)}; "
            "save one with AutoImageProcessor(...).save_pretrained(folder)."
        ) from err
    return ModelSpec(ref=ref, revision=revision, config=config, processor=processor)


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A network in eval mode and how to read features (and source logits, when it has a trained head) from it."""

    network: torch.nn.Module
    reader: HeadInputReader | PooledOutputReader

    @property
    def has_source_head(self) -> bool:
        return isinstance(self.reader, HeadInputReader) and self.reader.keep_logits


def load_model(spec: ModelSpec, *, name: str, trust_remote_code: bool) -> LoadedModel:
    """Load the weights (eval mode) and choose where the features come from; failures become :class:`ExtractionError`.

    - A family with an image-classification class (transformers ``*ForImageClassification``, timm through
      ``TimmWrapper``) is loaded with it: features are the input of its final classifier, so a headless
      checkpoint of that family (ViT/DINOv2/BEiT/ConvNeXt backbones, saved without a head) is read exactly
      as the family's classifier would read it. When the checkpoint lacks the head's weights, transformers
      initialises a random head: its logits are dropped and the model is ranked from its features only.
    - Any other vision model (CLIP/SigLIP vision towers, timm with ``num_classes=0``) is loaded with
      ``AutoModel``: features are its ``pooler_output`` when the checkpoint holds the pooler's weights, else
      the mean of ``last_hidden_state`` over tokens or positions; it has no source logits.
    """
    if _supports(spec.config, "image-classification"):
        model, missing = _from_pretrained(spec, "AutoModelForImageClassification", name=name,
                                          trust_remote_code=trust_remote_code, hold_missing_head=True)
        return LoadedModel(model, HeadInputReader(classifier_heads(model), keep_logits=not missing))
    model, missing = _from_pretrained(spec, "AutoModel", name=name, trust_remote_code=trust_remote_code)
    untrained_pooler = any(".pooler." in f".{key}" for key in missing)
    return LoadedModel(model, PooledOutputReader(use_pooler=not untrained_pooler))


def supports_classification(config: Any) -> bool:
    """Whether the model's family has an image-classification class, so that it can be fine-tuned with a new head
    (also a headless checkpoint of such a family, timm's ``num_classes=0`` included)."""
    from transformers.models.auto import modeling_auto

    remote = "AutoModelForImageClassification" in (getattr(config, "auto_map", None) or {})
    return remote or type(config) in modeling_auto.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING


def load_for_finetuning(spec: ModelSpec, *, name: str, class_names: list[str], seed: int) -> torch.nn.Module:
    """The model with a new, seeded classification head for ``class_names`` (every layer trainable)."""
    import torch

    model, _ = _from_pretrained(
        spec, "AutoModelForImageClassification", name=name, trust_remote_code=False, drop_report=True,
        ignore_mismatched_sizes=True, id2label=dict(enumerate(class_names)),
        label2id={label: i for i, label in enumerate(class_names)},
    )  # fmt: skip
    torch.manual_seed(seed)
    for head in classifier_heads(model):  # new even when the source had as many classes as the target
        head.reset_parameters()
    return model


def _from_pretrained(spec: ModelSpec, auto_class: str, *, name: str, trust_remote_code: bool,
                     hold_missing_head: bool = False, drop_report: bool = False,
                     **overrides: Any) -> tuple[torch.nn.Module, list[str]]:
    """``(model in eval mode, missing head/pooler keys)``; loading errors become :class:`ExtractionError`.

    ``overrides`` go to ``from_pretrained`` (e.g. a new head's labels); ``drop_report`` silences transformers' load
    report, whose "newly initialized" lines are expected when the head is replaced on purpose.
    """
    import torch
    import transformers

    with _held_load_report() as report:
        try:
            model, loading_info = getattr(transformers, auto_class).from_pretrained(
                spec.ref, revision=None if Path(spec.ref).is_dir() else spec.revision,
                trust_remote_code=trust_remote_code, output_loading_info=True, **overrides,
            )
        except (torch.OutOfMemoryError, MemoryError) as err:
            raise ExtractionError(f"out of memory while loading {name!r}: {first_line(err)}; "
                                  "use a smaller model or free memory.") from err
        except Exception as err:  # safetensors/torch raise assorted types for damaged files
            raise ExtractionError(
                f"could not load the weights of {name!r} ({type(err).__name__}: {first_line(err)}); the files may "
                "be corrupt or incomplete: re-download them (force_download=True) or re-save the model."
            ) from err
        missing = sorted(loading_info["missing_keys"])
        if drop_report:
            report.drop()
        if hold_missing_head:
            missing = _untrained_head_keys(model, missing)
            if missing:
                report.drop()  # transformers' "newly initialized" warning is about the head we drop
                saved_as = ", ".join(getattr(spec.config, "architectures", None) or []) or "an unknown class"
                logger.info("%s has no trained classification head (%s missing; saved as %s): ranked from its "
                            "features only, without source logits.", name, ", ".join(missing), saved_as)
    return model.eval(), missing


class HeadInputReader:
    """Features = the input of the final classifier(s), captured by forward pre-hooks; logits = the model output.

    ``keep_logits=False`` for a head with random weights: its logits are not the source model's.
    """

    def __init__(self, heads: list[torch.nn.Linear], *, keep_logits: bool):
        self.heads, self.keep_logits = heads, keep_logits
        self._captured: list[torch.Tensor] = []

    @contextlib.contextmanager
    def attached(self) -> Iterator[HeadInputReader]:
        hooks = [head.register_forward_pre_hook(lambda _module, args: self._captured.append(args[0]))
                 for head in self.heads]
        try:
            yield self
        finally:
            for hook in hooks:
                hook.remove()

    def __call__(self, network: torch.nn.Module, pixel_values: torch.Tensor, *, name: str):
        import torch

        self._captured.clear()
        logits = network(pixel_values=pixel_values).logits
        if len(self._captured) != len(self.heads):
            raise ExtractionError(f"{name!r}: the classifier ran {len(self._captured)} times for {len(self.heads)} "
                                  "head(s); cannot tell which call gives the penultimate features.")
        features = torch.cat([f.flatten(1) for f in self._captured], dim=1)
        return features, logits if self.keep_logits else None


class PooledOutputReader:
    """Features of a model without a classifier: ``pooler_output``, else the mean of ``last_hidden_state``."""

    def __init__(self, *, use_pooler: bool):
        self.use_pooler = use_pooler

    @contextlib.contextmanager
    def attached(self) -> Iterator[PooledOutputReader]:
        yield self

    def __call__(self, network: torch.nn.Module, pixel_values: torch.Tensor, *, name: str):
        output = network(pixel_values=pixel_values)
        pooled = getattr(output, "pooler_output", None) if self.use_pooler else None
        if pooled is None:
            hidden = getattr(output, "last_hidden_state", None)
            if hidden is None or hidden.dim() not in (3, 4):
                raise ExtractionError(f"{name!r} returns neither pooler_output nor a last_hidden_state of tokens "
                                      "or feature maps: cannot pool its features.")
            pooled = hidden.mean(dim=1) if hidden.dim() == 3 else hidden.flatten(2).mean(dim=2)  # tokens / (C, H, W)
        return pooled.flatten(1), None


def classifier_heads(model: torch.nn.Module) -> list[torch.nn.Linear]:
    """The final ``nn.Linear`` layer(s) producing the logits: two for distilled (DeiT/LeViT-style) models.

    Lookup order: distillation head pairs, timm's ``get_classifier()``, the usual head attribute names, then
    the last ``nn.Linear`` whose ``out_features`` equals ``config.num_labels``.
    """
    import torch

    num_labels = model.config.num_labels

    def last_linear(module: Any) -> torch.nn.Linear | None:
        if not isinstance(module, torch.nn.Module):
            return None
        linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear) and m.out_features == num_labels]
        return linears[-1] if linears else None

    for first, second in TWO_HEAD_ATTRIBUTES:
        pair = [last_linear(getattr(model, first, None)), last_linear(getattr(model, second, None))]
        if all(head is not None for head in pair):
            return pair
    timm_model = getattr(model, "timm_model", None)
    if timm_model is not None and hasattr(timm_model, "get_classifier"):
        head = last_linear(timm_model.get_classifier())
        if head is not None:
            return [head]
    for attribute in HEAD_ATTRIBUTES:
        head = last_linear(getattr(model, attribute, None))
        if head is not None:
            return [head]
    head = last_linear(model)
    if head is None:
        raise ExtractionError(
            f"{type(model).__name__} has no nn.Linear classifier with {num_labels} outputs (config.num_labels): "
            "cannot locate the penultimate features of this architecture."
        )
    return [head]


def _untrained_head_keys(model: torch.nn.Module, missing_keys: Iterable[str]) -> list[str]:
    """The parameter names of the classifier head(s) that the checkpoint lacked (so they were randomly initialised)."""
    module_names = {id(module): module_name for module_name, module in model.named_modules()}
    head_keys = {f"{module_names[id(head)]}.{param}" for head in classifier_heads(model)
                 for param, _ in head.named_parameters(recurse=False)}
    return sorted(head_keys.intersection(missing_keys))


class _HeldLoadReport(logging.Filter):
    """Holds back this thread's transformers loading warnings ("... newly initialized") until the head is checked.

    The held records are logged when the context of :func:`_held_load_report` ends, unless :meth:`drop` was
    called because our own :class:`ExtractionError` says it better.
    """

    def __init__(self):
        super().__init__()
        self.thread, self.records = threading.get_ident(), []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread != self.thread:
            return True
        self.records.append(record)
        return False

    def drop(self) -> None:
        self.records.clear()


@contextlib.contextmanager
def _held_load_report() -> Iterator[_HeldLoadReport]:
    logger = logging.getLogger("transformers.modeling_utils")  # where from_pretrained logs its load report
    held = _HeldLoadReport()
    logger.addFilter(held)
    try:
        yield held
    finally:
        logger.removeFilter(held)
        for record in held.records:
            logger.handle(record)


def count_parameters(model: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def _supports(config: Any, task: str) -> bool:
    """Whether transformers' auto class for ``task`` (``"image-classification"`` or ``"model"``) builds this config.

    A classifier also needs classes: timm checkpoints saved with ``num_classes=0`` are headless backbones.
    """
    from transformers.models.auto import modeling_auto

    if task == "image-classification":
        return supports_classification(config) and getattr(config, "num_labels", 0) > 0
    return type(config) in modeling_auto.MODEL_MAPPING or "AutoModel" in (getattr(config, "auto_map", None) or {})


def _check_image_model(name: str, config: Any) -> None:
    """Refuse configs that are neither an image classifier nor a vision backbone, before any weight is read."""
    from transformers.models.auto import modeling_auto

    if _supports(config, "image-classification"):
        return
    kind = getattr(config, "model_type", type(config).__name__)
    vision = type(config) in modeling_auto.MODEL_FOR_IMAGE_MAPPING or getattr(config, "num_channels", None)
    if not (_supports(config, "model") and vision):
        raise ExtractionError(
            f"{name!r} (model_type {kind!r}) is not an image model: neither AutoModelForImageClassification nor "
            "an image backbone loads it; pick an image-classification or image-feature-extraction model."
        )


def _hub_revision(model_id: str, revision: str | None) -> str:
    """Pin a Hub model to its commit sha by fetching (or finding in the cache) its small config.json."""
    from huggingface_hub import errors as hub_errors
    from huggingface_hub import hf_hub_download

    unreachable = unreachable_hub_message()
    if unreachable:  # hf_hub_download would retry for seconds per model; a cached copy still serves
        try:
            config_file = hf_hub_download(model_id, "config.json", revision=revision, local_files_only=True)
        except (hub_errors.LocalEntryNotFoundError, OSError, ValueError) as err:
            raise ExtractionError(f"model {model_id!r} is not in the local cache and {unreachable}.") from err
        logger.warning("The Hub cannot be reached: %s uses its cached revision.", model_id)
        return Path(config_file).parent.name
    try:
        config_file = hf_hub_download(model_id, "config.json", revision=revision)
    except hub_errors.GatedRepoError as err:
        raise ExtractionError(f"{model_id!r} is gated: accept its conditions on https://huggingface.co/{model_id} "
                              "and log in (`hf auth login`), or skip it.") from err
    except hub_errors.RepositoryNotFoundError as err:
        raise ExtractionError(f"model {model_id!r} was not found on the Hub (404): check the id, or log in "
                              "if it is private.") from err
    except hub_errors.RevisionNotFoundError as err:
        raise ExtractionError(f"model {model_id!r} has no revision {revision!r}; pass an existing branch, "
                              "tag or commit.") from err
    except hub_errors.LocalEntryNotFoundError as err:
        raise ExtractionError(f"model {model_id!r} is not in the local cache and the Hub is unreachable "
                              "(offline?): connect once to download it, or pass a local folder.") from err
    except hub_errors.EntryNotFoundError as err:
        raise ExtractionError(f"{model_id!r} has no config.json: not a transformers model.") from err
    except (OSError, ValueError) as err:  # network errors, invalid repo ids
        raise ExtractionError(f"could not reach model {model_id!r}: {first_line(err)}") from err
    return Path(config_file).parent.name  # .../snapshots/<commit sha>/config.json


def _local_revision(folder: Path) -> str:
    """A digest of the content of the weight and config files (see :mod:`lead_hf._digest` for big files)."""
    files = sorted(f for f in folder.iterdir() if f.is_file() and (f.suffix in WEIGHT_SUFFIXES or f.suffix == ".json"))
    return "local-" + json_digest([(f.name, file_digest(f)) for f in files])

"""LEAD as an `evaluate` module: how well a pre-trained model's frozen features suit a labelled task.

A thin wrapper over ``lead_hf.lead_score``. This file is the single source: ``metric/lead/lead.py`` (the
Space and checkout layout) is a symlink to it, and ``lead_hf.load_metric()`` loads it from the package.
"""

import datasets
import evaluate
import numpy as np

import lead_hf

_CITATION = """\
@inproceedings{hu2024lead,
  title     = {{LEAD}: Exploring Logit Space Evolution for Model Selection},
  author    = {Hu, Zixuan and Li, Xiaotong and Tang, Shixiang and Liu, Jun and Hu, Yichun and Duan, Ling-Yu},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2024}
}
"""

_DESCRIPTION = """\
LEAD (Hu et al., CVPR 2024) predicts how well a pre-trained model will fine-tune on a labelled target task
from the model's frozen penultimate features, without fine-tuning it. A linear probe gives initial class
probabilities; the neural tangent kernel of a randomly initialised MLP head gives, per class, how fast the
outputs relax towards the labels under gradient flow; the score is minus the cross-entropy of the evolved
outputs. Compute it once per candidate model on the same data and rank the models by it: higher is better.
The initial-energy diagnostics of Ren et al. (ICLR 2023) come for free.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`array-like` of shape `(n_samples, n_features)`): frozen penultimate features of one
        model, one row per sample (``lead_hf.extract(...).features``). Stored as float32.
    references (`list` of `int` or `str`, length `n_samples`): the target labels; at least two classes.
    feature_dim (`int`, *optional*, at load time: ``evaluate.load(..., feature_dim=2048)``): the width of
        the feature vectors, if known; they are then stored about twice as fast. Any width when omitted.
    source_logits (`array-like` of shape `(n_samples, n_source_classes)`, *optional*): logits of the
        model's pre-trained head, passed to ``compute`` (not ``add_batch``); LEAD itself does not use them.
    preset, classifier, cv, reg, prob_norm, calibrate, rate, rate_norm, eta, feature_scaling, score_form, t,
    samples_per_class, head_widths, seed (*optional*): options of ``lead_hf.lead_score``, passed to
        ``compute``; an option left at `None` keeps the scorer's default (``preset="paper"`` gives the
        paper's in-sample probe and NTK rates).

Returns:
    lead (`float`): the LEAD score, minus a cross-entropy (at most 0; higher is better). Compare it
        across models on the same data, not across datasets.
    energy0 (`float`): initial energy, mean L2 distance between one-hot labels and the probe's probabilities.
    loss0 (`float`): cross-entropy of the probe's probabilities.
    acc0 (`float`): accuracy of the probe, in [0, 1].
    ...: the further diagnostics of ``lead_hf.LeadResult.as_dict()``: ``mean_rate``, the mean per-class
        rate (the held-out information share by default, the head's NTK rate with ``rate="ntk"``), and
        ``relative_rate``, that mean over its scale.

Examples:
    >>> import numpy as np
    >>> import lead_hf
    >>> lead_metric = lead_hf.load_metric()  # or evaluate.load("metric/lead") in a checkout
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([0, 1, 2], 20)
    >>> features = (rng.normal(size=(60, 8)) + 2 * labels[:, None]).astype(np.float32)
    >>> for start in range(0, 60, 25):
    ...     lead_metric.add_batch(predictions=features[start:start + 25], references=labels[start:start + 25])
    >>> results = lead_metric.compute()
    >>> {"lead", "energy0", "loss0", "acc0"} <= set(results)
    True
    >>> results["lead"] < 0
    True
"""

# Each stored example is an Array2D: datasets writes and reads those from numpy buffers, several times
# faster than a Sequence of floats (converted row by row through Python objects). (1, D) needs the width
# up front and is the fastest; (None, 1) takes any width (see benchmarks/metric_add_batch.py).
def _features(feature_dim, label_dtype):
    shape = (None, 1) if feature_dim is None else (1, feature_dim)
    return datasets.Features(
        {"predictions": datasets.Array2D(shape=shape, dtype="float32"), "references": datasets.Value(label_dtype)}
    )


def _to_stored(features, ndim, feature_dim):
    """``(n, D)`` rows (``ndim=2``) or one ``(D,)`` row (``ndim=1``) -> float32 in the stored 2-D shape."""
    if features is None:
        return None
    array = np.asarray(features, dtype=np.float32)
    if array.ndim != ndim:
        expected = "(n_samples, n_features)" if ndim == 2 else "(n_features,)"
        raise lead_hf.InvalidInputError(
            f"lead: predictions must have shape {expected}, got shape {array.shape}; pass one feature "
            "vector per sample (reshape with x.reshape(len(x), -1))."
        )
    if feature_dim is None:
        return array[..., None]
    if array.shape[-1] != feature_dim:
        raise lead_hf.InvalidInputError(
            f"lead: predictions have {array.shape[-1]} features but the metric was loaded with "
            f"feature_dim={feature_dim}; load it with feature_dim={array.shape[-1]} (or none)."
        )
    return array[..., None, :]


def _check_labels(references):
    """Class labels as ints or strings; floats that are not whole numbers (stored as int64, 0.7 would become 0) and
    NaN are refused with the first offending positions, never the whole array."""
    if references is None:
        return None
    array = np.asarray(references)
    if array.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(array) | (array != np.round(array)))
        if bad.size:
            shown = ", ".join(f"[{i}]={array[i]!r}" for i in bad[:5])
            raise lead_hf.InvalidInputError(
                f"lead: references must be class labels (ints or strings); {bad.size} of {array.size} are not whole "
                f"numbers or are NaN ({shown}{', ...' if bad.size > 5 else ''}); encode the classes as integers."
            )
        return array.astype(np.int64)
    return references


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Lead(evaluate.Metric):
    """LEAD transferability score (Hu et al., CVPR 2024) of frozen features for labelled data."""

    def __init__(self, *args, feature_dim=None, **kwargs):
        """``feature_dim`` (`int`, *optional*): the feature width, if known; storage is then about twice as fast."""
        is_count = isinstance(feature_dim, (int, np.integer)) and not isinstance(feature_dim, bool) and feature_dim >= 1
        if feature_dim is not None and not is_count:
            raise lead_hf.InvalidInputError(f"lead: feature_dim must be a positive int or None, got {feature_dim!r}.")
        # Set before super().__init__, which calls _info.
        self.feature_dim = None if feature_dim is None else int(feature_dim)
        super().__init__(*args, **kwargs)

    def _info(self):
        info = evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[_features(self.feature_dim, "int64"), _features(self.feature_dim, "string")],
            homepage="https://arxiv.org/abs/2507.14559",
            reference_urls=["https://arxiv.org/abs/2507.14559", "https://arxiv.org/abs/2302.05779"],
        )
        # Hand compute() numpy arrays, not nested lists (50,000 x 2,048 lists cost seconds and gigabytes).
        # Set after construction: MetricInfo's check allows the numpy format only for flat Value features,
        # a limit older than datasets' numpy formatting of Array2D columns.
        info.format = "numpy"
        return info

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch of feature rows ``(n_samples, n_features)`` and their labels."""
        predictions = _to_stored(predictions, 2, self.feature_dim)
        if predictions is not None and len(predictions) == 0:
            raise lead_hf.InvalidInputError("lead: add_batch got no samples (predictions has 0 rows); skip empty batches.")
        return super().add_batch(predictions=predictions, references=_check_labels(references), **kwargs)

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Add one feature vector ``(n_features,)`` and its label."""
        prediction = _to_stored(prediction, 1, self.feature_dim)
        reference = None if reference is None else _check_labels([reference])[0]
        return super().add(prediction=prediction, reference=reference, **kwargs)

    def _compute(
        self,
        predictions,
        references,
        source_logits=None,
        preset=None,
        classifier=None,
        cv=None,
        reg=None,
        prob_norm=None,
        calibrate=None,
        rate=None,
        rate_norm=None,
        eta=None,
        feature_scaling=None,
        score_form=None,
        t=None,
        samples_per_class=None,
        head_widths=None,
        seed=None,
    ):
        options = {
            "preset": preset,
            "classifier": classifier,
            "cv": cv,
            "reg": reg,
            "prob_norm": prob_norm,
            "calibrate": calibrate,
            "rate": rate,
            "rate_norm": rate_norm,
            "eta": eta,
            "feature_scaling": feature_scaling,
            "score_form": score_form,
            "t": t,
            "samples_per_class": samples_per_class,
            "head_widths": head_widths,
            "seed": seed,
        }
        features = np.asarray(predictions)
        if features.ndim != 3:  # numpy could not stack the stored vectors
            raise lead_hf.InvalidInputError(
                "lead: the added feature vectors have different lengths; every sample needs the same n_features."
            )
        features = features.reshape(features.shape[0], -1)  # stored (N, D, 1) or (N, 1, D) -> (N, D), a view
        result = lead_hf.lead_score(
            features,
            np.asarray(references),
            source_logits=source_logits,
            return_details=True,
            **{name: value for name, value in options.items() if value is not None},
        )
        return result.as_dict()

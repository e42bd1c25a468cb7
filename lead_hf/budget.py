"""Adaptive image budget: rounds of more images per class for fewer models.

Every candidate is scored on a few images per class; only some go on to the next round, which adds images (each
round's images are a superset of the last round's, so a model extends its features instead of extracting them
again); the last round is the full budget. Models eliminated in a round rank below every model that went further,
in the order of their score at their last round (scores on different image counts are not compared). Two rules
decide who goes on: a share of the round's best (successive halving, Jamieson and Talwalkar, AISTATS 2016), and
racing (Maron and Moore, NIPS 1993): only the models the data cannot yet tell from the leader, i.e. those the
leader does not beat with the confidence level over resampled images. Pure logic: the caller scores a round
(see :func:`lead_hf.rank.rank_models`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .errors import InvalidInputError

__all__ = ["Budget", "NAMED_BUDGETS", "RoundResult", "successive_halving"]

NAMED_BUDGETS = ("racing", "halving")  # the constructors of Budget that take only the full budget


@dataclass(frozen=True)
class Budget:
    """A schedule of images per class and the share of models each round keeps.

    Attributes:
        per_class (`tuple[int, ...]`): images per class of each round, increasing; the last is the full budget.
        keep (`float`): the share of the round's models that goes on (rounded up); 0 with ``keep_within_noise``
            races.
        min_kept (`int`): at least this many models go on.
        keep_within_noise (`bool`): models below the cut that are within noise of the last model kept go on too
            (the caller gives the comparison, from score intervals).
    """

    per_class: tuple[int, ...]
    keep: float = 1.0 / 3.0
    min_kept: int = 2
    keep_within_noise: bool = False

    def __post_init__(self) -> None:
        counts = tuple(self.per_class) if isinstance(self.per_class, Sequence) else ()
        if not counts or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in counts) or list(
            counts
        ) != sorted(set(counts)):
            raise InvalidInputError(f"budget per_class must be increasing ints >= 1, e.g. (12, 34, 100); got {self.per_class!r}.")
        if isinstance(self.keep, bool) or not isinstance(self.keep, (int, float)) or not 0.0 <= self.keep < 1.0:
            raise InvalidInputError(f"budget keep must be a share in [0, 1), e.g. 1/3; got {self.keep!r}.")
        if isinstance(self.min_kept, bool) or not isinstance(self.min_kept, int) or self.min_kept < 1:
            raise InvalidInputError(f"budget min_kept must be an int >= 1; got {self.min_kept!r}.")
        if not isinstance(self.keep_within_noise, bool):
            raise InvalidInputError(f"budget keep_within_noise must be True or False; got {self.keep_within_noise!r}.")
        object.__setattr__(self, "per_class", counts)

    @classmethod
    def halving(cls, full_per_class: int, *, eta: int = 3, first_per_class: int = 10) -> Budget:
        """Rounds of ``full / eta^r`` images per class down to ``first_per_class`` or more, keeping 1/eta each time.

        Args:
            full_per_class (`int`): the full budget (images per class of the last round).
            eta (`int`, *optional*, defaults to 3): the factor between rounds (images up, models down).
            first_per_class (`int`, *optional*, defaults to 10): the fewest images per class of the first round
                (a 5-fold probe needs a few per class and per fold).

        Example:
            >>> Budget.halving(100).per_class
            (12, 34, 100)
        """
        if isinstance(eta, bool) or not isinstance(eta, int) or eta < 2:
            raise InvalidInputError(f"budget eta must be an int >= 2; got {eta!r}.")
        counts = [_check_full(full_per_class)]
        while math.ceil(counts[-1] / eta) >= first_per_class:
            counts.append(math.ceil(counts[-1] / eta))
        return cls(tuple(reversed(counts)), keep=1.0 / eta)

    @classmethod
    def racing(cls, full_per_class: int) -> Budget:
        """Every model on a quarter of the full budget, then only the leader and the models within noise of it on
        the full budget (see :mod:`lead_hf.budget`; the noise comes from the caller's intervals).

        Example:
            >>> Budget.racing(100).per_class
            (25, 100)
        """
        first = math.ceil(_check_full(full_per_class) / 4)
        return cls((first, full_per_class) if first < full_per_class else (full_per_class,), keep=0.0, min_kept=1,
                   keep_within_noise=True)

    def n_kept(self, n_models: int) -> int:
        """How many of ``n_models`` go on to the next round."""
        return min(n_models, max(self.min_kept, math.ceil(n_models * self.keep - 1e-9)))


def _check_full(full_per_class: int) -> int:
    if isinstance(full_per_class, bool) or not isinstance(full_per_class, int) or full_per_class < 1:
        raise InvalidInputError(f"the full budget must be an int >= 1 image per class; got {full_per_class!r}.")
    return full_per_class


@dataclass(frozen=True)
class RoundResult:
    """Where a model stopped: the last round it was scored in, its images per class there, and its score."""

    model: str
    round: int
    per_class: int
    score: float


def successive_halving(
    models: Sequence[str],
    score_round: Callable[[list[str], int], Mapping[str, float]],
    budget: Budget,
    *,
    within_noise: Callable[[str, str], bool] | None = None,
) -> list[RoundResult]:
    """Run the rounds of ``budget`` and return every model's result, best first.

    Args:
        models (sequence of `str`): the candidates.
        score_round (`Callable[[list[str], int], Mapping[str, float]]`): scores of the given models on that many
            images per class (higher is better; ``nan`` for a model that failed: it stops there, ranked last).
        budget (`Budget`): the schedule.
        within_noise (`Callable[[str, str], bool]`, *optional*): ``within_noise(a, b)`` is true when b's score is
            within noise of a's (scored in the same round). A model below the cut that is within noise of the
            last model kept goes on too: the cut then never separates models the data cannot tell apart.

    Returns:
        `list[RoundResult]`: models that reached a later round first; within a round, by score; failures last.

    Raises:
        InvalidInputError: a budget that keeps models within noise, without ``within_noise``.
    """
    if budget.keep_within_noise and within_noise is None:
        raise InvalidInputError("this budget keeps the models within noise of the cut: pass within_noise (rank_models "
                                "builds it from score intervals, so it needs confidence= a level such as 0.9).")
    alive, results = list(models), {}
    for index, per_class in enumerate(budget.per_class):
        scores = score_round(list(alive), per_class)
        for model in alive:
            results[model] = RoundResult(model, index, per_class, float(scores.get(model, math.nan)))
        ranked = sorted((m for m in alive if not math.isnan(results[m].score)), key=lambda m: -results[m].score)
        n_kept = budget.n_kept(len(ranked))
        alive = ranked[:n_kept]
        if budget.keep_within_noise and alive:
            alive += [m for m in ranked[n_kept:] if within_noise(alive[n_kept - 1], m)]
    return sorted(results.values(), key=_order)


def _order(result: RoundResult) -> tuple[bool, int, float]:
    failed = math.isnan(result.score)
    return failed, -result.round, 0.0 if failed else -result.score

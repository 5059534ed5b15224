"""Statistics over paired rounds: per-round ratios and their median."""

from __future__ import annotations

import statistics
from typing import Mapping, Sequence

from harness.timing import Competitor


def round_ratios(slow: Competitor, fast: Competitor) -> list[float]:
    """For each round, ``slow``'s median step time over ``fast``'s in that same round."""
    return [statistics.median(a) / statistics.median(b) for a, b in zip(slow.rounds, fast.rounds)]


def paired_ratio(slow: Competitor, fast: Competitor) -> float:
    """How many times slower ``slow`` is than ``fast``: the median over rounds of the per-round ratios.

    Only times taken in the same round, seconds apart, are compared (see
    :mod:`harness.timing` for why).
    """
    return statistics.median(round_ratios(slow, fast))


def pooled_ratio(slow: Competitor, fast: Competitor) -> float:
    """Median time of ``slow`` over median time of ``fast``, all rounds pooled (reported, never judged)."""
    return slow.median / fast.median


def paired_ratio_of_totals(slow: Sequence[float], fast: Sequence[float]) -> float:
    """The median over rounds of ``slow[r] / fast[r]``, for one timing per competitor per round."""
    return statistics.median(a / b for a, b in zip(slow, fast))


class PairedTimings:
    """The competitors of one paired-rounds run, looked up by key, with their ratios."""

    def __init__(self, competitors: Mapping[str, Competitor]) -> None:
        self.competitors = dict(competitors)

    def __getitem__(self, key: str) -> Competitor:
        return self.competitors[key]

    def __contains__(self, key: object) -> bool:
        return key in self.competitors

    def round_ratios(self, slow: str, fast: str) -> list[float]:
        """Per-round ratios of ``slow`` over ``fast`` (see :func:`round_ratios`)."""
        return round_ratios(self.competitors[slow], self.competitors[fast])

    def ratio(self, slow: str, fast: str) -> float:
        """The paired ratio of ``slow`` over ``fast`` (see :func:`paired_ratio`)."""
        return paired_ratio(self.competitors[slow], self.competitors[fast])

    def ratio_of_medians(self, slow: str, fast: str) -> float:
        """The pooled ratio of ``slow`` over ``fast`` (see :func:`pooled_ratio`)."""
        return pooled_ratio(self.competitors[slow], self.competitors[fast])

"""A live buyer's recommendations: the run's item rules fired on the items of their latest
orders, as `tagging.recommend` fires them in a run.

A rule fires when all its antecedents are among the seeds (the items of the person's
`recent_orders` latest orders, live ones included); each consequent the person has not bought
(with `exclude_bought`) is scored by the rule's confidence minus the consequent's support and
keeps its best rule (highest score, then the better rank); the `recommendations` best, by
score, rule rank, item id. The rules are the run's: a run over the same orders mines its own,
which can differ (see the README).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from tagging.basket import BasketParams
from tagging.live.shopping import Shopping


class ItemRule(NamedTuple):
    rank: int  # the rule's rank among the run's item rules (1 = the best)
    antecedents: frozenset[str]
    consequents: tuple[str, ...]
    score: float  # confidence - consequent support


class Recommended(NamedTuple):
    item_id: str
    score: float
    rule_rank: int


class ItemRules:
    """The run's item rules, found by their antecedents."""

    def __init__(self, rules: Iterable[ItemRule]) -> None:
        self._by_antecedent: dict[str, list[ItemRule]] = {}
        for rule in rules:
            for item in rule.antecedents:
                self._by_antecedent.setdefault(item, []).append(rule)

    def recommend(self, shopping: Shopping, params: BasketParams) -> list[Recommended]:
        """The person's recommendations, best first."""
        seeds = shopping.seeds()
        fired = {r for item in seeds for r in self._by_antecedent.get(item, [])}
        best: dict[str, tuple[float, int]] = {}
        for rule in fired:
            if not rule.antecedents <= seeds:
                continue
            for item in rule.consequents:
                if params.exclude_bought and item in shopping.bought:
                    continue
                found = best.get(item)
                if found is None or (-rule.score, rule.rank) < (-found[0], found[1]):
                    best[item] = (rule.score, rule.rank)
        ranked = sorted(best.items(), key=lambda pair: (-pair[1][0], pair[1][1], pair[0]))
        return [
            Recommended(item, score, rank)
            for item, (score, rank) in ranked[: params.recommendations]
        ]

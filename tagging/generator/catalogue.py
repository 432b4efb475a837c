"""The generated catalogue: brands, items, prices, planted rule items and search queries."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tagging.generator import personas as gp
from tagging.generator.sampling import CAT_P, N_CAT, TIER, Arr, draw_index, pick_by_row

CAT_INDEX = {c.name: i for i, c in enumerate(gp.CATEGORIES)}


@dataclass
class Catalogue:
    cat: Arr  # per item: category index
    brand: Arr  # per item: brand index
    price: Arr  # per item: cents
    weight: Arr  # per item: popularity within its category
    names: list[str]
    brand_names: list[str]
    brand_cat: Arr
    luxury_brands: list[Arr]  # per category: the brands brand-loyal persons favour
    planted: list[tuple[int, int]]  # per rule: (antecedent item, consequent item)
    group_items: Arr  # sampling groups: any tier, cheap tier, premium items of each brand
    group_cum: Arr
    group_first: Arr
    group_last: Arr
    queries: list[str]
    query_first: Arr
    query_count: Arr

    def draw(self, rng: np.random.Generator, groups: Arr) -> Arr:
        """One popularity-weighted item of each requested sampling group."""
        pos = np.searchsorted(self.group_cum, groups + rng.random(len(groups)), side="right")
        return self.group_items[np.clip(pos, self.group_first[groups], self.group_last[groups])]


def _make_brands(rng: np.random.Generator) -> tuple[list[str], Arr, Arr, list[Arr]]:
    """Brand names, category, price multiplier, and per category its luxury brands."""
    per_cat = rng.integers(5, 16, N_CAT)
    combos = [f"{h}_{t}" for h in gp.BRAND_HEADS for t in gp.BRAND_TAILS]
    chosen = rng.choice(len(combos), int(per_cat.sum()), replace=False)
    brand_cat = np.repeat(np.arange(N_CAT), per_cat)
    mult = rng.uniform(0.5, 1.6, len(brand_cat))
    luxury = []
    for c, first in enumerate(np.cumsum(per_cat) - per_cat):
        own = first + rng.permutation(per_cat[c])[: max(2, round(0.3 * per_cat[c]))]
        mult[own] = rng.uniform(2.5, 4.0, len(own))  # what brand-loyal persons stick to
        luxury.append(np.sort(own))
    return [combos[i] for i in chosen], brand_cat, mult, luxury


def _make_items(rng: np.random.Generator, brand_cat: Arr, mult: Arr) -> tuple[Arr, Arr, Arr, Arr]:
    counts = gp.N_ITEMS // N_CAT + (np.arange(N_CAT) < gp.N_ITEMS % N_CAT)
    cat = np.repeat(np.arange(N_CAT), counts)
    brand = np.empty(gp.N_ITEMS, dtype=np.int64)
    weight = np.empty(gp.N_ITEMS)
    for c, first in enumerate(np.cumsum(counts) - counts):
        own = np.flatnonzero(brand_cat == c)
        share = rng.gamma(1.0, size=len(own))
        picks = own[draw_index(rng, share, counts[c] - len(own))]
        brand[first : first + counts[c]] = np.concatenate([own, picks])  # every brand sells
        weight[first : first + counts[c]] = 1.0 / (1 + rng.permutation(counts[c]))  # Zipf ranks
    base = np.array([c.base_price for c in gp.CATEGORIES])[cat]
    yuan = np.maximum(1, np.floor(base * mult[brand] * rng.lognormal(0.0, 0.35, gp.N_ITEMS)))
    price = yuan.astype(np.int64) * 100 + np.array([0, 90, 99])[rng.integers(0, 3, gp.N_ITEMS)]
    return cat, brand, price, weight


def _plant_items(
    rng: np.random.Generator, cat: Arr, brand: Arr, price: Arr, weight: Arr, brand_cat: Arr
) -> list[tuple[int, int]]:
    """Turn the last two items of each rule's category into its antecedent and consequent."""
    planted = []
    for rule in gp.RULES:
        c = CAT_INDEX[rule.category]
        last = int(np.flatnonzero(cat == c)[-1])
        ante, cons = last, last - 1
        own = np.flatnonzero(brand_cat == c)
        brand[[ante, cons]] = own[rng.integers(0, len(own))]  # one brand: loyalty stays intact
        price[ante] = round(rule.antecedent_price * 100)
        price[cons] = round(rule.consequent_price * 100)
        weight[ante], weight[cons] = 1.5, 1.0 / 30  # the antecedent is the category's top seller
        planted.append((ante, cons))
    return planted


def _item_names(
    rng: np.random.Generator,
    cat: Arr,
    brand: Arr,
    brand_names: list[str],
    planted: list[tuple[int, int]],
) -> list[str]:
    special = {}
    for (ante, cons), rule in zip(planted, gp.RULES, strict=True):
        special[ante], special[cons] = rule.antecedent, rule.consequent
    noun_pick = rng.random(len(cat))
    model = rng.integers(1, 100, len(cat))
    names = []
    for i, (c, b) in enumerate(zip(cat.tolist(), brand.tolist(), strict=True)):
        title = brand_names[b].replace("_", " ").title()
        if i in special:
            names.append(f"{title} {special[i].replace('_', ' ').title()}")
            continue
        nouns = gp.CATEGORIES[c].nouns
        noun = nouns[int(noun_pick[i] * len(nouns))].replace("_", " ").title()
        names.append(f"{title} {noun} {model[i]}")
    return names


def _sampling_groups(cat: Arr, brand: Arr, price: Arr, n_brands: int) -> list[Arr]:
    groups = [np.flatnonzero(cat == c) for c in range(N_CAT)]
    for c in range(N_CAT):
        own = np.flatnonzero(cat == c)
        groups.append(own[price[own] <= np.quantile(price[own], 1 / 3)])  # bottom price third
    for b in range(n_brands):
        own = np.flatnonzero(brand == b)
        groups.append(own[price[own] >= np.median(price[own])])
    return groups


def _queries() -> tuple[list[str], Arr, Arr]:
    texts: list[str] = []
    first, count = [], []
    for c in gp.CATEGORIES:
        nouns = list(c.nouns) + [
            n for r in gp.RULES if r.category == c.name for n in (r.antecedent, r.consequent)
        ]
        first.append(len(texts))
        texts += [t.format(n.replace("_", " ")) for n in nouns for t in gp.QUERY_TEMPLATES]
        count.append(len(texts) - first[-1])
    return texts, np.array(first), np.array(count)


def make_catalogue(rng: np.random.Generator) -> Catalogue:
    brand_names, brand_cat, mult, luxury = _make_brands(rng)
    cat, brand, price, weight = _make_items(rng, brand_cat, mult)
    planted = _plant_items(rng, cat, brand, price, weight, brand_cat)
    names = _item_names(rng, cat, brand, brand_names, planted)
    groups = _sampling_groups(cat, brand, price, len(brand_names))
    cum = [g + np.cumsum(weight[items]) / weight[items].sum() for g, items in enumerate(groups)]
    sizes = np.array([len(g) for g in groups])
    first = np.cumsum(sizes) - sizes
    queries, q_first, q_count = _queries()
    return Catalogue(
        cat,
        brand,
        price,
        weight,
        names,
        brand_names,
        brand_cat,
        luxury,
        planted,
        np.concatenate(groups),
        np.concatenate(cum),
        first,
        first + sizes - 1,
        queries,
        q_first,
        q_count,
    )


def draw_items(rng: np.random.Generator, cat: Catalogue, persona: Arr, fav: Arr) -> Arr:
    """One item per draw following the drawing person's persona (categories, price tier, brand)."""
    group = pick_by_row(rng, CAT_P, persona)
    tier = TIER[persona]
    group[tier == 1] += N_CAT
    loyal = np.flatnonzero(tier == 2)
    favourite = fav[loyal]
    stays = rng.random(len(loyal)) < 0.95
    # the rest are cheap extras of the same category, so the favourite keeps >= 85% of spend
    group[loyal] = np.where(stays, 2 * N_CAT + favourite, N_CAT + cat.brand_cat[favourite])
    return cat.draw(rng, group)

"""Persons, their accounts and devices, and which device and account a session uses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tagging.generator import personas as gp
from tagging.generator.catalogue import Catalogue
from tagging.generator.sampling import (
    CAT_P,
    N_CAT,
    PERSONAS,
    TIER,
    Arr,
    draw_index,
    ips,
    permute,
    persona_column,
    pick_by_row,
    uniform_int,
)

ACCOUNTS_PER_PERSON = 1.12
P_PHONE = 0.85
AGE = persona_column("age").astype(np.int64)


@dataclass
class People:
    persona: Arr  # per person
    age: Arr
    female: Arr
    has_phone: Arr
    fav_brand: Arr  # -1 unless brand loyal
    home_ip: Arr
    city: Arr
    second: Arr  # account index of the second account, -1 if none
    acc_person: Arr  # per account; accounts 0..n-1 are the persons' primary accounts
    acc_num: Arr  # numeric part of the user id
    dev_person: Arr  # per device
    dev_profile: Arr
    dev_first: Arr  # per person: index of its first device
    n_dev: Arr

    @property
    def n(self) -> int:
        return len(self.persona)


def _persona_counts(n: int) -> Arr:
    """Persons per persona: shares rounded by largest remainder, so they sum to n."""
    raw = np.array([p.share for p in PERSONAS]) / sum(p.share for p in PERSONAS) * n
    counts = np.floor(raw).astype(np.int64)
    counts[np.argsort(counts - raw, kind="stable")[: n - counts.sum()]] += 1
    return counts


def _accounts(rng: np.random.Generator, n: int, users: int, salt: int) -> tuple[Arr, Arr, Arr]:
    chosen = np.sort(rng.choice(n, users - n, replace=False))
    second = np.full(n, -1, dtype=np.int64)
    second[chosen] = n + np.arange(len(chosen))
    acc_num = 1_000_000 + permute(np.arange(users), 9_000_000, salt)
    a, b = acc_num[chosen], acc_num[second[chosen]]
    acc_num[chosen], acc_num[second[chosen]] = np.minimum(a, b), np.maximum(a, b)
    return second, np.concatenate([np.arange(n), chosen]), acc_num  # primary = smaller user id


def _favourite_brands(rng: np.random.Generator, persona: Arr, cat: Catalogue) -> Arr:
    fav = np.full(len(persona), -1, dtype=np.int64)
    loyal = np.flatnonzero(TIER[persona] == 2)
    category = pick_by_row(rng, CAT_P, persona[loyal])
    pick = rng.random(len(loyal))
    for c in range(N_CAT):
        sel = category == c
        options = cat.luxury_brands[c]
        fav[loyal[sel]] = options[(pick[sel] * len(options)).astype(np.int64)]
    return fav


def _devices(rng: np.random.Generator, persona: Arr) -> tuple[Arr, Arr, Arr, Arr]:
    n_dev = draw_index(rng, (0.55, 0.35, 0.10), len(persona)) + 1
    dev_person = np.repeat(np.arange(len(persona)), n_dev)
    dev_first = np.cumsum(n_dev) - n_dev
    main = np.arange(len(dev_person)) == dev_first[dev_person]
    platforms = np.array([p.platforms for p in PERSONAS] + [[0.45, 0.3, 0.25]])
    platform = pick_by_row(rng, platforms, np.where(main, persona[dev_person], len(PERSONAS)))
    profile = np.empty(len(dev_person), dtype=np.int64)
    pick = rng.random(len(dev_person))
    for k, name in enumerate(gp.PLATFORMS):
        options = np.array([i for i, prof in enumerate(gp.DEVICE_PROFILES) if prof[0] == name])
        sel = platform == k
        profile[sel] = options[(pick[sel] * len(options)).astype(np.int64)]
    return dev_person, profile, dev_first, n_dev


def make_people(rng: np.random.Generator, users: int, cat: Catalogue, salt: int) -> People:
    n = round(users / ACCOUNTS_PER_PERSON)
    persona = rng.permutation(np.repeat(np.arange(len(PERSONAS)), _persona_counts(n)))
    age = uniform_int(rng, AGE[persona, 0], AGE[persona, 1])
    female = rng.random(n) < persona_column("p_female")[persona]
    second, acc_person, acc_num = _accounts(rng, n, users, salt)
    has_phone = (rng.random(n) < P_PHONE) | (second >= 0)  # the phone links the two accounts
    fav = _favourite_brands(rng, persona, cat)
    home_ip = ips(rng, n, gp.HOME_NETS)
    city = draw_index(rng, gp.CITY_P, n)
    dev_person, profile, dev_first, n_dev = _devices(rng, persona)
    return People(
        persona,
        age,
        female,
        has_phone,
        fav,
        home_ip,
        city,
        second,
        acc_person,
        acc_num,
        dev_person,
        profile,
        dev_first,
        n_dev,
    )


def actors(rng: np.random.Generator, ppl: People, person: Arr, p_main: float) -> tuple[Arr, Arr]:
    """(device, account) of sessions: mostly the main device; the second account 30%."""
    u = rng.random(len(person))
    other = (rng.random(len(person)) * ppl.n_dev[person]).astype(np.int64)
    device = ppl.dev_first[person] + np.where(u < p_main, 0, other)
    second = ppl.second[person]
    use_second = (second >= 0) & (rng.random(len(person)) < 0.3)
    return device, np.where(use_second, second, person)

"""BG/NBD, the classic buy-till-you-die model (Fader, Hardie & Lee 2005), fitted by maximum
likelihood with scipy.

While alive, a buyer purchases as a Poisson process of rate λ ~ Gamma(r, α); after each
purchase they drop out for good with probability p ~ Beta(a, b). A buyer is summed up by x
(repeat purchases), t_x (days from the first purchase to the last) and T (days from the first
purchase to the cutoff). The model is the baseline every repurchase score is held against, and
its expectation is one of the score model's features.

Why not a library: lifetimes (last release 2020) and btyd (a beta of 2022) are no longer
maintained, and pymc-marketing's BetaGeoModel brings PyMC and PyTensor, a compiler toolchain
for one four-parameter likelihood.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, special

# Fitted on at most this many buyers (a seeded sample): four parameters are pinned down long
# before, and the likelihood's cost grows with the buyers.
FIT_SAMPLE = 20_000


@dataclass(frozen=True)
class BGNBD:
    """Fitted parameters, time in days."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float  # per buyer, on the buyers fitted

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 6) for k, v in asdict(self).items()}


def fit(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, *, seed: int = 7) -> BGNBD:
    """Maximum-likelihood parameters for buyers (x, t_x, T); T must be positive."""
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    _check(x, t_x, T)
    if len(x) > FIT_SAMPLE:
        pick = np.random.default_rng(seed).choice(len(x), FIT_SAMPLE, replace=False)
        x, t_x, T = x[pick], t_x[pick], T[pick]
    # Time rescaled so that alpha starts near 1 whatever the unit: the optimiser works on the
    # logs of the parameters, where steps of one size suit all four.
    scale = float(np.mean(T))
    t_scaled, T_scaled = t_x / scale, T / scale

    def loss(logs: np.ndarray) -> float:
        return -float(np.mean(_log_likelihood(np.exp(logs), x, t_scaled, T_scaled)))

    found = optimize.minimize(loss, np.zeros(4), method="L-BFGS-B", bounds=[(-10.0, 10.0)] * 4)
    r, alpha, a, b = np.exp(found.x)
    return BGNBD(
        r=float(r), alpha=float(alpha * scale), a=float(a), b=float(b), log_likelihood=-found.fun
    )


def _check(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> None:
    if not len(x) == len(t_x) == len(T) or len(x) == 0:
        raise ValueError(
            f"x, t_x and T must be of one non-zero length, got {len(x)}, {len(t_x)}, {len(T)}"
        )
    if (T <= 0).any():
        raise ValueError(f"T must be positive, got {float(T[T <= 0][0])!r}")
    if (x < 0).any() or (t_x < 0).any() or (t_x > T).any():
        raise ValueError("x and t_x must be at least 0, and t_x at most T")


def _log_likelihood(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Each buyer's log-likelihood (Fader, Hardie & Lee 2005, equation 6)."""
    r, alpha, a, b = params
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = (
        special.gammaln(a + b)
        + special.gammaln(b + x)
        - special.gammaln(b)
        - special.gammaln(a + b + x)
    )
    a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    a4 = np.full_like(x, -np.inf)
    a4[repeat] = (
        np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    )
    return a1 + a2 + np.logaddexp(a3, a4)


def expected_purchases(
    model: BGNBD, days: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Each buyer's expected purchases in the `days` after the cutoff (equation 10)."""
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    # At a = 1 both factors of the expectation's first term are 0 / 0; its limit is reached
    # from a hair beside it (relative error about machine epsilon / 1e-7).
    a = a if abs(a - 1) > 1e-7 else 1 + 1e-7
    z = days / (alpha + T + days)
    hyper = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    ahead = 1 - ((alpha + T) / (alpha + T + days)) ** (r + x) * hyper
    expected = (a + b + x - 1) / (a - 1) * ahead * alive(model, x, t_x, T)
    # The series diverges for some buyers far outside the fitted range: they rank last.
    return np.nan_to_num(expected, nan=0.0, posinf=0.0, neginf=0.0)


def alive(model: BGNBD, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Each buyer's probability of being alive at the cutoff."""
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    odds = np.zeros_like(x)
    repeat = x > 0
    odds[repeat] = (
        a / (b + x[repeat] - 1) * ((alpha + T[repeat]) / (alpha + t_x[repeat])) ** (r + x[repeat])
    )
    return 1 / (1 + odds)

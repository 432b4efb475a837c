"""A count of persons as the reader's role may see it, for the page to print.

The rule is the API's (`api.counts.Disclosure`): this only carries its answer to the template.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.counts import Disclosure


@dataclass(frozen=True)
class Count:
    """`exact` is None when the reader sees only the range low..high."""

    exact: int | None
    low: int
    high: int

    @classmethod
    def of(cls, count: int, disclosure: Disclosure) -> Count:
        span = disclosure.range(count)
        return cls(exact=disclosure.count(count), low=span.low, high=span.high)

    @property
    def text(self) -> str:
        # The en dash is what the API's ranges read as in words ("0–49").
        return f"{self.exact:,}" if self.exact is not None else f"{self.low:,}–{self.high:,}"

"""The operator's ledger of exact answers (api.ledger), on bitmaps made by hand."""

from __future__ import annotations

import pytest
from pyroaring import BitMap

from api.ledger import AnswerLedger
from store.errors import Forbidden

PADDING = BitMap(range(100))


def test_an_answer_near_an_earlier_one_is_refused_and_a_distant_one_is_not() -> None:
    ledger = AnswerLedger(minimum=5)
    ledger.admit(key_id=1, run_id=1, label="P", persons=PADDING)
    for near in (PADDING | BitMap([500]), BitMap(range(96)), BitMap(PADDING)):  # 1, 4 and 0 off
        with pytest.raises(Forbidden, match="differ by fewer than 5 persons"):
            ledger.admit(key_id=1, run_id=1, label="P OR T", persons=near)
    ledger.admit(key_id=1, run_id=1, label="P", persons=PADDING)  # the same question again
    ledger.admit(key_id=1, run_id=1, label="P less 5", persons=BitMap(range(95)))
    ledger.admit(key_id=2, run_id=1, label="P OR T", persons=PADDING | BitMap([500]))  # another key
    ledger.admit(key_id=1, run_id=2, label="P OR T", persons=PADDING | BitMap([500]))  # a new run


def test_a_key_that_used_its_budget_gets_no_more_exact_answers_on_the_run() -> None:
    ledger = AnswerLedger(minimum=5, max_answers=2)
    ledger.admit(key_id=1, run_id=1, label="a", persons=BitMap(range(0, 10)))
    ledger.admit(key_id=1, run_id=1, label="b", persons=BitMap(range(100, 110)))
    with pytest.raises(Forbidden) as refused:
        ledger.admit(key_id=1, run_id=1, label="c", persons=BitMap(range(200, 210)))
    assert str(refused.value) == (
        "this key has had all the exact answers it may get on run 1 (2); ask an analyst, or "
        "ask again after the next run"
    )
    ledger.admit(key_id=1, run_id=1, label="a", persons=BitMap(range(0, 10)))  # told already

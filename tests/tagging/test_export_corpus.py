"""A corpus of exports as shops really write them, each run through the real `portrait run`.

Every case either commits a run whose quality report has exactly the expected counts, or exits
with code 2 and one short message that names the file at fault and holds no traceback. The
cases run two at a time in subprocesses, once per test session.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
from sqlmodel import Session, select

from store.db import make_engine
from store.models import Run

GOOD = "order_id,user_id,ts,amount\no1,u1,2026-06-01 10:00:00,10\no2,u2,2026-06-02 11:00:00,20\n"


@dataclass(frozen=True)
class Case:
    files: dict[str, str | bytes | Callable[[Path], None]]
    # A committed run: source -> the quality report's entries that must equal these.
    quality: dict[str, dict[str, Any]] = field(default_factory=dict)
    # A refused run: the one message, with {folder} for the source folder.
    error: str | None = None
    args: tuple[str, ...] = ()


def _xlsx(rows: list[list[object]]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        workbook = xlsxwriter.Workbook(str(path))
        sheet = workbook.add_worksheet()
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                sheet.write(r, c, value)
        workbook.close()

    return write


def _counts(read: int, kept: int, dropped: dict[str, int] | None = None, **more: Any) -> dict:
    return {"read": read, "kept": kept, "after_as_of": 0, "dropped": dropped or {}, **more}


CASES: dict[str, Case] = {
    "utf8_bom_crlf": Case(
        {"orders.csv": b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode()},
        quality={"orders": _counts(2, 2, encoding="utf-8-sig")},
    ),
    "gbk_users_chinese_values": Case(
        {
            "orders.csv": GOOD,
            "users.csv": "user_id,gender,region,city\nu1,男,华东,上海\nu2,女,华南,广州\n".encode(
                "gbk"
            ),
        },
        quality={"users": _counts(2, 2, encoding="gb18030"), "orders": _counts(2, 2)},
    ),
    "utf16_orders": Case(
        {"orders.csv": GOOD.encode("utf-16")}, quality={"orders": _counts(2, 2, encoding="utf-16")}
    ),
    "xlsx_orders": Case(
        {
            "orders.xlsx": _xlsx(
                [
                    ["order_id", "user_id", "ts", "amount"],
                    [1001, "u1", "2026-06-01 10:00", 12.5],
                    [1002, "u2", "2026/06/02 09:00:00", 8],
                ]
            )
        },
        quality={"orders": _counts(2, 2, encoding=None)},
    ),
    "timestamp_layouts": Case(
        {
            "orders.csv": "order_id,user_id,ts,amount\n"
            "o1,u1,2026/06/30 12:00:00,1\no2,u1,2026-06-30 12:00,1\no3,u2,2026-06-29,1\n"
            "o4,u2,2026年6月30日 12:00:00,1\no5,u3,20260628,1\no6,u3,1782800000,1\n"
        },
        quality={"orders": _counts(6, 6)},
    ),
    "currency_amounts": Case(
        {
            "orders.csv": "order_id,user_id,ts,amount\n"
            'o1,u1,2026-06-01,¥355.99\no2,u1,2026-06-02,"$1,200.50"\no3,u2,2026-06-03, 12.5 \n'
            "o4,u2,2026-06-04,88元\no5,u3,2026-06-05,€3\no6,u3,2026-06-06,lots\n"
        },
        quality={"orders": _counts(6, 5, {"bad_amount": 1})},
    ),
    "header_only_optional_users": Case(
        {"orders.csv": GOOD, "users.csv": "user_id,gender\n"},
        quality={"users": _counts(0, 0), "orders": _counts(2, 2, users_not_listed=2)},
    ),
    "chinese_headers": Case(
        {"orders.csv": "订单号,用户ID,下单时间,实付金额\n1,u1,2026-06-01 20:30:00,¥35.5\n"},
        quality={"orders": _counts(1, 1)},
    ),
    "mapped_headers": Case(
        {
            "orders.csv": "No.,Buyer,When,Paid\n1,u1,2026-06-01,5\n2,u1,2026-06-02,6\n",
            "catalog.toml": '[columns.orders]\norder_id = "No."\nuser_id = "Buyer"\n'
            'ts = "When"\namount = "Paid"\n',
        },
        quality={"orders": _counts(2, 2)},
        args=("--catalog", "{folder}/catalog.toml"),
    ),
    "headers_in_other_case": Case(
        {"orders.csv": "Order ID, USER_ID ,Ts,Amount\no1,u1,2026-06-01,5\n"},
        quality={"orders": _counts(1, 1)},
    ),
    "partial_users_table": Case(
        {"orders.csv": GOOD + "o3,u3,2026-06-03,30\n", "users.csv": "user_id,gender\nu1,F\n"},
        quality={"users": _counts(1, 1), "orders": _counts(3, 3, users_not_listed=2)},
    ),
    "embedded_newlines": Case(
        {
            "orders.csv": GOOD,
            "products.csv": 'item_id,name,price\ni1,"two\nlines",3\ni2,"say ""hi""",4\n',
        },
        quality={"products": _counts(2, 2)},
    ),
    "tab_separated": Case(
        {"orders.tsv": GOOD.replace(",", "\t")}, quality={"orders": _counts(2, 2)}
    ),
    "unreadable_optional_values": Case(
        {
            "orders.csv": GOOD,
            "users.csv": "user_id,birth_date,age,registered_at\n"
            "u1,1980/08/15,41,2020-01-01\nu2,someday,old,never\n",
        },
        quality={
            "users": _counts(
                2,
                2,
                unreadable={
                    "registered_at: bad_timestamp": 1,
                    "birth_date: bad_date": 1,
                    "age: bad_number": 1,
                },
            )
        },
    ),
    "empty_orders": Case(
        {"orders.csv": ""}, error="{folder}/orders.csv: is empty (no header, no rows)"
    ),
    "blank_lines_orders": Case(
        {"orders.csv": "\n\n"}, error="{folder}/orders.csv: is empty (no header, no rows)"
    ),
    "header_only_orders": Case(
        {"orders.csv": "order_id,user_id,ts,amount\n"},
        error="{folder}/orders.csv: has a header but no rows; orders is the one source every "
        "run needs",
    ),
    "every_row_bad": Case(
        {"orders.csv": "order_id,user_id,ts,amount\no1,u1,2026-06-01,abc\no2,,2026-06-01,4\n"},
        error="{folder}/orders.csv: 2 rows, none usable: bad_amount 1, missing_user_id 1, "
        "for example amount 'abc' in row 1",
    ),
    "no_readable_timestamp": Case(
        {"orders.csv": "order_id,user_id,ts,amount\no1,u1,yesterday,3\n"},
        error="{folder}/orders.csv: no order has a readable timestamp in column 'ts', "
        "for example 'yesterday' in row 1",
    ),
    "duplicated_headers": Case(
        {"orders.csv": "order_id,amount,user_id,ts,amount\no1,5,u1,2026-06-01,6\n"},
        error="{folder}/orders.csv: several headers could be column 'amount': 'amount', "
        "'amount'; keep one, or map one in [columns.<source>]",
    ),
    "workbook_named_csv": Case(
        {"orders.csv": _xlsx([["order_id"], ["1"]])},
        error="{folder}/orders.csv: is not a text file; it looks like an xlsx workbook or "
        "another zip archive",
    ),
    "csv_named_parquet": Case(
        {"orders.parquet": GOOD},
        error="{folder}/orders.parquet: is not a valid parquet file (Invalid Input Error: "
        "No magic bytes found at end of file '{folder}/orders.parquet')",
    ),
    "corrupt_workbook": Case(
        {"orders.xlsx": b"PK\x03\x04 this is no workbook"},
        error="{folder}/orders.xlsx: is not a readable xlsx workbook ("
        "invalid Zip archive: Could not find EOCD)",
    ),
    "misspelt_required_column": Case(
        {"orders.csv": "order_id,user_id,ts,amout\no1,u1,2026-06-01,5\n"},
        error="{folder}/orders.csv: missing required column 'amount' (found: order_id, "
        "user_id, ts, amout); closest: 'amout' (map it in [columns.<source>] if it is "
        "'amount')",
    ),
    "not_an_export": Case(
        # Its first line is not repeated: the file may be a secret linked in by mistake.
        {"orders.csv": "secret_token=abc123\n"},
        error="{folder}/orders.csv: none of its 1 headers is a column of orders (it needs "
        "order_id, user_id, ts, amount); is it the orders export?",
    ),
    "no_orders_file": Case(
        {"orders.doc": GOOD},
        error="{folder}: no orders file (orders.csv, .jsonl, .parquet or .xlsx); orders is "
        "the one source every run needs",
    ),
    "misspelt_time_zone": Case(
        {"orders.csv": GOOD},
        error="time zone 'Asia/Shangai' is not an IANA time zone name "
        "(closest: Asia/Shanghai, Asia/Khandyga, Asia/Dhaka)",
        args=("--timezone", "Asia/Shangai"),
    ),
    "wrong_encoding_named": Case(
        {"orders.csv": GOOD.replace("u1", "用户1").encode("gbk")},
        error="{folder}/orders.csv: is not valid ascii text (it holds the bytes "
        "b'\\xd3\\xc3\\xbb\\xa7'); name the file's encoding (--encoding, or encoding in "
        "[shop]) or save it as UTF-8",
        args=("--encoding", "ascii"),
    ),
}


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str
    quality: dict[str, Any] | None


def _write(folder: Path, files: dict[str, str | bytes | Callable[[Path], None]]) -> None:
    folder.mkdir(parents=True)
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            content(path)


def _run(root: Path, name: str, case: Case) -> Outcome:
    folder = root / name
    _write(folder, case.files)
    store = root / f"{name}.db"
    env = {**os.environ, "PORTRAIT_DATABASE_URL": f"sqlite:///{store}", "COLUMNS": "200"}
    portrait = Path(sys.executable).parent / "portrait"
    args = [arg.format(folder=folder) for arg in case.args]
    done = subprocess.run(
        [str(portrait), "run", "--source", str(folder), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    quality = None
    if done.returncode == 0:
        with Session(make_engine(f"sqlite:///{store}")) as session:
            quality = session.exec(select(Run).where(Run.status == "committed")).one().quality
    return Outcome(done.returncode, done.stdout, done.stderr, quality)


@dataclass(frozen=True)
class Corpus:
    root: Path  # one folder and one store per case
    outcomes: dict[str, Outcome]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    root = tmp_path_factory.mktemp("corpus")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(_run, root, name, case) for name, case in CASES.items()}
        return Corpus(root, {name: future.result() for name, future in futures.items()})


def test_the_corpus_has_at_least_twenty_exports() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_export_commits_with_exact_counts_or_is_refused_in_one_line(
    name: str, corpus: Corpus
) -> None:
    case, outcome = CASES[name], corpus.outcomes[name]
    folder = corpus.root / name
    assert "Traceback" not in outcome.stdout + outcome.stderr
    if case.error is None:
        assert outcome.code == 0, outcome.stderr
        for source, expected in case.quality.items():
            assert outcome.quality is not None
            found = outcome.quality[source]
            assert {key: found.get(key) for key in expected} == expected
    else:
        assert outcome.code == 2
        message = " ".join(outcome.stderr.split())
        assert message == "error: " + case.error.format(folder=folder)


def test_chinese_values_from_a_gbk_file_are_tags_an_expression_selects(corpus: Corpus) -> None:
    store = corpus.root / "gbk_users_chinese_values.db"
    env = {**os.environ, "PORTRAIT_DATABASE_URL": f"sqlite:///{store}", "COLUMNS": "200"}
    portrait = Path(sys.executable).parent / "portrait"
    shown = subprocess.run(
        [
            str(portrait),
            "audience",
            "region:华东 AND gender:male",
            "--members",
            "0",
            "--breakdown",
            "region",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    lines = [" ".join(line.split()) for line in shown.stdout.splitlines()]
    assert lines[0] == "run 1: 1 persons (50.0% of 2)"
    assert any(line.startswith("│ 华东 │ 1 │") for line in lines), shown.stdout

"""The `portrait` command line, driven as an operator would, against a real SQLite file."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app
from store import keys
from store.db import make_engine
from store.profiles.pseudonym import person_id_for
from store.settings import DEMO_ID_KEY
from tests.factories import BASKET_ORDER_ITEMS, BASKET_ORDERS, BASKET_PRODUCTS

ORDERS = """order_id,user_id,ts,amount,channel
o1,u1,2026-06-01T10:00:00Z,100,app
o2,u1,2026-06-20T19:30:00Z,50,app
o3,u2,2026-05-01T08:00:00Z,300,web
o4,u2,2026-07-02T08:00:00Z,300,web
o5,u3,2026-06-29T10:00:00Z,-3,web
"""


@pytest.fixture
def portrait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("PORTRAIT_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("PORTRAIT_ENV", raising=False)
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps tables at the terminal width
    return CliRunner()


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "orders.csv").write_text(ORDERS)
    return folder


def test_run_prints_stages_and_a_quality_summary(portrait: CliRunner, shop: Path) -> None:
    result = portrait.invoke(app, ["run", "--source", str(shop), "--as-of", "2026-06-30"])
    assert result.exit_code == 0, result.output
    for stage in ("ingest", "clean", "identity", "features", "tags", "collect", "write"):
        assert f"  {stage} " in result.output
    assert "run 1 committed: 2 persons" in result.output
    assert "as of 2026-06-30 23:59:59 UTC" in result.output
    assert "negative_amount 1" in result.output


def test_runs_show_and_export_read_the_committed_run(
    portrait: CliRunner, shop: Path, tmp_path: Path
) -> None:
    assert (
        portrait.invoke(app, ["run", "--source", str(shop), "--as-of", "2026-06-30"]).exit_code == 0
    )
    runs = portrait.invoke(app, ["runs"])
    assert "committed" in runs.output and str(shop) in runs.output

    show = portrait.invoke(app, ["show", "u2"])
    assert show.exit_code == 0
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in show.output.splitlines()
        if line.count("│") == 4
    }
    assert rows["lifecycle"] == "active"  # o4 is after the as-of day
    assert rows["frequency"] == "1"

    out = tmp_path / "tags.parquet"
    assert portrait.invoke(app, ["export", "--out", str(out)]).exit_code == 0
    tags = pd.read_parquet(out)
    assert list(tags.columns) == ["person_id", "user_id", "key", "value", "score"]
    assert set(tags.user_id) == {"u1", "u2"}

    wide = tmp_path / "features.csv"
    assert portrait.invoke(app, ["export", "--what", "features", "--out", str(wide)]).exit_code == 0
    features = pd.read_csv(wide).set_index("user_id")
    assert features.loc["u1", "monetary"] == 150
    assert features.loc["u2", "recency_days"] == 60


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["run", "--source", "nowhere"], "source folder 'nowhere' does not exist"),
        (
            ["run", "--source", "{shop}", "--as-of", "30/06/2026"],
            "--as-of '30/06/2026' is not a day like 2026-06-30",
        ),
        (["show", "u1"], "the store has no committed run yet"),
        (["export", "--out", "x.xlsx"], "must end in .parquet or .csv"),
        (["export", "--what", "people", "--out", "x.csv"], "--what 'people' is not one of"),
        (
            ["demo", "--dataset", "instacart", "--no-serve"],
            "--dataset 'instacart' is not one of: generated, completejourney",
        ),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    portrait: CliRunner, shop: Path, arguments: list[str], message: str
) -> None:
    result = portrait.invoke(app, [a.replace("{shop}", str(shop)) for a in arguments])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_show_unknown_user_is_an_error(portrait: CliRunner, shop: Path) -> None:
    portrait.invoke(app, ["run", "--source", str(shop)])
    result = portrait.invoke(app, ["show", "nobody"])
    assert result.exit_code == 2
    assert "no person with id 'nobody' in run 1" in result.output


def test_generate_writes_a_shop_with_truth(portrait: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "gen"
    result = portrait.invoke(app, ["generate", "--users", "200", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 200 users" in result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "events.csv",
        "identities.csv",
        "order_items.csv",
        "orders.csv",
        "products.csv",
        "truth",
        "users.csv",
    ]
    bad = portrait.invoke(app, ["generate", "--users", "0", "--out", str(out)])
    assert bad.exit_code == 2 and "0" in bad.output


def test_audience_counts_breaks_down_and_lists_members(portrait: CliRunner, shop: Path) -> None:
    assert (
        portrait.invoke(app, ["run", "--source", str(shop), "--as-of", "2026-06-30"]).exit_code == 0
    )
    result = portrait.invoke(
        app, ["audience", "monetary > 120 AND NOT lifecycle:new", "--breakdown", "primary_channel"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "run 1: 1 persons (50.0% of 2)"  # u2: 300 spent, first order in May
    assert "│ web             │ 1       │ 100.0%            │" in lines
    u2 = person_id_for("user_id:u2", key=DEMO_ID_KEY)
    assert f"│ {u2} │ active    │ hibernating │                    │" in lines

    counted = portrait.invoke(app, ["audience", "monetary > 10", "--members", "0"])
    assert counted.output == "run 1: 2 persons (100.0% of 2)\n"


def test_audience_with_a_bad_expression_exits_2_with_a_caret(
    portrait: CliRunner, shop: Path
) -> None:
    assert (
        portrait.invoke(app, ["run", "--source", str(shop), "--as-of", "2026-06-30"]).exit_code == 0
    )
    result = portrait.invoke(app, ["audience", "lifecycle:activ OR"])
    assert result.exit_code == 2
    assert result.output == (
        "error: the expression ends too early; expected '(' or NOT or a tag key (at position 18)\n"
        "lifecycle:activ OR\n"
        "                  ^\n"
    )
    result = portrait.invoke(app, ["audience", "lifecycle:activ"])
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == (
        "error: unknown value 'activ' of tag key 'lifecycle'; did you mean active, reactivated? "
        "(at position 0)"
    )


def test_rules_prints_the_strongest_rules_with_item_names(
    portrait: CliRunner, tmp_path: Path
) -> None:
    folder = tmp_path / "baskets"
    folder.mkdir()
    (folder / "orders.csv").write_text(BASKET_ORDERS.strip() + "\n")
    (folder / "order_items.csv").write_text(BASKET_ORDER_ITEMS.strip() + "\n")
    (folder / "products.csv").write_text(BASKET_PRODUCTS.strip() + "\n")
    assert portrait.invoke(app, ["run", "--source", str(folder)]).exit_code == 0
    # Default parameters (min support 0.001, min lift 1.5): A and D are together in o5 only,
    # with B: {A, D} -> B has confidence 1 and lift 1 / (4/8) = 2.
    result = portrait.invoke(app, ["rules", "--top", "3"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("│")]
    # leverage = support - antecedent x consequent support: 1/8 - 1/8 x 4/8, 1/8 - 4/8 x 1/8,
    # 1/8 - 1/8 x 5/8; conviction = (1 - consequent support) / (1 - confidence): none at
    # confidence 1, (7/8) / (3/4) for Diapers -> Formula + Rice.
    assert [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines] == [
        ["1", "Formula + Rice", "Diapers", "0.1250", "1.000", "2.00", "0.0625", "-"],
        ["2", "Diapers", "Formula + Rice", "0.1250", "0.250", "2.00", "0.0625", "1.17"],
        ["3", "Diapers + Rice", "Formula", "0.1250", "1.000", "1.60", "0.0469", "-"],
    ]
    # baby and toys have lift 4/3 only, under the minimum of 1.5
    categories = portrait.invoke(app, ["rules", "--level", "category"])
    assert categories.output == "run 1 has no category rules\n"
    bad = portrait.invoke(app, ["rules", "--level", "brand"])
    assert bad.exit_code == 2
    assert bad.output == "error: --level 'brand' is not one of item, category\n"


def test_personas_and_drift_report_what_the_runs_found(portrait: CliRunner, shop: Path) -> None:
    assert (
        portrait.invoke(app, ["run", "--source", str(shop), "--as-of", "2026-06-30"]).exit_code == 0
    )
    assert portrait.invoke(app, ["personas"]).output == (
        "run 1 has no personas (too few buyers to cluster)\n"
    )
    assert portrait.invoke(app, ["drift"]).output == (
        "run 1 has no drift report (it is the first run, or there is none)\n"
    )
    # The same files a second time: nothing moved.
    assert (
        portrait.invoke(app, ["run", "--source", str(shop), "--as-of", "2026-06-30"]).exit_code == 0
    )
    lines = portrait.invoke(app, ["drift"]).output.splitlines()
    assert lines[0].startswith("run 2 against run 1: 0 of ")
    assert lines[0].endswith(" keys over PSI 0.2")
    assert "│ lifecycle " in "\n".join(lines)


def test_keys_are_shown_once_and_stored_as_hashes(portrait: CliRunner, tmp_path: Path) -> None:
    created = portrait.invoke(app, ["keys", "create", "--role", "analyst", "--name", "crm"])
    assert created.exit_code == 0, created.output
    header, key = created.output.splitlines()
    assert header == "key 1 (analyst, crm); store it now, it is not shown again:"
    assert key.startswith("pk_") and len(key) == 46
    stored = (
        sqlite3.connect(tmp_path / "cli.db").execute("SELECT key_hash FROM api_keys").fetchall()
    )
    assert stored == [(hashlib.sha256(key.encode()).hexdigest(),)]
    listed = portrait.invoke(app, ["keys", "list"]).output
    assert "│ 1  │ analyst │ crm  │" in listed and key not in listed
    assert portrait.invoke(app, ["keys", "revoke", "1"]).output == "key 1 revoked\n"
    again = portrait.invoke(app, ["keys", "revoke", "1"])
    assert (again.exit_code, again.output) == (2, "error: there is no live key with id 1\n")
    bad = portrait.invoke(app, ["keys", "create", "--role", "boss"])
    assert bad.output == "error: role 'boss' is not one of ingest, operator, analyst, admin\n"


def test_the_audit_log_is_listed_newest_first_from_its_own_file(
    portrait: CliRunner, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    _, crm = keys.create(engine=engine, role="analyst", name="crm")
    keys.audit(engine=engine, key=crm, reads=[keys.PersonRead(3, "p-ann", "profile (Card)")])
    reads = [keys.PersonRead(3, p, "audience (Members)") for p in ("p-ann", "p-bob")]
    keys.audit(engine=engine, key=crm, reads=reads)
    engine.dispose()
    lines = portrait.invoke(app, ["audit"]).output.splitlines()
    rows = [[cell.strip() for cell in line.split("│")[2:-1]] for line in lines if "│ 20" in line]
    assert rows == [
        ["crm", "analyst", "3", "p-bob", "audience (Members)"],
        ["crm", "analyst", "3", "p-ann", "audience (Members)"],
        ["crm", "analyst", "3", "p-ann", "profile (Card)"],
    ]
    ann = portrait.invoke(app, ["audit", "--person", "p-ann", "--limit", "1"]).output
    assert "│ p-ann     │ audience (Members) │" in ann and "profile (Card)" not in ann
    bad = portrait.invoke(app, ["audit", "--limit", "0"])
    assert bad.exit_code == 2
    assert "Invalid value for '--limit': Input should be greater than or equal to 1" in bad.output
    # Beside the store, so a run's commit (which holds the store file's one write lock) never
    # keeps an audited read waiting.
    tables = "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'"
    assert sqlite3.connect(tmp_path / "cli-audit.db").execute(tables).fetchall() == [("audit_log",)]
    assert sqlite3.connect(tmp_path / "cli.db").execute(tables).fetchall() == []

"""The `portrait` commands that read the current run: a person, an audience, the rules, the
personas, the drift since the run before, an export of its tags or features."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy.engine import Engine

from api.cli.console import console, current_run, fail, kept_run, open_store
from store.errors import PortraitError
from store.profiles.reads import HistoryRow


def show(
    user_id: str = typer.Argument(..., help="The shop's user id (or a device id)."),
    run: int | None = typer.Option(None, help="A kept run's id (default: the current run)."),
    history: str | None = typer.Option(
        None, help="A tag key: the person's values of it on every kept run instead."
    ),
) -> None:
    """Show one person's tags in the current run (or a kept one), or one key's history."""
    from store.profiles import reads as profile_reads

    _, engine = open_store()
    with engine.connect() as connection:
        try:
            run_ = kept_run(connection, run)
        except PortraitError as error:
            raise fail(error) from error
        found = profile_reads.persons_by_identifier(
            connection=connection, run_id=run_.id, identifiers=[user_id]
        ) or profile_reads.persons_by_identifier(
            connection=connection, run_id=run_.id, identifiers=[user_id], kind="device_id"
        )
        if not found:
            raise fail(PortraitError(f"no person with id {user_id!r} in run {run_.id}"))
        person = found[0][1]
        if history is not None:
            rows = profile_reads.history(
                connection=connection, person_idx=person.person_idx, key=history
            )
        else:
            tags = profile_reads.tags_of_persons(
                connection=connection, run_id=run_.id, person_idxs=[person.person_idx]
            )
    if history is not None:
        _print_history(person.person_id, history, rows)
        return
    table = Table(title=f"person {person.person_id} (run {run_.id})", title_justify="left")
    for column in ("key", "value", "score"):
        table.add_column(column)
    for tag in tags:
        table.add_row(tag.key, tag.value, "" if tag.score is None else f"{tag.score:g}")
    console.print(table)


def _print_history(person_id: str, key: str, rows: list[HistoryRow]) -> None:
    table = Table(title=f"person {person_id}: {key} on every kept run", title_justify="left")
    for column in ("run", "as of", key, "score"):
        table.add_column(column)
    for row in rows:
        values = row.values or [("(none)", None)]
        for value, score in values:
            shown = "" if score is None else f"{score:g}"
            table.add_row(str(row.run_id), f"{row.as_of:%Y-%m-%d}", value, shown)
    console.print(table)


def audience(
    expression: str = typer.Argument(..., help='A tag expression, e.g. "lifecycle:active".'),
    members: int = typer.Option(20, help="How many members to list (0 for the count only)."),
    breakdown: str | None = typer.Option(None, help="Also count the audience by this key."),
) -> None:
    """Count the persons of the current run a tag expression selects, and list some."""
    from store import catalog
    from store.audiences.expressions import check, parse, vocabulary
    from store.audiences.selection import selection_of

    _, engine = open_store()
    try:
        with engine.connect() as connection:
            run = current_run(connection)
            definitions = catalog.tag_definitions(connection=connection, run_id=run.id)
        tree = parse(expression)
        check(tree, vocabulary(definitions), expression)
        if breakdown is not None and breakdown not in {d.key for d in definitions}:
            raise PortraitError(f"--breakdown {breakdown!r} is not a tag key of run {run.id}")
    except PortraitError as error:
        raise fail(error) from error
    selection = selection_of(engine=engine, run_id=run.id, expression=tree)
    count = selection.count()
    share = count / run.persons if run.persons else 0.0
    console.print(f"run {run.id}: [bold]{count:,}[/] persons ({share:.1%} of {run.persons:,})")
    if breakdown is not None:
        _print_breakdown(breakdown, selection.breakdown(breakdown), count)
    if members > 0 and count:
        _print_members(engine, run.id, selection.members(after=None, first=members), count)


def diff(
    expression: str = typer.Argument(..., help='A tag expression, e.g. "rfm_segment:high_value".'),
    from_run: int = typer.Option(..., "--from", help="The earlier kept run's id."),
    to_run: int | None = typer.Option(
        None, "--to", help="The later kept run's id (default: the current run)."
    ),
    members: int = typer.Option(10, help="How many of those who entered and left to list."),
) -> None:
    """Who entered and who left an audience between two kept runs."""
    from store import catalog
    from store.audiences.expressions import check, parse, vocabulary
    from store.audiences.index import AudienceDiff, load_index

    _, engine = open_store()
    try:
        with engine.connect() as connection:
            runs = [kept_run(connection, from_run), kept_run(connection, to_run)]
            tree = parse(expression)
            for run in runs:
                definitions = catalog.tag_definitions(connection=connection, run_id=run.id)
                check(tree, vocabulary(definitions), expression)
            before, after = (load_index(connection=connection, run_id=r.id) for r in runs)
    except PortraitError as error:
        raise fail(error) from error
    found = AudienceDiff(before.evaluate(tree), after.evaluate(tree))
    earlier, later = runs
    console.print(
        f"{expression}: run {earlier.id} [bold]{len(found.before):,}[/] -> run {later.id} "
        f"[bold]{len(found.after):,}[/] persons; entered {len(found.entered):,}, "
        f"left {len(found.left):,}, stayed {found.stayed:,}"
    )
    if members > 0:
        for label, persons, run in (
            ("entered", found.entered, later),
            ("left", found.left, earlier),
        ):
            if persons:
                _print_members(engine, run.id, list(persons[:members]), len(persons), label)


def _print_breakdown(key: str, counts: list[tuple[str, int]], total: int) -> None:
    table = Table(key, "persons", "share of audience")
    for value, n in counts:
        table.add_row(value, f"{n:,}", f"{n / total:.1%}")
    console.print(table)


def _print_members(
    engine: Engine, run_id: int, person_idxs: list[int], total: int, label: str = "members"
) -> None:
    from store.profiles import reads as profile_reads

    with engine.connect() as connection:
        persons = profile_reads.persons_by_idx(
            connection=connection, run_id=run_id, person_idxs=person_idxs
        )
        tags = profile_reads.tags_of_persons(
            connection=connection, run_id=run_id, person_idxs=person_idxs
        )
    shown = ("lifecycle", "rfm_segment", "preferred_category")
    values: dict[tuple[int, str], list[str]] = {}
    for tag in tags:
        if tag.key in shown:
            values.setdefault((tag.person_idx, tag.key), []).append(tag.value)
    title = f"first {len(persons)} of {total:,} {label} (run {run_id})"
    table = Table("person_id", *shown, title=title)
    for person in sorted(persons, key=lambda p: p.person_idx):
        cells = [", ".join(values.get((person.person_idx, key), [])) for key in shown]
        table.add_row(person.person_id, *cells)
    console.print(table)


def rules(
    level: str = typer.Option("item", help="item or category."),
    top: int = typer.Option(
        20,
        help="How many rules to print, strongest first (by lift, rules in under 1% of baskets "
        "after the others).",
    ),
) -> None:
    """Print the current run's strongest basket rules as a table."""
    from store import basket as basket_queries

    if level not in ("item", "category"):
        raise fail(PortraitError(f"--level {level!r} is not one of item, category"))
    _, engine = open_store()
    with engine.connect() as connection:
        run = current_run(connection)
        found = basket_queries.rules(connection=connection, run_id=run.id, level=level)[:top]
        names = {
            item.item_id: item.name or item.item_id
            for item in basket_queries.items(
                connection=connection,
                run_id=run.id,
                item_ids=sorted({i for r in found for i in (*r.antecedents, *r.consequents)}),
            )
        }
        report = basket_queries.report(connection=connection, run_id=run.id, section="basket")
    if not found:
        note = (report or {}).get("note", f"run {run.id} has no {level} rules")
        console.print(str(note))
        return
    table = Table(
        "#",
        "if a basket holds",
        "it tends to hold",
        "support",
        "confidence",
        "lift",
        "leverage",
        "conviction",
        title=f"run {run.id}: {level} rules",
    )
    for rule in found:
        table.add_row(
            str(rule.rank),
            " + ".join(names.get(a, a) for a in rule.antecedents),
            " + ".join(names.get(c, c) for c in rule.consequents),
            f"{rule.support:.4f}",
            f"{rule.confidence:.3f}",
            f"{rule.lift:.2f}",
            f"{rule.leverage:.4f}",
            "-" if rule.conviction is None else f"{rule.conviction:.2f}",
        )
    console.print(table)


def personas() -> None:
    """List the current run's personas: name, size, share and what sets each apart."""
    from store import personas as persona_queries

    _, engine = open_store()
    with engine.connect() as connection:
        run = current_run(connection)
        found = persona_queries.personas(connection=connection, run_id=run.id)
    if not found:
        console.print(f"run {run.id} has no personas (too few buyers to cluster)")
        return
    table = Table(
        "#", "persona", "buyers", "share", "most distinguishing tags", title=f"run {run.id}"
    )
    for p in found:
        traits = ", ".join(f"{t['key']}:{t['value']} {t['lift']:.1f}x" for t in p.top_tags[:3])
        table.add_row(str(p.persona_id), p.name, f"{p.size:,}", f"{p.share:.1%}", traits)
    console.print(table)


def drift(
    run_id: int | None = typer.Option(None, "--run", help="The run to report (default: current)."),
) -> None:
    """Show how each tag key's distribution moved against the previous run (PSI)."""
    from store.runs import drift as drift_store

    _, engine = open_store()
    with engine.connect() as connection:
        if run_id is None:
            run_id = current_run(connection).id
        report = drift_store.stored(connection=connection, run_id=run_id)
    if report is None:
        console.print(f"run {run_id} has no drift report (it is the first run, or there is none)")
        return
    flagged = [d.key for d in report.keys if d.flagged]
    console.print(
        f"run {report.run_id} against run {report.previous_run_id}: {len(flagged)} of "
        f"{len(report.keys)} keys over PSI {report.threshold}"
        + (f" ({', '.join(flagged)})" if flagged else "")
    )
    table = Table("key", "PSI", "drifted")
    for d in report.keys:
        table.add_row(d.key, f"{d.psi:.4f}", "yes" if d.flagged else "")
    console.print(table)


def export(
    out: Path = typer.Option(..., help="Output file: .parquet or .csv"),
    what: str = typer.Option("tags", help="tags (long) or features (wide)"),
) -> None:
    """Export the current run's tags (long) or features (wide) to Parquet or CSV."""
    from store.profiles.export import export_features, export_tags
    from store.runs.reads import kept_run

    if what not in ("tags", "features"):
        raise fail(PortraitError(f"--what {what!r} is not one of tags, features"))
    if out.suffix not in (".parquet", ".csv"):
        raise fail(PortraitError(f"--out {str(out)!r} must end in .parquet or .csv"))
    _, engine = open_store()
    with engine.connect() as connection:
        try:
            run_id = kept_run(connection=connection, run_id=None).id
        except PortraitError as error:
            raise fail(error) from error
    exporter = export_tags if what == "tags" else export_features
    frame = exporter(engine=engine, run_id=run_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        # With a BOM: Excel, on a Chinese Windows machine above all, reads UTF-8 only with one.
        frame.to_csv(out, index=False, encoding="utf-8-sig")
    console.print(f"wrote {len(frame):,} rows of run {run_id} to {out}")

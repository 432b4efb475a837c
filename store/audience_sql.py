"""Tag expressions as SQL over the store: the reference the bitmap index must agree with, and
the path for stores too large to index.

Each term is the set of person_idx with a matching tag row; AND, OR and NOT are INTERSECT,
UNION and EXCEPT (set operations, so duplicates from multi-valued keys vanish), NOT against
the run's persons. Compound selects are wrapped as subqueries: SQLite does not accept a
parenthesised compound inside another.
"""

from __future__ import annotations

from sqlalchemy import (
    CompoundSelect,
    Connection,
    Select,
    except_,
    func,
    intersect,
    select,
    union,
)

from store.expressions import And, Compare, Expression, HasKey, HasValue, Not, Or
from store.models import Person, PersonTag, TagDefinition, table_of

_tags = table_of(PersonTag)
_persons = table_of(Person)
_definitions = table_of(TagDefinition)

_COMPARISONS = {
    "<": lambda column, number: column < number,
    "<=": lambda column, number: column <= number,
    ">": lambda column, number: column > number,
    ">=": lambda column, number: column >= number,
    "=": lambda column, number: column == number,
    "!=": lambda column, number: column != number,
}


def audience_select(expression: Expression, *, run_id: int) -> Select[tuple[int]]:
    """A select of the distinct person_idx the expression picks in the run."""
    return _flat(_compile(expression, run_id))


def count(*, connection: Connection, run_id: int, expression: Expression) -> int:
    audience = audience_select(expression, run_id=run_id).subquery()
    return int(connection.execute(select(func.count()).select_from(audience)).scalar_one())


def members(
    *, connection: Connection, run_id: int, expression: Expression, after: int | None, first: int
) -> list[int]:
    """Up to `first` person_idx of the audience in ascending order, after `after` if given."""
    audience = audience_select(expression, run_id=run_id).subquery()
    statement = select(audience.c.person_idx).order_by(audience.c.person_idx).limit(first)
    if after is not None:
        statement = statement.where(audience.c.person_idx > after)
    return list(connection.execute(statement).scalars())


def everyone(*, connection: Connection, run_id: int, expression: Expression) -> list[int]:
    """Every person_idx of the audience, ascending."""
    audience = audience_select(expression, run_id=run_id).subquery()
    statement = select(audience.c.person_idx).order_by(audience.c.person_idx)
    return list(connection.execute(statement).scalars())


def breakdown(
    *, connection: Connection, run_id: int, expression: Expression, key: str
) -> list[tuple[str, int]]:
    """(value, persons of the audience with it) for the values of `key` present, most first;
    none for a number key (its values are amounts, one per person: the bitmap index keeps
    none of them, and a breakdown must not list them)."""
    audience = audience_select(expression, run_id=run_id)
    persons = func.count()
    number_keys = select(_definitions.c.key).where(
        _definitions.c.run_id == run_id, _definitions.c.value_type == "number"
    )
    statement = (
        select(_tags.c.value, persons)
        .where(
            _tags.c.run_id == run_id,
            _tags.c.key == key,
            _tags.c.key.not_in(number_keys),
            _tags.c.person_idx.in_(audience),
        )
        .group_by(_tags.c.value)
        .order_by(persons.desc(), _tags.c.value)
    )
    return [(value, int(n)) for value, n in connection.execute(statement)]


def run_persons(*, connection: Connection, run_id: int) -> list[int]:
    """Every person_idx of the run, ascending."""
    statement = (
        select(_persons.c.person_idx)
        .where(_persons.c.run_id == run_id)
        .order_by(_persons.c.person_idx)
    )
    return list(connection.execute(statement).scalars())


def value_members(
    *, connection: Connection, run_id: int, key: str, values: list[str]
) -> dict[str, list[int]]:
    """The person_idx holding each of `values` of `key` (ascending; missing values: none)."""
    statement = (
        select(_tags.c.value, _tags.c.person_idx)
        .where(_tags.c.run_id == run_id, _tags.c.key == key, _tags.c.value.in_(values))
        .order_by(_tags.c.value, _tags.c.person_idx)
    )
    found: dict[str, list[int]] = {value: [] for value in values}
    for value, person_idx in connection.execute(statement):
        found[value].append(person_idx)
    return found


def score_span(*, connection: Connection, run_id: int, key: str) -> tuple[float, float] | None:
    """The lowest and highest score of `key` in the run; None when no tag of it has one."""
    statement = select(func.min(_tags.c.score), func.max(_tags.c.score)).where(
        _tags.c.run_id == run_id, _tags.c.key == key, _tags.c.score.is_not(None)
    )
    low, high = connection.execute(statement).one()
    return None if low is None else (float(low), float(high))


def _compile(expression: Expression, run_id: int) -> Select[tuple[int]] | CompoundSelect:
    match expression:
        case HasValue(key=key, values=values):
            return _term(run_id, key, _tags.c.value.in_(values)).distinct()
        case HasKey(key=key):
            return _term(run_id, key).distinct()
        case Compare(key=key, op=op, number=number):
            return _term(run_id, key, _COMPARISONS[op](_tags.c.score, number)).distinct()
        case Not(item=item):
            return except_(_everyone(run_id), _flat(_compile(item, run_id)))
        case Or(items=items):
            return union(*(_flat(_compile(item, run_id)) for item in items))
        case And(items=items):
            return _all_of(items, run_id)
    raise TypeError(f"not an expression: {expression!r}")


def _all_of(items: tuple[Expression, ...], run_id: int) -> Select[tuple[int]] | CompoundSelect:
    wanted = [_flat(_compile(i, run_id)) for i in items if not isinstance(i, Not)]
    unwanted = [_flat(_compile(i.item, run_id)) for i in items if isinstance(i, Not)]
    kept = _flat(intersect(*wanted)) if len(wanted) > 1 else (wanted or [_everyone(run_id)])[0]
    return except_(kept, *unwanted) if unwanted else kept


def _term(run_id: int, key: str, *conditions: object) -> Select[tuple[int]]:
    return select(_tags.c.person_idx).where(
        _tags.c.run_id == run_id,
        _tags.c.key == key,
        *conditions,  # type: ignore[arg-type]
    )


def _everyone(run_id: int) -> Select[tuple[int]]:
    return select(_persons.c.person_idx).where(_persons.c.run_id == run_id)


def _flat(statement: Select[tuple[int]] | CompoundSelect) -> Select[tuple[int]]:
    """A compound as a plain select from it, so that it nests inside another compound."""
    if isinstance(statement, Select):
        return statement
    inner = statement.subquery()
    return select(inner.c.person_idx)

"""Strawberry's executor, with the fields that need nothing resolved read directly.

A profile's answer is ~150 fields, most of them plain attributes of a type (a tag's key, value,
score and kind) that strawberry reads with `getattr` (its `_is_default` resolvers). For each,
graphql-core builds a resolve info, looks for arguments and walks the type dispatch of
`complete_value`: most of a profile's server time (bench/api_load.py --peer). For a field with
strawberry's default resolver, no arguments, a scalar or enum type and no resolver middleware,
none of that changes the answer, so such a field is read and coerced here. Anything else, and
anything unusual on the way (a null, an exception, an awaitable, a value the scalar refuses),
goes graphql-core's general way, which reads the field again: errors, nulls and their paths
stay graphql-core's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, cast
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLLeafType,
    GraphQLObjectType,
    GraphQLSchema,
    Undefined,
    get_nullable_type,
    is_leaf_type,
    is_non_null_type,
)
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField


class _Plain(NamedTuple):
    read: Callable[[Any, str], Any]  # strawberry's default resolver: getattr unless configured
    attribute: str  # the field's Python name
    coerce: Callable[[Any], Any]  # the scalar's or enum's output coercion
    nullable: bool


class _Failed(Exception):
    """A plain read that graphql-core must make again, the general way."""


# Per schema, (type name, field name) -> how to read the field plainly, or None: the general way.
_PLANS: WeakKeyDictionary[GraphQLSchema, dict[tuple[str, str], _Plain | None]] = (
    WeakKeyDictionary()
)


class PlainFieldsExecutor(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        self._plain_allowed = manager is None or not manager.middlewares
        self._plans = _PLANS.setdefault(self.schema, {})
        # Per grouped field set of this request (graphql-core collects each selection once per
        # type and reuses it for every object of a list): its (response name, plan) pairs when
        # every field is plain, else None. The set itself is kept so that its id stays its own.
        self._objects: dict[int, tuple[object, list[tuple[str, _Plain]] | None]] = {}

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        """An object whose selected fields are all plain: read whole, or else field by field."""
        found = self._objects.get(id(grouped_field_set))
        if found is None:
            found = (grouped_field_set, self._object_plan(parent_type, grouped_field_set))
            self._objects[id(grouped_field_set)] = found
        fields = found[1]
        if fields is not None:
            try:
                return {name: self._read(plain, source_value) for name, plain in fields}
            except Exception:
                pass
        return super().execute_fields(
            parent_type, source_value, path, grouped_field_set, position_context
        )

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Path,
        position_context: Any,
    ) -> Any:
        plain = self._field_plan(parent_type, field_details_list[0].node.name.value)
        if plain is not None:
            try:
                return self._read(plain, source)
            except Exception:
                pass
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    def _read(self, plain: _Plain, source: Any) -> Any:
        """The field's value as graphql-core would complete it; _Failed (or the attribute's
        own exception) where graphql-core would do more than that."""
        value = plain.read(source, plain.attribute)
        if value is None:
            if plain.nullable:
                return None
            raise _Failed
        if isinstance(value, Exception) or self.is_awaitable(value):
            raise _Failed
        coerced = plain.coerce(value)
        if coerced is None or coerced is Undefined:
            raise _Failed
        return coerced

    def _object_plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: Any
    ) -> list[tuple[str, _Plain]] | None:
        fields = []
        for name, field_details_list in grouped_field_set.items():
            plain = self._field_plan(parent_type, field_details_list[0].node.name.value)
            if plain is None:
                return None
            fields.append((name, plain))
        return fields

    def _field_plan(self, parent_type: GraphQLObjectType, name: str) -> _Plain | None:
        if not self._plain_allowed:
            return None
        key = (parent_type.name, name)
        if key not in self._plans:
            self._plans[key] = self._plan(parent_type, name)
        return self._plans[key]

    def _plan(self, parent_type: GraphQLObjectType, name: str) -> _Plain | None:
        field = self.schema.get_field(parent_type, name)
        if field is None or field.args or not getattr(field.resolve, "_is_default", False):
            return None
        definition = field.extensions.get("strawberry-definition")
        leaf = get_nullable_type(field.type)
        if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
            return None
        if not is_leaf_type(leaf) or definition.python_name is None:
            return None
        coerce = cast(GraphQLLeafType, leaf).coerce_output_value
        nullable = not is_non_null_type(field.type)
        return _Plain(definition.default_resolver, definition.python_name, coerce, nullable)

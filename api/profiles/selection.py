"""Which of a person's tags a query reads, from the Profile fields it selects.

A list of 100 profiles that shows two tags each needs 200 tag rows, not the ~2,000 the
persons have; reading only those made such a batch about a fifth cheaper.
"""

from __future__ import annotations

from collections.abc import Iterable

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from api.profiles.types import LIFECYCLE, PERSONA, RFM_SEGMENT, SCORE_KEYS

# Profile fields that read no tags, and those that read known keys. A field in neither (`tags`,
# or one added later) reads them all, so a new field is right before it is listed here.
READS_NO_TAGS = frozenset({"__typename", "personId", "attributes", "run", "recommendations"})
READS_KEYS = {
    "lifecycle": frozenset({LIFECYCLE}),
    "rfm": frozenset({RFM_SEGMENT}),
    "persona": frozenset({PERSONA}),
    "scores": frozenset(SCORE_KEYS),
}


def tag_keys(selections: Iterable[Selection]) -> frozenset[str] | None:
    """The tag keys these selections of Profile fields read; None when they read them all."""
    keys: set[str] = set()
    for selection in selections:
        if isinstance(selection, FragmentSpread | InlineFragment):
            inner = tag_keys(selection.selections)
            if inner is None:
                return None
            keys |= inner
        elif selection.name == "tag":
            keys.add(str(selection.arguments["key"]))
        elif selection.name in READS_KEYS:
            keys |= READS_KEYS[selection.name]
        elif selection.name not in READS_NO_TAGS:
            return None
    return frozenset(keys)


def profile_tag_keys(current: list[Selection], *path: str) -> frozenset[str] | None:
    """The tag keys the Profile fields read, selected at `path` below the current field
    (`info.selected_fields`: the current field's own nodes)."""
    below = [s for field in current if isinstance(field, SelectedField) for s in field.selections]
    return tag_keys(selected_below(below, *path))


def selected_below(selections: Iterable[Selection], *path: str) -> list[Selection]:
    """The selections of the fields at `path` below these (fragments looked into)."""
    if not path:
        return list(selections)
    found: list[Selection] = []
    for selection in selections:
        if isinstance(selection, FragmentSpread | InlineFragment):
            found += selected_below(selection.selections, *path)
        elif isinstance(selection, SelectedField) and selection.name == path[0]:
            found += selected_below(selection.selections, *path[1:])
    return found

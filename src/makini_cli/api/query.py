"""The list parameters of contract §2 that records and raw rows share: `filter[field]`,
`filter[field:op]` and `sort[field]`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: The operators a filter may carry after its field (`filter[updatedAt:gt]`), as Makini
#: spells them: its reference writes `lted` where `lteq` is meant; both are sent as
#: given, the server takes either.
OPERATORS: tuple[str, ...] = ("contains", "startsWith", "gt", "gteq", "lt", "lteq", "lted")


@dataclass(frozen=True)
class Filter:
    """`field` compared with `value` by `operator` (None: equal)."""

    field: str
    value: str
    #: one of OPERATORS, or None for equality
    operator: str | None = None

    @property
    def param(self) -> str:
        name = f"{self.field}:{self.operator}" if self.operator else self.field
        return f"filter[{name}]"


#: (field, descending): one `sort[field]`
Sort = tuple[str, bool]


def filter_params(filters: Iterable[Filter]) -> dict[str, str | list[str]]:
    """Each filter as its parameter; two on one field and operator (`--match any` of two
    values) repeat the parameter."""
    params: dict[str, str | list[str]] = {}
    for item in filters:
        found = params.get(item.param)
        if found is None:
            params[item.param] = item.value
        else:
            params[item.param] = [*([found] if isinstance(found, str) else found), item.value]
    return params


def list_params(
    filters: Iterable[Filter] = (), sort: Iterable[Sort] = ()
) -> dict[str, str | list[str]]:
    """The filters' parameters, then the order's."""
    return {**filter_params(filters), **sort_params(sort)}


def sort_params(sort: Iterable[Sort]) -> dict[str, str]:
    """`sort[field]`: 0 ascending, 1 descending; the first given sorts first."""
    return {f"sort[{name}]": "1" if descending else "0" for name, descending in sort}

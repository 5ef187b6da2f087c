"""Pagination, filters and sorting for every list endpoint, written once (contract §2).

A list endpoint hands over its objects, the raw query items and the request URL, and
gets back the documented envelope:
`{"data": [...], "links": {first, last, prev, next}, "meta": {current_page, from,
last_page, path, per_page, to, total}}` with absolute links.

Query language: `page` (from 1), `per_page` (default 50, at most 500),
`filter[field]=v`, `filter[field:op]=v` with op in contains|startsWith|gt|gteq|lt|lteq
(Makini's misspelt `lted` means `lteq`), `filterMatch=all|any`, `sort[field]=0|1`
(1 = descending), and `modified_after=<ISO-8601>` as a shorthand for a `gt` filter on the
resource's update time. Filtering on a field the resource does not have is a 400 that
names the field. A dotted field (`customFields.inspector`) names a field of an object
field. Comparisons: lists match when an element matches; `contains` and `startsWith`
ignore case; order operators compare numbers as numbers and ISO-8601 times as instants.

A list with neither filters nor sorting reads only the page it answers from `items`
(its length and one slice): a lazy sequence serves a page of a huge list without making
the rest.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, overload
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from makini_cli.sandbox.errors import ApiError, validation_failed

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 500
OPERATORS = ("eq", "contains", "startsWith", "gt", "gteq", "lt", "lteq")
_OPERATOR_ALIASES = {"lted": "lteq"}
_BRACKET = re.compile(r"^(filter|sort)\[([^\[\]]*)\]$")


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: str


@dataclass(frozen=True)
class ListQuery:
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    conditions: tuple[Condition, ...] = ()
    match_any: bool = False
    sort: tuple[tuple[str, bool], ...] = ()  # (field, descending)


class Paged(Sequence[Mapping[str, Any]]):
    """A list known by its length, made a page at a time: `page(start, stop)` makes the
    items at 0-based positions start…stop-1; `everything()` all of them, for filters and
    sorting."""

    def __init__(
        self,
        length: int,
        page: Callable[[int, int], list[Mapping[str, Any]]],
        everything: Callable[[], Sequence[Mapping[str, Any]]],
    ) -> None:
        self._length = length
        self._page = page
        self._everything = everything

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> Mapping[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[Mapping[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> Mapping[str, Any] | list[Mapping[str, Any]]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._length)
            if step != 1:
                return list(self._everything())[index]
            return self._page(start, stop) if start < stop else []
        position = index + self._length if index < 0 else index
        if not 0 <= position < self._length:
            raise IndexError(index)
        return self._page(position, position + 1)[0]

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        return iter(self._everything())


def _bad_request(message: str, **details: Any) -> ApiError:
    return ApiError(400, "INVALID_REQUEST", message, details=details)


def _positive_int(name: str, raw: str, maximum: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise validation_failed({name: [f"{name} must be an integer."]}) from None
    if value < 1:
        raise validation_failed({name: [f"{name} must be at least 1."]})
    if maximum is not None and value > maximum:
        raise validation_failed({name: [f"{name} may be at most {maximum}."]})
    return value


def parse_list_query(
    items: Iterable[tuple[str, str]], *, updated_field: str | None = None
) -> ListQuery:
    page, per_page, match_any = 1, DEFAULT_PER_PAGE, False
    conditions: list[Condition] = []
    sort: list[tuple[str, bool]] = []
    for name, raw in items:
        if name == "page":
            page = _positive_int("page", raw)
        elif name == "per_page":
            per_page = _positive_int("per_page", raw, MAX_PER_PAGE)
        elif name == "filterMatch":
            if raw not in ("all", "any"):
                raise _bad_request("filterMatch must be 'all' or 'any'.", parameter=name)
            match_any = raw == "any"
        elif name == "modified_after":
            if updated_field is None:
                raise _bad_request("This list has no update time to filter on.", parameter=name)
            if _as_instant(raw) is None:
                raise _bad_request("modified_after must be an ISO-8601 time.", parameter=name)
            conditions.append(Condition(updated_field, "gt", raw))
        elif name.startswith(("filter", "sort")):
            match = _BRACKET.match(name)
            if match is None:
                raise _bad_request(
                    f"Malformed parameter {name!r}: use filter[field] or sort[field].",
                    parameter=name,
                )
            kind, spec = match.groups()
            if kind == "filter":
                conditions.append(_condition(name, spec, raw))
            else:
                if raw not in ("0", "1"):
                    raise _bad_request(
                        f"{name} must be 0 (ascending) or 1 (descending).", parameter=name
                    )
                sort.append((spec, raw == "1"))
        # Anything else (cursor, include, …) is ignored, as Makini ignores unknown params.
    return ListQuery(page, per_page, tuple(conditions), match_any, tuple(sort))


def _condition(name: str, spec: str, raw: str) -> Condition:
    field, _, op = spec.partition(":")
    op = _OPERATOR_ALIASES.get(op, op) or "eq"
    if not field:
        raise _bad_request(f"{name} names no field.", parameter=name)
    if op not in OPERATORS:
        raise _bad_request(
            f"Unknown filter operator {op!r} in {name}; use one of "
            + ", ".join(o for o in OPERATORS if o != "eq")
            + ".",
            parameter=name,
        )
    return Condition(field, op, raw)


def _as_instant(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _scalar_matches(value: Any, op: str, wanted: str, parameter: str) -> bool:
    if value is None:
        return op == "eq" and wanted in ("", "null")
    if isinstance(value, bool):
        text = "true" if value else "false"
        return op == "eq" and wanted.lower() in (text, "1" if value else "0")
    if op == "eq":
        number = _as_number(value)
        if number is not None:
            try:
                return number == float(wanted)
            except ValueError:
                return False
        return str(value) == wanted
    if op == "contains":
        return wanted.lower() in str(value).lower()
    if op == "startsWith":
        return str(value).lower().startswith(wanted.lower())
    return _ordered(value, op, wanted, parameter)


def _ordered(value: Any, op: str, wanted: str, parameter: str) -> bool:
    left: Any
    right: Any
    number = _as_number(value)
    if number is not None:
        try:
            left, right = number, float(wanted)
        except ValueError:
            raise _bad_request(f"{parameter} needs a number.", parameter=parameter) from None
    else:
        left_instant, right_instant = _as_instant(str(value)), _as_instant(wanted)
        if left_instant is not None and right_instant is not None:
            left, right = left_instant, right_instant
        else:
            left, right = str(value), wanted
    compare: Mapping[str, Callable[[Any, Any], bool]] = {
        "gt": lambda a, b: a > b,
        "gteq": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lteq": lambda a, b: a <= b,
    }
    return compare[op](left, right)


def field_value(item: Mapping[str, Any], field: str) -> Any:
    """`item[field]`, where a dotted field walks into object fields; None when absent."""
    if field in item:
        return item[field]
    value: Any = item
    for part in field.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _matches(item: Mapping[str, Any], condition: Condition) -> bool:
    value = field_value(item, condition.field)
    parameter = f"filter[{condition.field}:{condition.op}]"
    if isinstance(value, list):
        return any(_scalar_matches(v, condition.op, condition.value, parameter) for v in value)
    return _scalar_matches(value, condition.op, condition.value, parameter)


def _sort_key(value: Any) -> tuple[int, Any]:
    # None first (as SQL sorts NULLs ascending), then numbers, then text.
    if value is None:
        return (0, 0)
    number = _as_number(value)
    if number is not None:
        return (1, number)
    if isinstance(value, bool):
        return (1, float(value))
    return (2, str(value))


def _field_sort_key(field: str) -> Callable[[Mapping[str, Any]], tuple[int, Any]]:
    return lambda item: _sort_key(field_value(item, field))


def _check_fields(query: ListQuery, fields: Collection[str]) -> None:
    for condition in query.conditions:
        if condition.field not in fields:
            raise _bad_request(
                f"Unknown filter field {condition.field!r}; filterable fields: "
                + ", ".join(sorted(fields))
                + ".",
                field=condition.field,
            )
    for field, _ in query.sort:
        if field not in fields:
            raise _bad_request(
                f"Unknown sort field {field!r}; sortable fields: "
                + ", ".join(sorted(fields))
                + ".",
                field=field,
            )


def _page_url(url: str, page: int) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "page"]
    query.append(("page", str(page)))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def paginate(
    items: Sequence[Mapping[str, Any]],
    query_items: Iterable[tuple[str, str]],
    url: str,
    *,
    fields: Collection[str],
    updated_field: str | None = None,
) -> dict[str, Any]:
    """Filter, sort and cut one page of `items`, answered in the list envelope.

    `fields` are the names a client may filter and sort on; `url` is the absolute
    request URL the links are built from.
    """
    query = parse_list_query(query_items, updated_field=updated_field)
    _check_fields(query, fields)
    if not query.conditions and not query.sort:
        return envelope(items, query, url)
    selected = list(items)
    if query.conditions:
        combine = any if query.match_any else all
        selected = [
            item for item in selected if combine(_matches(item, c) for c in query.conditions)
        ]
    # Stable sorts from the last key to the first give a multi-key sort.
    for field, descending in reversed(query.sort):
        selected.sort(key=_field_sort_key(field), reverse=descending)
    return envelope(selected, query, url)


def envelope(selected: Sequence[Mapping[str, Any]], query: ListQuery, url: str) -> dict[str, Any]:
    """The list envelope of the page `query` asks for of `selected` (already filtered and
    sorted); reads `len(selected)` and one slice of it."""
    total = len(selected)
    last_page = max(1, math.ceil(total / query.per_page))
    start = (query.page - 1) * query.per_page
    page_items = selected[start : start + query.per_page]
    parts = urlsplit(url)
    path = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return {
        "data": list(page_items),
        "links": {
            "first": _page_url(url, 1),
            "last": _page_url(url, last_page),
            "prev": _page_url(url, query.page - 1) if query.page > 1 else None,
            "next": _page_url(url, query.page + 1) if query.page < last_page else None,
        },
        "meta": {
            "current_page": query.page,
            "from": start + 1 if page_items else None,
            "last_page": last_page,
            "path": path,
            "per_page": query.per_page,
            "to": start + len(page_items) if page_items else None,
            "total": total,
        },
    }

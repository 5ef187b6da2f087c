"""`--filter FIELD[:OP]=VALUE`, `--sort [-]FIELD` and `--fields A,B` as the list commands
(`records`, `raw rows`) take them, each command with its own word for a field and its own
examples."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from makini_cli.errors import UsageError

if TYPE_CHECKING:
    from makini_cli.api.query import Filter, Sort


@dataclass(frozen=True)
class QueryFlags:
    """How one command's flags read: `noun` is what it calls a field ("field",
    "column"); each hint shows the flag written right."""

    noun: str
    filter_hint: str
    sort_hint: str
    fields_hint: str

    def filters(self, values: Iterable[str] | None) -> "list[Filter]":
        """`NOUN=VALUE` and `NOUN:OP=VALUE`, OP one of the API's operators (any case)."""
        from makini_cli.api.query import OPERATORS, Filter

        operators = {op.lower(): op for op in OPERATORS}
        found: list[Filter] = []
        for text in values or ():
            left, sep, value = text.partition("=")
            name, colon, op = left.partition(":")
            name = name.strip()
            if not sep or not name:
                raise UsageError(
                    f"--filter {text!r} is not {self.noun.upper()}=VALUE", hint=self.filter_hint
                )
            operator = None
            if colon:
                operator = operators.get(op.strip().lower())
                if operator is None:
                    raise UsageError(
                        f"--filter {text!r}: unknown operator {op.strip()!r}",
                        hint=f"operators: {', '.join(OPERATORS)}",
                    )
            found.append(Filter(name, value, operator))
        return found

    def sort(self, values: Iterable[str] | None) -> "list[Sort]":
        """`NOUN` (ascending) or `-NOUN` (descending), the first given sorting first."""
        found: list[Sort] = []
        for text in values or ():
            value = text.strip()
            name = value.lstrip("+-").strip()
            if not name:
                raise UsageError(f"--sort {text!r} names no {self.noun}", hint=self.sort_hint)
            found.append((name, value.startswith("-")))
        return found

    def fields(self, values: Iterable[str] | None) -> list[str] | None:
        """The names of one or more comma-separated lists, in order, each once; None when
        the flag is not given."""
        if values is None:
            return None
        given = list(values)
        names = list(dict.fromkeys(n.strip() for v in given for n in v.split(",") if n.strip()))
        if given and not names:
            raise UsageError(f"--fields names no {self.noun}", hint=self.fields_hint)
        return names or None

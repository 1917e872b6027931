"""The engine protocol the child runner drives, and the W3 counting sink's fold."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class Unsupported(Exception):
    """The engine has no implementation of this workload (recorded as the row's error)."""


class Engine:
    """One engine: ``setup`` (timed as startup), ``prepare`` (untimed), ``run`` (timed).

    ``run_W1`` ... ``run_W4`` take the prepared input and return the raw result;
    ``rows_W1`` ... turn it into the canonical rows of :mod:`benchmarks.reference`
    (untimed). By default ``prepare`` hands the row-form data through.
    """

    name = "engine"
    note = ""  # batch size, parallelism, API variant: shown in the report
    window_s = 1  # W2's tumbling window length in seconds (set by the child)

    def setup(self) -> None:
        """Import the library and start any session (timed as startup)."""

    def version(self) -> str:
        return "?"

    def prepare(self, workload: str, data: list[Any]) -> Any:
        return data

    def run(self, workload: str, prepared: Any) -> Any:
        fn = getattr(self, f"run_{workload}", None)
        if fn is None:
            raise Unsupported(f"{self.name} has no {workload} implementation")
        return fn(prepared)

    def rows(self, workload: str, result: Any) -> Iterable[tuple[Any, ...]]:
        return getattr(self, f"rows_{workload}", lambda r: r)(result)

    def close(self) -> None:
        """Stop sessions and free resources."""


class CountingSink:
    """W3's sink: counts projected ``(id, user, amount)`` records and folds them."""

    def __init__(self) -> None:
        self.count = 0
        self.sum_id = 0
        self.sum_amount = 0.0
        self.sum_user_len = 0

    def add_all(self, records: Iterable[tuple[int, str, float]]) -> None:
        count, sum_id, sum_amount, sum_len = self.count, self.sum_id, self.sum_amount, self.sum_user_len
        for rid, user, amount in records:
            count += 1
            sum_id += rid
            sum_amount += amount
            sum_len += len(user)
        self.count, self.sum_id, self.sum_amount, self.sum_user_len = (
            count, sum_id, sum_amount, sum_len)

    def merge(self, partial: tuple[int, int, float, int]) -> None:
        """Add another fold's ``row()`` (a partition's partial) to this one."""
        count, sum_id, sum_amount, sum_len = partial
        self.count += count
        self.sum_id += sum_id
        self.sum_amount += sum_amount
        self.sum_user_len += sum_len

    def row(self) -> tuple[int, int, float, int]:
        return (self.count, self.sum_id, self.sum_amount, self.sum_user_len)


def w3_schema() -> dict[str, Any]:
    """W3's record as a typed schema: what the filter and the projection check, as types.

    A numeric, non-negative ``amount`` (msgspec's ``float`` takes JSON integers
    and refuses booleans and null), an integer ``id`` and a string ``user``.
    """
    from typing import Annotated

    import msgspec

    return {"id": int, "user": str, "amount": Annotated[float, msgspec.Meta(ge=0)]}


def valid_amount(record: dict[str, Any]) -> bool:
    """W3's filter: a numeric, non-negative amount."""
    amount = record.get("amount")
    return type(amount) in (int, float) and amount >= 0

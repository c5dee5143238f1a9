"""A problem found in an extract, in words a coordinator understands."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Issue:
    severity: str  # "error" blocks the commit; "warning" is shown
    code: str  # stable machine name of the rule, e.g. "bad_date"
    message: str  # full sentence, naming row, column and value where there is one
    row: int | None = None  # spreadsheet row (the header is row 1)
    column: str | None = None  # the file's own column header
    value: str | None = None
    # A warning that needs a decision (participants disappearing, changed dates or arms):
    # the upload page asks, and the command line wants --accept-warnings.
    needs_confirmation: bool = False

    @classmethod
    def error(cls, code: str, message: str, row: int | None = None, column: str | None = None, value: str | None = None) -> Issue:
        return cls("error", code, message, row, column, value)

    @classmethod
    def warning(
        cls,
        code: str,
        message: str,
        row: int | None = None,
        column: str | None = None,
        value: str | None = None,
        needs_confirmation: bool = True,
    ) -> Issue:
        return cls("warning", code, message, row, column, value, needs_confirmation)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def to_dict(self) -> dict:
        return asdict(self)


def located(row: int | None, column: str | None) -> str:
    """'row 14, `Randomized On`: ' -- the prefix of a message about one cell."""
    parts = [f"row {row}" if row is not None else "", f"`{column}`" if column else ""]
    prefix = ", ".join(p for p in parts if p)
    return f"{prefix}: " if prefix else ""

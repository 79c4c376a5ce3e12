"""Plain-text tables laid out like util-linux's libsmartcols (non-terminal output).

A column is as wide as its widest cell or header; a width hint widens it
further unless it is the last column (what util-linux's expected outputs show);
cells are separated by one space; right-aligned columns are padded on the
left; the last column is never padded on the right.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

Colorize = Callable[[str, str], str | None]  # (header, value) -> an ANSI SGR code, or None


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: its header, alignment and width hint."""

    header: str
    right: bool = False
    hint: int = 0


def column_widths(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> list[int]:
    """The width of each column."""
    widths = []
    for index, column in enumerate(columns):
        width = max([len(column.header), *(len(row[index]) for row in rows)])
        is_last = index == len(columns) - 1
        if column.hint > width and not is_last:
            width = column.hint
        widths.append(width)
    return widths


def _cell(text: str, width: int, right: bool, last: bool) -> tuple[str, str, str]:
    """(left padding, text, right padding) of one cell."""
    if right:
        return (" " * (width - len(text)) if text else ("" if last else " " * width)), text, ""
    return "", text, ("" if last else " " * (width - len(text)))


def format_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    headings: bool = True,
    colorize: Colorize | None = None,
) -> list[str]:
    """The table's lines (no header, and no lines at all, when there are no rows)."""
    if not rows:
        return []
    widths = column_widths(columns, rows)
    lines = [_line(columns, widths, [c.header for c in columns], None)] if headings else []
    lines.extend(_line(columns, widths, row, colorize) for row in rows)
    return lines


def _line(
    columns: Sequence[Column],
    widths: Sequence[int],
    cells: Sequence[str],
    colorize: Colorize | None,
) -> str:
    parts = []
    for index, (column, width, text) in enumerate(zip(columns, widths, cells, strict=True)):
        left, body, right = _cell(text, width, column.right, index == len(columns) - 1)
        style = colorize(column.header, text) if colorize and text else None
        if style:
            body = f"\033[{style}m{body}\033[0m"
        parts.append(f"{left}{body}{right}")
    return " ".join(parts)

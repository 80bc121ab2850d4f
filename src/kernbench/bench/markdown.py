"""Markdown tables: the one writer behind every table the project prints or writes.

The benchmark report, the dask scaling page, the lecture README and the asv history script
all lay their tables out here, so they share one dialect: a header row, a separator row
(``---`` per column, ``---:`` for a right-aligned one), then one row per entry, each cell
padded by one space on either side::

    | kernel | time |
    |---|---:|
    | entropy | 1.2 ms |
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

#: Separator cell per alignment name; None (the default) leaves the alignment to the renderer.
_SEPARATORS = {None: "---", "left": ":---", "right": "---:", "center": ":---:"}


def cell(text: object) -> str:
    """``text`` as one cell: a ``|`` would end the cell and a line break the row, so a pipe
    becomes ``/`` and a line break a space (free text such as an error message)."""
    return str(text).replace("|", "/").replace("\r\n", " ").replace("\n", " ")


def row(cells: Iterable[object]) -> str:
    """One table row: ``| a | b |``, an empty cell as ``| |``. Cells are written as given
    (see :func:`cell`)."""
    return "|" + "".join(f" {c} |" if str(c) else " |" for c in cells)


def separator(columns: int, align: Sequence[str | None] | None = None) -> str:
    """The row under the header: ``|---|---:|``; ``align`` gives one of None, "left",
    "right" or "center" per column (default: None for every column)."""
    if columns < 1:
        raise ValueError(f"columns must be at least 1; got {columns}")
    if align is None:
        align = [None] * columns
    if len(align) != columns:
        raise ValueError(f"align has {len(align)} entries for {columns} columns")
    bad = [a for a in align if a not in _SEPARATORS]
    if bad:
        raise ValueError(f"align entries must be None, 'left', 'right' or 'center'; "
                         f"got {bad[0]!r}")
    return "|" + "".join(_SEPARATORS[a] + "|" for a in align)


def table_lines(header: Sequence[object], rows: Iterable[Sequence[object]],
                align: Sequence[str | None] | None = None) -> list[str]:
    """The table as a list of lines (header, separator, rows); every row must have as many
    cells as the header, or ValueError names the row."""
    lines = [row(header), separator(len(header), align)]
    for i, r in enumerate(rows):
        r = list(r)
        if len(r) != len(header):
            raise ValueError(f"rows[{i}] has {len(r)} cells for {len(header)} columns")
        lines.append(row(r))
    return lines


def table(header: Sequence[object], rows: Iterable[Sequence[object]],
          align: Sequence[str | None] | None = None) -> str:
    """The table as one string, lines joined by newlines (no trailing newline)."""
    return "\n".join(table_lines(header, rows, align))

"""Plain-text tables that fit a terminal: headers wrapped over several lines, long text cells
wrapped inside their column, and a table wider than the limit split into several tables that
repeat the key (text) columns.

Only layout lives here; what goes in the cells is decided by the callers
(:mod:`pkpd.output.tables`, :mod:`pkpd.output.population_tables`).
"""
from __future__ import annotations

import textwrap

#: Default width limit, columns.
WIDTH = 100
#: Gap between columns.
GAP = "  "
#: A header is wrapped to the width of its cells or of its longest word, but not narrower than this.
HEADER_WRAP = 8
#: Text (key) cells wider than this are wrapped.
KEY_WRAP = 32
#: Other text cells are wrapped beyond this width, or narrower (not below MIN_TEXT) to fit the limit.
TEXT_WRAP = 60
MIN_TEXT = 16


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` columns (longer words kept whole); explicit newlines kept."""
    out: list[str] = []
    for part in str(text).split("\n"):
        out += textwrap.wrap(part, width, break_long_words=False, break_on_hyphens=False) or [""]
    return out


def _layout(header: list[str], rows: list[list[str]], numeric: list[bool], wraps: list[int]):
    """Column widths and the wrapped header and cells of every column (text wrapped at ``wraps``)."""
    widths, heads, cells = [], [], []
    for i, h in enumerate(header):
        col = [str(r[i]) for r in rows]
        if numeric[i]:
            w = max([len(c) for c in col] + [1])
            wrapped = [[c] for c in col]
        else:
            w = min(max([len(c) for c in col] + [1]), wraps[i])
            wrapped = [_wrap(c, w) for c in col]
            w = max([w] + [len(x) for c in wrapped for x in c])
        longest_word = max((len(x) for x in str(h).split()), default=0)
        hw = _wrap(h, max(w, longest_word, min(HEADER_WRAP, len(h))))
        widths.append(max([w] + [len(x) for x in hw]))
        heads.append(hw)
        cells.append(wrapped)
    return widths, heads, cells


def _render_columns(idx: list[int], widths, heads, cells, numeric, n_rows: int) -> str:
    def fmt(i, s):
        return s.rjust(widths[i]) if numeric[i] else s.ljust(widths[i])

    h_lines = max(len(heads[i]) for i in idx)
    lines = []
    for k in range(h_lines):
        # headers sit at the bottom of their block, so units line up on the last header line
        lines.append(GAP.join(fmt(i, ([""] * (h_lines - len(heads[i])) + heads[i])[k]) for i in idx).rstrip())
    lines.append(GAP.join("─" * widths[i] for i in idx))
    for r in range(n_rows):
        height = max(len(cells[i][r]) for i in idx)
        for k in range(height):
            lines.append(GAP.join(fmt(i, cells[i][r][k] if k < len(cells[i][r]) else "") for i in idx).rstrip())
    return "\n".join(lines)


def render(header: list[str], rows: list[list[str]], numeric_from: int | None = 1, *, key_columns: int | None = None,
           width: int = WIDTH, key_wrap: int = KEY_WRAP) -> str:
    """An aligned text table no wider than ``width`` columns (when its columns allow).

    Parameters
    ----------
    header : list of str
        Column titles; wrapped over several lines (units on the last line).
    rows : list of list of str
        Cells, already formatted.
    numeric_from : int or None
        Columns from this index are right-aligned numbers (never wrapped); None: all text.
    key_columns : int, optional
        Columns repeated in every part when the table is split (default: the text columns
        before ``numeric_from``, at most 2).
    width : int
        The limit; a table wider than it is split into parts, one after the other.
    key_wrap : int
        Text cells longer than this are wrapped onto several lines.

    Returns
    -------
    str
        The table (several tables separated by a blank line when split).
    """
    n = len(header)
    rows = [list(r)[:n] + [""] * (n - len(r)) for r in rows]  # a short row gets empty cells
    numeric = [numeric_from is not None and i >= numeric_from for i in range(n)]
    keys = min(2, numeric_from or 0) if key_columns is None else key_columns
    wraps = [key_wrap if i < keys else TEXT_WRAP for i in range(n)]
    widths, heads, cells = _layout(header, rows, numeric, wraps)
    # narrow the widest free-text columns (not below MIN_TEXT) before splitting the table
    while sum(widths) + len(GAP) * (n - 1) > width:
        free = [i for i in range(keys, n) if not numeric[i] and widths[i] > MIN_TEXT]
        if not free:
            break
        i = max(free, key=lambda j: widths[j])
        wraps[i] = max(MIN_TEXT, widths[i] - (sum(widths) + len(GAP) * (n - 1) - width))
        before = widths[i]
        widths, heads, cells = _layout(header, rows, numeric, wraps)
        if widths[i] >= before:  # a long word or header keeps it wide: stop narrowing
            break
    key_idx = list(range(keys))
    rest = list(range(keys, n))
    key_w = sum(widths[i] for i in key_idx) + len(GAP) * len(key_idx)
    groups: list[list[int]] = []
    for i in rest:
        if groups and key_w + sum(widths[j] + len(GAP) for j in groups[-1]) + widths[i] <= width:
            groups[-1].append(i)
        else:
            groups.append([i])
    if not groups:
        groups = [[]]
    parts = [_render_columns(key_idx + g, widths, heads, cells, numeric, len(rows)) for g in groups]
    return "\n\n".join(parts)


def render_grouped(header: list[str], rows: list[list[str]], groups: int, numeric_from: int | None,
                   joiner: str = " on ", width: int = WIDTH) -> str:
    """One titled table per distinct value of the first ``groups`` columns (in order of first
    appearance), each rendered by :func:`render` without those columns; the title joins their
    values with ``joiner`` (``olofsen_2022 on perez_ruixo_2021``)."""
    blocks = []
    nf = None if numeric_from is None else max(0, numeric_from - groups)
    for key in dict.fromkeys(tuple(r[:groups]) for r in rows):
        sub = [r[groups:] for r in rows if tuple(r[:groups]) == key]
        blocks.append(joiner.join(key) + "\n" + render(header[groups:], sub, nf, width=width))
    return "\n\n".join(blocks)

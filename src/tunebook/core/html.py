"""Small, escaped HTML for notebooks: what ``_repr_html_`` of records and results returns.

Every value is escaped (store text is user text: a round question may hold ``<script>``), so
a Jupyter cell renders it as text, never as markup.

>>> table_html(["a", "b"], [[1, "<x>"]])
'<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td>&lt;x&gt;</td></tr></tbody></table>'
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def number(value: Any, digits: int = 4) -> str:
    """One value as short text for people: floats to ``digits`` significant digits, None as a
    dash, booleans as yes/no (the report's and the dashboard's templates use it too).

    >>> number(0.123456), number(None), number(True), number(3)
    ('0.1235', '–', 'yes', '3')
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if math.isfinite(value) else str(value)
    return str(value)


def cell(value: Any) -> str:
    """One value as escaped text (see :func:`number`)."""
    return html.escape(number(value))


def table_html(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def fields_html(title: str, fields: Mapping[str, Any]) -> str:
    """A title and a two-column table of fields (dicts shown as ``k=v`` lists)."""
    rows = []
    for k, v in fields.items():
        if isinstance(v, Mapping):
            v = ", ".join(f"{a}={b}" for a, b in v.items())
        rows.append(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                    f"<td style='text-align:left'>{cell(v)}</td></tr>")
    return f"<b>{html.escape(title)}</b><table>{''.join(rows)}</table>"

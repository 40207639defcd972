"""HTML pieces of the report: escaping, embedded figures, and tables whose numbers share one
format per column and which scroll (not overflow) when wider than the page."""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__: list[str] = []

#: A text cell longer than this is cut (with "…") and keeps its full text as a tooltip.
MAX_TEXT = 40

# A cell: (value, css class) or (value, css class, tooltip).
Cell = tuple[object, str] | tuple[object, str, str]


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return "—" if math.isnan(value) else f"{float(value):.4g}"
    return str(value)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)


def _number_format(values: Iterable[object]) -> str:
    """One format for a column of numbers: 3 decimals, or 3 significant digits in scientific
    notation when every value is below 0.01 (0.000 would hide them) or one is 10⁵ or more."""
    finite = [abs(x) for x in map(_real, values) if math.isfinite(x)]
    if not finite:
        return ".3f"
    top = max(finite)
    return ".2e" if top >= 1e5 or 0 < top < 1e-2 else ".3f"


def _real(value: object) -> float:
    """``value`` as a float; NaN if it is not a number."""
    return float(value) if _is_real(value) else math.nan  # type: ignore[arg-type]


def _num(value: object, spec: str) -> str:
    """A number in the format ``spec``; "—" if it is missing or not finite."""
    x = _real(value)
    return f"{x:{spec}}" if math.isfinite(x) else "—"


def _format_column(values: Sequence[object]) -> list[str]:
    """A column's cells as text: integers as integers, other numbers in one shared format
    (:func:`_number_format`), anything else as :func:`_fmt` writes it."""
    reals = [v for v in values if _is_real(v)]
    if reals and all(isinstance(v, int | np.integer) for v in reals):
        return [_fmt(v) for v in values]
    spec = _number_format(reals)
    return [_num(v, spec) if _is_real(v) else _fmt(v) for v in values]


def _short(text: str, limit: int = MAX_TEXT) -> Cell:
    """A text cell, cut to ``limit`` characters with the full text as its tooltip."""
    if len(text) <= limit:
        return (text, "")
    return (text[: limit - 1] + "…", "cut", text)


def _figure_html(fig: Figure, name: str, caption: str, *, dpi: int = 100) -> str:
    """``fig`` as a ``<figure>`` with an embedded PNG; ``caption`` is plain text."""
    buf = io.BytesIO()
    # No "Software" text chunk: the page (even inside its images) names no external address.
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (
        f'<figure><img data-figure="{_esc(name)}" alt="{_esc(caption.split(".")[0])}" '
        f'src="data:image/png;base64,{data}"><figcaption>{_esc(caption)}</figcaption></figure>'
    )


def _table(
    header: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    row_classes: Sequence[str] | None = None,
    name: str = "",
) -> str:
    """An HTML table inside a container that scrolls sideways when the table is wider than the
    page; each cell is ``(value, css class[, tooltip])`` and every value is escaped."""
    attr = f' data-table="{_esc(name)}"' if name else ""
    out = [
        f'<div class="table-scroll"><table{attr}><thead><tr>',
        *(f"<th>{_esc(h)}</th>" for h in header),
        "</tr></thead><tbody>",
    ]
    for i, row in enumerate(rows):
        out.append(f'<tr class="{row_classes[i]}">' if row_classes else "<tr>")
        for value, css, *tip in row:
            title = f' title="{_esc(tip[0])}"' if tip else ""
            out.append(f'<td class="{css}"{title}>{_esc(_fmt(value))}</td>')
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _cells(values: Iterable[object]) -> list[Cell]:
    return [(v, "num" if _is_real(v) else "") for v in values]

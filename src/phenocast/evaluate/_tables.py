"""Benchmark tables: Rich for the terminal, Markdown for the README."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._runner import NOISE_CEILING, BenchmarkResult, TaskResult, best_of

if TYPE_CHECKING:  # pragma: no cover
    from rich.table import Table

__all__ = ["Report", "markdown_summary", "rich_tables"]


@dataclass
class Report:
    """A small table printed with Rich and written as Markdown."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""

    def rich(self) -> Table:
        from rich.markup import escape
        from rich.table import Table

        table = Table(
            title=escape(self.title),
            title_justify="left",
            caption=escape(self.caption.replace("`", "")) if self.caption else None,
            caption_justify="left",
        )
        for i, col in enumerate(self.columns):
            table.add_column(escape(col), justify="left" if i < 2 else "right", overflow="fold")
        for row in self.rows:
            table.add_row(*(escape(c) for c in row))
        return table

    def markdown(self) -> str:
        out = [f"**{self.title}**\n", "| " + " | ".join(self.columns) + " |"]
        out.append("|---" * len(self.columns) + "|")
        out += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in self.rows]
        if self.caption:
            out.append(f"\n_{self.caption}_")
        return "\n".join(out) + "\n"


# ------------------------------------------------------------------ helpers


def _fmt(x: float) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:.3f}"


def _rows(result: TaskResult, *, per_fold: bool) -> list[tuple[str, str, list[str], str, str]]:
    """(model, fold, metric cells, fit seconds, note) rows; the noise ceiling comes last."""
    rows = []
    order = [n for n in result.models if n != NOISE_CEILING] + [NOISE_CEILING]
    for name in order:
        r = result.models[name]
        if r.status != "ok":
            rows.append((name, "", ["—"] * len(result.metrics), "", r.note))
            continue
        if per_fold and len(result.folds) > 1:
            for fold in result.folds:
                cells = [_fmt(r.per_fold(m).get(fold, math.nan)) for m in result.metrics]
                fit = r.fit_seconds.get(fold)
                rows.append((name, fold, cells, "" if fit is None else f"{fit:.2f}", ""))
        cells = [_fmt(r.mean(m)) for m in result.metrics]
        fit_total = sum(r.fit_seconds.values())
        rows.append((name, "mean", cells, f"{fit_total:.2f}" if r.fit_seconds else "", r.note))
    return rows


def rich_tables(result: BenchmarkResult, *, per_fold: bool = True) -> list[Table]:
    """One Rich table per task: every metric per fold and mean, with fit time."""
    from rich.markup import escape
    from rich.table import Table

    tables = []
    for tr in result.tasks:
        best = {m: best_of(tr, m) for m in tr.metrics}
        table = Table(
            title=f"{tr.task.name} — {tr.task.description} ({tr.n_conditions} held-out conditions)",
            title_justify="left",
        )
        table.add_column("model")
        table.add_column("fold")
        for m in tr.metrics:
            table.add_column(m, justify="right")
        table.add_column("fit s", justify="right")
        table.add_column("note", overflow="fold", max_width=40)
        for name, fold, cells, fit, note in _rows(tr, per_fold=per_fold):
            styled = [
                f"[bold]{c}[/bold]" if fold == "mean" and name in best[m] else c
                for c, m in zip(cells, tr.metrics, strict=True)
            ]
            style = "dim" if name == NOISE_CEILING else None
            table.add_row(escape(name), fold, *styled, fit, escape(note), style=style)
        tables.append(table)
    return tables


def markdown_summary(result: BenchmarkResult) -> str:
    """Markdown: one table per task with the mean of each metric (best models in bold)."""
    out = []
    for tr in result.tasks:
        best = {m: best_of(tr, m) for m in tr.metrics}
        out.append(f"**{tr.task.name}** — {tr.task.description}, {tr.n_conditions} conditions\n")
        out.append("| model | " + " | ".join(tr.metrics) + " | fit s | note |")
        out.append("|---" * (len(tr.metrics) + 3) + "|")
        for name, _fold, cells, fit, note in _rows(tr, per_fold=False):
            cells = [
                f"**{c}**" if name in best[m] else c for c, m in zip(cells, tr.metrics, strict=True)
            ]
            note = re.sub(r"^[a-z-]+: ", "", note).replace("|", "/")
            out.append(f"| {name} | " + " | ".join(cells) + f" | {fit} | {note} |")
        out.append("")
    return "\n".join(out)

"""``phenocast datasets``: the datasets phenocast can load and whether they are present."""

from __future__ import annotations

from ._util import DataDir, console


def datasets(data_dir: DataDir = None) -> None:
    """List the datasets phenocast can load, their provenance and whether they are present."""
    from rich.table import Table

    from ..data import data_dir as resolve
    from ..data import list_datasets

    frame = list_datasets(data_dir=data_dir)
    table = Table(title=f"Datasets in {resolve(data_dir)}", title_justify="left")
    for col in ("name", "kind", "present", "description", "source", "licence"):
        table.add_column(col, overflow="fold")
    for _, row in frame.iterrows():
        present = "[green]yes[/green]" if row["present"] else "[red]missing[/red]"
        table.add_row(
            row["name"], row["kind"], present, row["description"], row["source"], row["licence"]
        )
    console().print(table)

"""Printing results: rich tables for people, JSON or YAML for programs.

rich and yaml are imported only when a command prints in their format, to keep start-up fast.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping, Sequence
from typing import Any

import click

__all__ = ["emit", "jsonable", "print_table"]


def jsonable(value: Any) -> Any:
    """Turn dataclasses, enums, mappings and sequences into plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def emit(data: Any, output: str, table: Any = None) -> None:
    """Print `data` as JSON or YAML, or for `table` call `table()` (a function printing one),
    falling back to JSON when a command has no table view."""
    if output == "yaml":
        import yaml

        click.echo(yaml.safe_dump(jsonable(data), sort_keys=False).rstrip())
    elif output == "json" or table is None:
        click.echo(json.dumps(jsonable(data), indent=2))
    else:
        table()


def print_table(title: str | None, columns: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> None:
    """Print one rich table with `columns` and `rows` (cells are turned into text)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=None, header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    Console(soft_wrap=True).print(table)

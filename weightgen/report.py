"""Everything weightgen shows: the rich summary, JSON Lines, errors and progress.

All human output goes to stderr, so stdout stays free for data. A summary is described
once, as lines of styled text and borderless grids (:func:`summary_parts`,
:func:`batch_parts`); on a terminal one rich console prints it (honouring ``NO_COLOR``),
elsewhere the same layout is written as plain text without importing rich.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

_CONSOLE: Any = None


def console() -> Any:
    """The one stderr console (created on first use: importing rich costs start-up time)."""
    global _CONSOLE
    if _CONSOLE is None:
        from rich.console import Console

        _CONSOLE = Console(stderr=True, highlight=False)
    return _CONSOLE


def number(value: Any) -> str:
    """A number for the table: 6 significant digits, '-' when not defined."""
    if value is None:
        return "-"
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{value:.6g}"


def _params_text(params: Mapping[str, Any]) -> str:
    shown = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value) if value else "()"
        elif isinstance(value, float):
            value = number(value)
        shown.append(f"{key}={value}")
    return ", ".join(shown)


def json_line(record: Mapping[str, Any], stream: IO[str]) -> None:
    """One JSON object on one line (JSON Lines); non-finite numbers become null."""
    import json

    stream.write(json.dumps(_finite(record), separators=(", ", ": ")) + "\n")
    stream.flush()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


Span = tuple[str, str]
"""A piece of a line of text and its rich style ("" for none)."""


@dataclass(frozen=True)
class Grid:
    """A table without borders: a header row, then rows; ``justify`` is left/right per column."""

    headers: tuple[str, ...]
    rows: list[tuple[str, ...]]
    justify: tuple[str, ...]
    #: The rich style of each column's cells ("" for none).
    styles: tuple[str, ...] = ()


#: What a summary is made of: lines of styled spans, and grids.
Part = list[Span] | Grid

#: Spaces between two columns of a grid (rich's padding of 2 on either side).
GUTTER = 4


def summary_parts(record: Mapping[str, Any]) -> list[Part]:
    """The human summary of one generated tensor (from its JSON record)."""
    expected = record.get("expected") or {}
    title: list[Span] = [(str(record["name"]), "bold"), ("  ", ""), (str(record["initializer"]), "cyan")]
    params = _params_text(record.get("params", {}))
    if params:
        title.append((f"({params})", ""))
    parts: list[Part] = [title]
    resolved = _params_text(record.get("resolved", {}))
    if resolved:
        parts.append([("resolved: " + resolved, "")])
    if "fan_in" in record:
        parts.append([(f"fans: in={number(record['fan_in'])} out={number(record['fan_out'])} "
                       f"(layout {record.get('layout')})", "")])
    stream = f"  rng {record['rng']}" if record.get("rng", "weightgen") != "weightgen" else ""
    parts.append([(f"shape {shape_text(record['shape'])}  {record['dtype']}  seed {record['seed']}{stream}", "")])
    if record.get("distribution"):
        parts.append([(f"expected: {record['distribution']}", "")])
    rows = [(key, number(record.get(key)), number(expected.get(key))) for key in ("mean", "std", "min", "max")]
    parts.append(Grid(("", "empirical", "expected"), rows, ("left", "right", "right"), ("bold", "", "")))
    footer = ""
    where = record.get("output")
    if where:
        footer += f"wrote {'stdout' if where == '-' else where} ({record.get('format')}) "
    footer += f"in {record.get('seconds', 0):.3f} s"
    parts.append([(footer, "dim")])
    return parts


def batch_parts(records: list[Mapping[str, Any]], output: str | None, format_name: str | None,
                seed: int, seconds: float) -> list[Part]:
    """The human summary of a batch: one row per tensor, then where it went."""
    rows = []
    for record in records:
        expected = record.get("expected") or {}
        rows.append((str(record["name"]), str(record["initializer"]), shape_text(record["shape"]),
                     str(record["dtype"]), number(record.get("mean")), number(record.get("std")),
                     number(expected.get("std")), number(record.get("min")), number(record.get("max"))))
    grid = Grid(("name", "initializer", "shape", "dtype", "mean", "std", "expected std", "min", "max"), rows,
                ("left", "left", "left", "left", "right", "right", "right", "right", "right"),
                ("bold", "cyan", "", "", "", "", "", "", ""))
    count = f"{len(records)} tensor{'s' if len(records) != 1 else ''}"
    where = f"wrote {count} to {'stdout' if output == '-' else output} ({format_name})" if output else count
    footer = f"{where}, seeds derived from master seed {seed}, in {seconds:.3f} s"
    return [grid, [(footer, "dim")]]


def shape_text(shape: Any) -> str:
    return "x".join(str(d) for d in shape) or "scalar"


def plain_text(parts: list[Part]) -> str:
    """The parts as plain text, laid out as rich lays them out on a wide enough console."""
    lines: list[str] = []
    for part in parts:
        if isinstance(part, Grid):
            lines.extend(_grid_lines(part))
        else:
            lines.append("".join(text for text, _ in part).rstrip())
    return "\n".join(lines) + "\n"


def _grid_lines(grid: Grid) -> list[str]:
    table = [grid.headers, *grid.rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(grid.headers))]
    lines = []
    for row in table:
        cells = [cell.rjust(width) if how == "right" else cell.ljust(width)
                 for cell, width, how in zip(row, widths, grid.justify)]
        lines.append((" " * GUTTER).join(cells).rstrip())
    return lines


def rich_renderable(parts: list[Part]) -> Any:
    """The parts as one rich renderable (styled lines and borderless tables)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    items: list[Any] = []
    for part in parts:
        if isinstance(part, Grid):
            table = Table(show_edge=False, box=None, pad_edge=False, padding=(0, GUTTER // 2))
            styles = part.styles or ("",) * len(part.headers)
            for header, how, style in zip(part.headers, part.justify, styles):
                table.add_column(header, justify=how, style=style or None)
            for row in part.rows:
                table.add_row(*row)
            items.append(table)
        else:
            text = Text()
            for piece, style in part:
                text.append(piece, style=style or None)
            items.append(text)
    return Group(*items)


def show(parts: list[Part]) -> None:
    """Print a summary on stderr: through rich on a terminal; else as the same plain text.

    Off a terminal rich would print no colours or styles anyway, and importing it costs a
    shell loop more than generating a small tensor does, so plain text is written directly.
    """
    if _rich_wanted():
        console().print(rich_renderable(parts))
    else:
        sys.stderr.write(plain_text(parts))
        sys.stderr.flush()


def _rich_wanted() -> bool:
    """Whether stderr is a terminal, or colour is forced as rich understands it."""
    import os

    if os.environ.get("FORCE_COLOR") or os.environ.get("TTY_COMPATIBLE") == "1":
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def show_batch(records: list[Mapping[str, Any]], *, output: str | None, format_name: str | None, seed: int,
               seconds: float, as_json: bool) -> None:
    """Print a batch's summary: one JSON line per tensor (on stderr when stdout carries
    data), or one table with a row per tensor."""
    if as_json:
        from weightgen.formats import is_stdout

        stream = sys.stderr if is_stdout(output) else sys.stdout
        for record in records:
            json_line(record, stream)
    else:
        show(batch_parts(records, output, format_name, seed, seconds))


def show_summary(record: Mapping[str, Any], *, as_json: bool, stdout_has_data: bool) -> None:
    """Print one tensor's summary: JSON on stdout (stderr if stdout carries data), else the table."""
    if as_json:
        json_line(record, sys.stderr if stdout_has_data else sys.stdout)
    else:
        show(summary_parts(record))


def error(message: str) -> None:
    """One line on stderr (line breaks in a message from other code become spaces)."""
    from weightgen.errors import one_line

    sys.stderr.write(f"Error: {one_line(message)}\n")
    sys.stderr.flush()


def warning(message: str) -> None:
    """One line on stderr, for what went wrong but did not stop the command."""
    from weightgen.errors import one_line

    sys.stderr.write(f"Warning: {one_line(message)}\n")
    sys.stderr.flush()


class Advance:
    """What :func:`progress` yields: ``advance(n)`` counts ``n`` more bytes done (from any
    thread); ``advance.describe(text)`` renames the task (the batch's current tensor)."""

    def __call__(self, count: int) -> None:
        """Nothing to show."""

    def describe(self, text: str) -> None:
        """Nothing to show."""


class _Bar(Advance):
    def __init__(self, total: int, description: str, delay: float) -> None:
        from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                                   TransferSpeedColumn)

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                             TransferSpeedColumn(), TimeRemainingColumn(), console=console(),
                             transient=True, redirect_stdout=False, redirect_stderr=False)
        self._task = self._bar.add_task(description, total=total)
        self._started = time.monotonic()
        self._delay = delay
        self._lock = threading.Lock()
        self.shown = False

    def __call__(self, count: int) -> None:
        with self._lock:
            self._bar.advance(self._task, count)
            if not self.shown and time.monotonic() - self._started >= self._delay:
                self.shown = True
                self._bar.start()

    def describe(self, text: str) -> None:
        with self._lock:
            self._bar.update(self._task, description=text)

    def stop(self) -> None:
        if self.shown:
            self._bar.stop()


#: Seconds of work before a progress bar appears (shorter work shows none).
PROGRESS_DELAY = 1.0


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


@contextmanager
def progress(total: int, description: str, enabled: bool, delay: float | None = None
             ) -> Iterator[Advance]:
    """An :class:`Advance` callback (bytes done); a rich progress bar (bytes, rate, time left)
    appears on stderr only when it is a terminal, after ``delay`` seconds (default
    :data:`PROGRESS_DELAY`), and goes away when the work is done."""
    if not enabled or total <= 0 or not _stderr_is_terminal():
        yield Advance()
        return
    bar = _Bar(total, description, PROGRESS_DELAY if delay is None else delay)
    try:
        yield bar
    finally:
        bar.stop()

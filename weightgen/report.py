"""Everything weightgen shows: the rich summary, JSON Lines, errors and progress.

All human output goes through one rich console on stderr, so stdout stays free for data;
rich already honours ``NO_COLOR`` and plain output when stderr is not a terminal.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
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


def summary_table(record: Mapping[str, Any]) -> Any:
    """The human summary of one generated tensor (from its JSON record)."""
    from rich.table import Table
    from rich.text import Text

    expected = record.get("expected") or {}
    title = Text()
    title.append(str(record["name"]), style="bold")
    title.append("  ")
    title.append(str(record["initializer"]), style="cyan")
    params = _params_text(record.get("params", {}))
    if params:
        title.append(f"({params})")
    resolved = _params_text(record.get("resolved", {}))
    lines = [title]
    if resolved:
        lines.append(Text("resolved: " + resolved))
    if "fan_in" in record:
        lines.append(Text(f"fans: in={number(record['fan_in'])} out={number(record['fan_out'])} "
                          f"(layout {record.get('layout')})"))
    shape = "x".join(str(d) for d in record["shape"]) or "scalar"
    lines.append(Text(f"shape {shape}  {record['dtype']}  seed {record['seed']}"))
    if record.get("distribution"):
        lines.append(Text(f"expected: {record['distribution']}"))

    table = Table(show_edge=False, box=None, pad_edge=False, padding=(0, 2))
    table.add_column("", style="bold")
    table.add_column("empirical", justify="right")
    table.add_column("expected", justify="right")
    for key in ("mean", "std", "min", "max"):
        table.add_row(key, number(record.get(key)), number(expected.get(key)))

    from rich.console import Group

    footer = Text(style="dim")
    where = record.get("output")
    if where:
        footer.append(f"wrote {'stdout' if where == '-' else where} ({record.get('format')}) ")
    footer.append(f"in {record.get('seconds', 0):.3f} s")
    return Group(*lines, table, footer)


def show_summary(record: Mapping[str, Any], *, as_json: bool, stdout_has_data: bool) -> None:
    """Print one tensor's summary: JSON on stdout (stderr if stdout carries data), else the table."""
    if as_json:
        json_line(record, sys.stderr if stdout_has_data else sys.stdout)
    else:
        console().print(summary_table(record))


def error(message: str) -> None:
    """One line on stderr."""
    sys.stderr.write(f"Error: {message}\n")
    sys.stderr.flush()


def warning(message: str) -> None:
    """One line on stderr, for what went wrong but did not stop the command."""
    sys.stderr.write(f"Warning: {message}\n")
    sys.stderr.flush()


@contextmanager
def progress(total: int, description: str, enabled: bool, delay: float = 1.0
             ) -> Iterator[Callable[[int], None]]:
    """A callback ``advance(n)``; a rich progress bar appears only on a TTY after ``delay`` s."""
    if not enabled or total <= 0 or not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn(), TimeRemainingColumn(), console=console(),
                   transient=True, redirect_stdout=False, redirect_stderr=False)
    task = bar.add_task(description, total=total)
    started = time.monotonic()
    lock = threading.Lock()
    shown = False

    def advance(n: int) -> None:
        nonlocal shown
        with lock:
            bar.advance(task, n)
            if not shown and time.monotonic() - started >= delay:
                shown = True
                bar.start()

    try:
        yield advance
    finally:
        if shown:
            bar.stop()

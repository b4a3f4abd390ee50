"""What ``weightgen inspect`` shows: per entry, its statistics beside the expected ones,
the verdict, and a histogram drawn in unicode blocks with the expected counts overlaid.

Everything goes through the one stderr console of :mod:`weightgen.report` (so colours
obey ``NO_COLOR`` and a non-TTY gets plain text); ``--json`` records go to stdout, one
line per entry.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from weightgen.report import _params_text, console, json_line, number

#: Cells of the longest histogram bar.
BAR_WIDTH = 40
#: A bar's last cell, by eighths.
EIGHTHS = ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")
#: Where the expected count ends, drawn over the bar.
MARKER = "│"


def show(report: Any, *, as_json: bool) -> None:
    """One entry: a JSON line on stdout, or the human view on stderr."""
    if as_json:
        json_line(report.as_dict(), sys.stdout)
    else:
        console().print(entry_view(report.as_dict()))


def entry_view(record: Mapping[str, Any]) -> Any:
    """The human view of one ``inspect`` record."""
    from rich.console import Group
    from rich.text import Text

    title = Text()
    if record["name"] is not None:
        title.append(str(record["name"]), style="bold")
        where = "stdin" if record["file"] == "-" else record["file"]
        title.append(f"  in {where} ({record['format']})", style="dim")
    else:
        title.append("stdin" if record["file"] == "-" else str(record["file"]), style="bold")
        title.append(f"  ({record['format']})", style="dim")
    shape = "x".join(str(d) for d in record["shape"]) or "scalar"
    parts: list[Any] = [title, Text(f"shape {shape}  {record['dtype']}  {record['count']:,} values")]
    if record["skipped"]:
        parts.append(Text(f"skipped: {record['skipped']}", style="yellow"))
        return Group(*parts, Text())
    provenance = record["provenance"]
    if provenance:
        parts.append(Text("provenance: " + provenance_text(provenance), style="dim"))
    check = record["check"]
    parts.append(statistics_table(record, check))
    if check is not None:
        parts.append(verdict_text(check))
    elif record["note"]:
        parts.append(Text(f"no check: {record['note']}", style="dim"))
    if record["histogram"] is not None:
        parts.extend(histogram_lines(record["histogram"], check["initializer"] if check else None))
    return Group(*parts, Text())


def provenance_text(provenance: Mapping[str, Any]) -> str:
    """``he_normal(...) seed 7, weightgen 0.1.0 stream 1``."""
    params = _params_text(provenance.get("params") or {})
    text = f"{provenance.get('initializer')}" + (f"({params})" if params else "")
    if provenance.get("seed") is not None:
        text += f" seed {provenance['seed']}"
    versions = [f"{label} {provenance[key]}" for key, label in (("weightgen_version", "weightgen"),
                                                               ("stream_version", "stream"))
                if provenance.get(key) is not None]
    return text + (f", {' '.join(versions)}" if versions else "")


def statistics_table(record: Mapping[str, Any], check: Mapping[str, Any] | None) -> Any:
    from rich.table import Table

    expected = (check or {}).get("expected") or {}
    table = Table(show_edge=False, box=None, pad_edge=False, padding=(0, 2))
    table.add_column("", style="bold")
    table.add_column("empirical", justify="right")
    if check is not None:
        table.add_column("expected", justify="right")
    for key in ("mean", "std", "min", "max"):
        row = [key, number(record[key])]
        if check is not None:
            row.append(number(expected.get(key)))
        table.add_row(*row)
    for key, label in (("zeros", "zeros"), ("nonfinite", "non-finite")):
        share = record[key]
        row = [label, "-" if share is None else f"{share:.2%}"]
        if check is not None:
            row.append("")
        table.add_row(*row)
    return table


def verdict_text(check: Mapping[str, Any]) -> Any:
    """``check PASS  he_normal [provenance]`` and, below, what the verdict rests on."""
    from rich.text import Text

    params = _params_text(check.get("params") or {})
    text = Text("check ")
    text.append("PASS" if check["pass"] else "FAIL", style="bold green" if check["pass"] else "bold red")
    text.append("  ")
    text.append(check["initializer"], style="cyan")
    if params:
        text.append(f"({params})")
    text.append(f" [{check['source']}]")
    method, details = check["method"], []
    if method == "ks" and check["p_value"] is not None:
        details.append(f"KS D={check['ks_statistic']:.4g} p={check['p_value']:.3g} on {check['sample']:,} values")
    bounded = any((check.get("expected") or {}).get(key) is not None for key in ("min", "max"))
    if method in ("ks", "bounds") and bounded:
        details.append(f"{check['outside_bounds']:,} beyond bounds")
    if method == "exact":
        details.append(f"{check['mismatches']:,} values differ")
    if details:
        text.append("\n  " + "; ".join(details), style="dim")
    if check["reason"]:
        text.append(f"\n  {check['reason']}", style="dim" if check["pass"] else "red")
    return text


def histogram_lines(histogram: Mapping[str, Any], initializer: str | None) -> list[Any]:
    """One line per bin: its lower edge, a bar of unicode blocks, the count; the expected count as a marker.

    Three or more bins in a row that hold nothing and expect nothing become one ``⋮``.
    """
    from rich.text import Text

    edges: Sequence[float] = histogram["edges"]
    counts: Sequence[int] = histogram["counts"]
    expected: Sequence[float] | None = histogram["expected"]
    scale = max([*counts, *(expected or [])]) or 1
    labels = [f"{edge:.4g}" for edge in edges]
    width = max(len(label) for label in labels)
    legend = Text("histogram", style="dim")
    if expected is not None:
        legend.append(f"  ({MARKER} {initializer} expects)", style="dim")
    lines = [legend]
    empty = [count == 0 and (expected is None or expected[k] < 0.5) for k, count in enumerate(counts)]
    k = 0
    while k < len(counts):
        run = k
        while run < len(counts) and empty[run]:
            run += 1
        if run - k >= 3:
            lines.append(Text(f"{'⋮':>{width}}", style="dim"))
            k = run
            continue
        lines.append(_bar(labels[k], width, counts[k], expected[k] if expected is not None else None, scale))
        k += 1
    if edges[-1] != edges[0]:
        lines.append(Text(f"{labels[-1]:>{width}}"))
    return lines


def _bar(label: str, width: int, count: int, expected: float | None, scale: float) -> Any:
    from rich.text import Text

    eighths = round(count / scale * BAR_WIDTH * 8)
    cells = ["█"] * (eighths // 8) + ([EIGHTHS[eighths % 8]] if eighths % 8 else [])
    cells += [" "] * (BAR_WIDTH - len(cells))
    line = Text(f"{label:>{width}} ")
    if expected:
        marker = min(BAR_WIDTH - 1, int(expected / scale * BAR_WIDTH))
        line.append("".join(cells[:marker]), style="cyan")
        line.append(MARKER, style="bold yellow")
        line.append("".join(cells[marker + 1:]), style="cyan")
    else:
        line.append("".join(cells), style="cyan")
    line.append(f" {count:,}")
    return line


def show_empty(path: str) -> None:
    """A file that holds no entry at all."""
    console().print(f"{'stdin' if path == '-' else path}: no entries", style="dim")


def show_totals(reports: Sequence[Any]) -> None:
    """A closing line when several entries were checked."""
    checked = [r for r in reports if r.check is not None]
    if len(checked) < 2:
        return
    failed = sum(1 for r in checked if r.failed)
    console().print(f"checked {len(checked)} entries: {len(checked) - failed} passed, {failed} failed",
                    style="bold red" if failed else "bold green")


def failure_message(reports: Sequence[Any]) -> str | None:
    """The one line a failed ``inspect`` ends with, or None when every check passed."""
    failed = [r for r in reports if r.failed]
    if not failed:
        return None
    checked = sum(1 for r in reports if r.check is not None)
    first = failed[0]
    where = "stdin" if first.file == "-" else first.file
    where = where if first.name is None else f"{where}: {first.name}"
    return (f"{len(failed)} of {checked} entries failed the check against their initializer "
            f"({where}: {first.check.reason}).")

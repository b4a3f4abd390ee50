"""``weightgen list``: the registry as a table or JSON Lines (and as Markdown for the README)."""

from __future__ import annotations

import sys
from typing import Any

from weightgen.registry import InitializerSpec, registry


def param_text(spec: InitializerSpec) -> str:
    """``scale=1.0 mode=fan_in|fan_out|fan_avg ...``: the params on one line."""
    parts = []
    for param in spec.params:
        if param.kind == "choice":
            choices = "|".join(param.choices)
            parts.append(f"{param.name}={param.describe_default()} ({choices})")
        else:
            parts.append(f"{param.name}={param.describe_default()}")
    return " ".join(parts)


def record(spec: InitializerSpec) -> dict[str, Any]:
    """One initializer as a JSON-ready object."""
    return {
        "name": spec.name,
        "family": spec.family,
        "aliases": [a for a in spec.aliases if not a.startswith(f"{spec.family}.")],
        "summary": spec.summary,
        "params": [
            {"name": p.name, "option": p.option, "kind": p.kind,
             "default": None if p.required else (list(p.default) if isinstance(p.default, tuple) else p.default),
             "choices": list(p.choices) or None, "help": p.help}
            for p in spec.params
        ],
        "uses_fans": spec.uses_fans,
        "layout": spec.layout if spec.uses_fans else None,
        "dtypes": list(spec.dtypes),
        "deterministic": spec.deterministic,
        "reference": spec.reference,
        "rngs": list(spec.rngs),
    }


def specs(family: str | None = None) -> list[InitializerSpec]:
    return [s for s in registry() if family is None or s.family == family]


def show(family: str | None = None, as_json: bool = False) -> None:
    """Print every initializer, one line (or one JSON object) each."""
    chosen = specs(family)
    if as_json:
        from weightgen.report import json_line

        for spec in chosen:
            json_line(record(spec), sys.stdout)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_edge=False, padding=(0, 2))
    for column in ("name", "family", "params", "summary"):
        table.add_column(column, overflow="fold")
    for spec in chosen:
        table.add_row(spec.name, spec.family, param_text(spec) or "-", spec.summary)
    Console(highlight=False).print(table)


def markdown_table(family: str | None = None) -> str:
    """The README's table of initializers, generated from the registry."""
    lines = ["| initializer | family | parameters (defaults) | summary |",
             "| --- | --- | --- | --- |"]
    for spec in specs(family):
        params = ", ".join(f"`{p.name}={p.describe_default()}`" for p in spec.params) or "-"
        lines.append(f"| `{spec.name}` | {spec.family} | {params} | {spec.summary} |")
    return "\n".join(lines)

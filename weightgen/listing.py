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
        "origin": spec.origin,
    }


def specs(family: str | None = None, builtin_only: bool = False) -> list[InitializerSpec]:
    return [s for s in registry() if (family is None or s.family == family)
            and (not builtin_only or s.origin == "builtin")]


def show(family: str | None = None, as_json: bool = False) -> None:
    """Print every initializer, one line (or one JSON object) each; plugin problems on stderr.

    On a terminal, a table whose columns wrap; elsewhere, tab-separated lines that never do."""
    from weightgen.report import warning

    for problem in registry().problems:
        warning(problem)
    chosen = specs(family)
    if as_json:
        from weightgen.report import json_line

        for spec in chosen:
            json_line(record(spec), sys.stdout)
        return
    if not sys.stdout.isatty():  # for grep, cut and awk: one whole line each, tab-separated
        for spec in chosen:
            sys.stdout.write(f"{spec.name}\t{spec.family}\t{param_text(spec) or '-'}\t{spec.summary}\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_edge=False, padding=(0, 2))
    table.add_column("name", no_wrap=True)  # names stay whole, for grep and copy
    for column in ("family", "params", "summary"):
        table.add_column(column, overflow="fold")
    for spec in chosen:
        table.add_row(spec.name, spec.family, param_text(spec) or "-", spec.summary)
    Console(highlight=False).print(table)


def markdown_table(family: str | None = None) -> str:
    """The README's table of initializers, generated from the registry (built-ins only)."""
    lines = ["| initializer | family | parameters (defaults) | summary |",
             "| --- | --- | --- | --- |"]
    for spec in specs(family, builtin_only=True):
        params = ", ".join(f"`{p.name}={p.describe_default()}`" for p in spec.params) or "-"
        lines.append(f"| `{spec.name}` | {spec.family} | {params} | {spec.summary} |")
    return "\n".join(lines)


#: The same initializer across the families: (what it is, {family: name}, where they differ).
EQUIVALENTS: tuple[tuple[str, dict[str, str], str], ...] = (
    ("zeros", {"keras": "zeros", "torch": "torch.zeros", "jax": "jax.zeros"}, ""),
    ("ones", {"keras": "ones", "torch": "torch.ones", "jax": "jax.ones"}, ""),
    ("constant", {"keras": "constant", "torch": "torch.constant", "jax": "jax.constant"},
     "torch and jax have no default value"),
    ("uniform", {"keras": "random_uniform", "torch": "torch.uniform", "jax": "jax.uniform"},
     "keras [minval, maxval), torch [a, b), jax [0, scale)"),
    ("normal", {"keras": "random_normal", "torch": "torch.normal", "jax": "jax.normal"},
     "untruncated in all three; jax's has mean 0"),
    ("truncated normal", {"keras": "truncated_normal", "torch": "torch.trunc_normal",
                          "jax": "jax.truncated_normal"},
     "bounds: keras mean ± 2·stddev, torch absolute a and b, jax lower and upper in stddevs"),
    ("variance scaling", {"keras": "variance_scaling", "jax": "jax.variance_scaling"},
     "jax requires scale, mode and distribution (weightgen defaults them as keras does), adds "
     "fan_geo_avg, and its normal is untruncated (keras's untruncated_normal); keras divides "
     "by max(1, n)"),
    ("Glorot / Xavier uniform", {"keras": "glorot_uniform", "torch": "torch.xavier_uniform",
                                 "jax": "jax.glorot_uniform"}, "torch multiplies the bound by gain"),
    ("Glorot / Xavier normal", {"keras": "glorot_normal", "torch": "torch.xavier_normal",
                                "jax": "jax.glorot_normal"},
     "keras and jax truncate at ±2σ (variance kept), torch does not"),
    ("He / Kaiming uniform", {"keras": "he_uniform", "torch": "torch.kaiming_uniform",
                              "jax": "jax.he_uniform"},
     "torch: gain from nonlinearity and a (default leaky_relu, a=0: √2), fan by mode"),
    ("He / Kaiming normal", {"keras": "he_normal", "torch": "torch.kaiming_normal",
                             "jax": "jax.he_normal"},
     "keras and jax truncate at ±2σ (variance kept), torch does not"),
    ("LeCun uniform", {"keras": "lecun_uniform", "jax": "jax.lecun_uniform"},
     "torch: kaiming_uniform with nonlinearity=linear"),
    ("LeCun normal", {"keras": "lecun_normal", "jax": "jax.lecun_normal"},
     "torch's kaiming_normal with nonlinearity=linear is the untruncated one"),
    ("orthogonal", {"keras": "orthogonal", "torch": "torch.orthogonal", "jax": "jax.orthogonal"},
     "orthonormal along keras's last axis, torch's dim 0, jax's column_axis; gain or scale"),
    ("identity", {"keras": "identity", "torch": "torch.eye"}, "keras multiplies by gain"),
    ("dirac / delta", {"torch": "torch.dirac", "jax": "jax.delta_orthogonal"},
     "torch: ones at the centre k//2 of (out, in, *k); jax: an orthogonal (in, out) matrix "
     "at the centre (k-1)//2 of (*k, in, out)"),
    ("sparse", {"torch": "torch.sparse"}, ""),
    ("layer default", {"torch": "torch.linear_default"},
     "nn.Linear and nn.ConvNd weights: U(±1/√fan_in)"),
    ("STFT kernel", {"keras": "stft"}, ""),
)

CROSSCHECK_FAMILIES = ("keras", "torch", "jax")


def crosscheck_table() -> str:
    """The README's initializer × family table, names and parameters read from the registry."""
    lines = ["| initializer | Keras | PyTorch | JAX | where they differ |",
             "| --- | --- | --- | --- | --- |"]
    for concept, names, note in EQUIVALENTS:
        cells = []
        for family in CROSSCHECK_FAMILIES:
            name = names.get(family)
            if name is None:
                cells.append("-")
                continue
            spec = registry().get(name)
            params = ", ".join(f"{p.name}={p.describe_default()}" for p in spec.params)
            cells.append(f"`{spec.name}`" + (f" ({params})" if params else ""))
        lines.append(f"| {concept} | {' | '.join(cells)} | {note or '-'} |")
    return "\n".join(lines)

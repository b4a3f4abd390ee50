"""Initializer specs, one module per framework family (plus custom initializers)."""

from __future__ import annotations

from weightgen.registry import InitializerSpec


def builtin_specs() -> list[InitializerSpec]:
    """Every built-in spec, family by family."""
    from weightgen.families import custom, jax, keras, torch

    return [*keras.SPECS, *torch.SPECS, *jax.SPECS, *custom.SPECS]

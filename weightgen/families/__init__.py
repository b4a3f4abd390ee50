"""Initializer specs, one module per framework family."""

from __future__ import annotations

from weightgen.registry import InitializerSpec


def builtin_specs() -> list[InitializerSpec]:
    """Every built-in spec, family by family."""
    from weightgen.families import keras

    return [*keras.SPECS]

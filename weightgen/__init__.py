"""weightgen: neural-network initial weights, reproducibly, from Keras, PyTorch and JAX definitions.

>>> import weightgen
>>> result = weightgen.generate("glorot_uniform", (256, 128), seed=0)
>>> result.array.dtype
dtype('float32')
>>> weightgen.inspect("w.npy", expect="glorot_uniform")[0].check.passed   # doctest: +SKIP
True

Importing this package imports no numpy, nor the generation machinery: ``generate`` and
the other names of :data:`_LAZY` are loaded on first use (PEP 562), so ``weightgen
--version`` and shell completion, which import ``weightgen.cli`` and hence this package,
pay for none of them. (``registry`` is bound eagerly: it shares its name with the
``weightgen.registry`` module, which would otherwise shadow it once imported.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from weightgen._version import __version__
from weightgen.errors import (
    CheckFailedError,
    DtypeError,
    ExitCode,
    InitializerError,
    InputError,
    OutputError,
    ParameterError,
    ShapeError,
    SpecError,
    TooLargeError,
    UnknownInitializerError,
    UsageError,
    WeightgenError,
)
from weightgen.registry import InitializerSpec, registry

if TYPE_CHECKING:
    from weightgen.batch import BatchResult, generate_batch
    from weightgen.generation import Request, Result, generate
    from weightgen.inspection import EntryReport, inspect

#: Public name -> the module that defines it, imported when the name is first used.
_LAZY = {
    "generate": "weightgen.generation",
    "Request": "weightgen.generation",
    "Result": "weightgen.generation",
    "generate_batch": "weightgen.batch",
    "BatchResult": "weightgen.batch",
    "inspect": "weightgen.inspection",
    "EntryReport": "weightgen.inspection",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'weightgen' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "__version__",
    "generate",
    "generate_batch",
    "BatchResult",
    "inspect",
    "EntryReport",
    "registry",
    "InitializerSpec",
    "Request",
    "Result",
    "WeightgenError",
    "UsageError",
    "UnknownInitializerError",
    "ParameterError",
    "ShapeError",
    "SpecError",
    "DtypeError",
    "OutputError",
    "InputError",
    "CheckFailedError",
    "InitializerError",
    "TooLargeError",
    "ExitCode",
]

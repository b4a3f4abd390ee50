"""weightgen: neural-network initial weights, reproducibly, from Keras, PyTorch and JAX definitions.

>>> import weightgen
>>> result = weightgen.generate("glorot_uniform", (256, 128), seed=0)
>>> result.array.dtype
dtype('float32')
>>> weightgen.inspect("w.npy", expect="glorot_uniform")[0].check.passed   # doctest: +SKIP
True

Importing this package imports no numpy; generating does.
"""

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
    TooLargeError,
    UnknownInitializerError,
    UsageError,
    WeightgenError,
)
from weightgen.generation import Request, Result, generate
from weightgen.inspection import EntryReport, inspect
from weightgen.registry import InitializerSpec, registry

__all__ = [
    "__version__",
    "generate",
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
    "DtypeError",
    "OutputError",
    "InputError",
    "CheckFailedError",
    "InitializerError",
    "TooLargeError",
    "ExitCode",
]

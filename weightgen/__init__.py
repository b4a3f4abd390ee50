"""weightgen: neural-network initial weights, reproducibly, from Keras, PyTorch and JAX definitions.

>>> import weightgen
>>> result = weightgen.generate("glorot_uniform", (256, 128), seed=0)
>>> result.array.dtype
dtype('float32')

Importing this package imports no numpy; generating does.
"""

from weightgen._version import __version__
from weightgen.errors import (
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
from weightgen.registry import InitializerSpec, registry

__all__ = [
    "__version__",
    "generate",
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
    "InitializerError",
    "TooLargeError",
    "ExitCode",
]

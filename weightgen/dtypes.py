"""The dtypes weightgen writes, and how each is sampled.

Names and categories are plain strings so the CLI and the registry need no numpy.
Random values are drawn in a *work* dtype (float32 for float32 and narrower, float64 for
float64) and cast once; :func:`inward` gives bounds rounded into the target dtype so a
truncated or half-open distribution keeps its bounds after the cast.
"""

from __future__ import annotations

from typing import Any

FLOATS = ("float32", "float16", "bfloat16", "float64")
INTEGERS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
COMPLEX = ("complex64", "complex128")
ALL = FLOATS + INTEGERS + COMPLEX

_ALIASES = {"half": "float16", "float": "float32", "single": "float32", "double": "float64",
            "bf16": "bfloat16", "fp16": "float16", "fp32": "float32", "fp64": "float64"}


def canonical(name: Any) -> str | None:
    """The canonical dtype name, or None when unknown.

    Names and their aliases (``half``, ``bf16``, ``float`` and ``single`` for float32 as in
    PyTorch, ``double``) need no numpy; anything else numpy reads as a dtype does too
    (``np.float32``, ``np.dtype("f4")``, ``"<f4"``, ``ml_dtypes.bfloat16``, Python's
    ``float``, which numpy takes for float64).
    """
    if name is None:  # numpy would read None as float64
        return None
    if isinstance(name, str):
        text = name.strip().lower()
        text = _ALIASES.get(text, text)
        if text in ALL:
            return text
    import numpy as np

    try:
        dtype = np.dtype(name)
    except (TypeError, ValueError, SyntaxError, DeprecationWarning):
        return None
    if dtype.byteorder == ">" or dtype.name not in ALL:  # weightgen writes little-endian data
        return None
    return dtype.name


def is_float(name: str) -> bool:
    return name in FLOATS


def is_integer(name: str) -> bool:
    return name in INTEGERS


def is_complex(name: str) -> bool:
    return name in COMPLEX


def numpy_dtype(name: str) -> Any:
    """The numpy dtype object (bfloat16 comes from ml_dtypes)."""
    import numpy as np

    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def work_dtype(name: str) -> Any:
    """The dtype random values are drawn in before the single cast to ``name``."""
    import numpy as np

    if name in ("float64", "complex128"):
        return np.dtype(np.float64)
    return np.dtype(np.float32)


#: Largest finite value of each float dtype (of a complex dtype's parts).
LARGEST = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38, "float32": 3.4028234663852886e38,
           "float64": 1.7976931348623157e308, "complex64": 3.4028234663852886e38,
           "complex128": 1.7976931348623157e308}


def itemsize(name: str) -> int:
    if name == "bfloat16":
        return 2
    digits = "".join(ch for ch in name if ch.isdigit())
    bits = int(digits)
    return bits // 8


def inward(value: float, dtype: Any, upward: bool) -> Any:
    """``value`` as a ``dtype`` scalar, rounded towards the inside of an interval.

    ``upward=True`` gives the smallest representable value >= ``value`` (a lower
    bound); ``upward=False`` the largest <= ``value`` (an upper bound).
    """
    import numpy as np

    dtype = np.dtype(dtype)
    candidate = np.array(value, dtype=np.float64).astype(dtype)
    as_float = float(candidate.astype(np.float64))
    if (upward and as_float >= value) or (not upward and as_float <= value):
        return candidate[()]
    return step(candidate, dtype, upward)


def step(value: Any, dtype: Any, upward: bool) -> Any:
    """The neighbouring representable value of a finite float ``value``."""
    import numpy as np

    dtype = np.dtype(dtype)
    bits_type = {2: np.int16, 4: np.int32, 8: np.int64}[dtype.itemsize]
    array = np.array(value, dtype=dtype).reshape(1)
    bits = int(array.view(bits_type)[0])
    if float(array.astype(np.float64)[0]) == 0.0:
        # +0/-0: step to the smallest subnormal of the right sign.
        result = np.array([1], dtype=bits_type).view(dtype)
        return (result if upward else -result)[0]
    negative = bits < 0
    bits += -1 if (upward == negative) else 1
    return np.array([bits], dtype=bits_type).view(dtype)[0]


def below(value: float, dtype: Any) -> Any:
    """The largest ``dtype`` value strictly below ``value`` (a half-open upper bound)."""
    import numpy as np

    bound = inward(value, dtype, upward=False)
    if float(np.array(bound).astype(np.float64)) < value:
        return bound
    return step(bound, dtype, upward=False)

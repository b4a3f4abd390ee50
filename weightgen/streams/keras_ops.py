"""Keras 3's dtype promotion and the few ``keras.ops`` its STFT initializer runs (NumPy backend).

Keras does not promote the way numpy does: its ops promote along JAX's type lattice and
then turn every 64-bit result into 32 bits, so a float64 STFT kernel with a window is
computed in float32, and a float16 one multiplies by pi rounded to float16 (3.140625).
Bit-exactness needs the same promotion op by op; this is a port of ``result_type`` from
``keras/src/backend/common/dtypes.py`` and of the NumPy backend's ``convert_to_tensor``,
``multiply``, ``divide``, ``sqrt``, ``sum``, ``square`` and the trigonometric functions,
limited to what the initializers reach (no strings, complex or float8 dtypes).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from weightgen import dtypes

FLOATX = "float32"

#: Python types as Keras names them (``int`` and ``float`` are also "weak" in promotion).
_PYTHON_TYPES: dict[Any, str] = {bool: "bool", int: "int32", float: "float32", "int": "int32"}

#: Keras's promotion lattice: each type and the types it promotes to directly.
_LATTICE: dict[str, tuple[str, ...]] = {
    "bool": ("int",), "uint8": ("int16", "uint16"), "uint16": ("int32", "uint32"),
    "uint32": ("int64", "uint64"), "uint64": ("float",),
    "int": ("uint8", "int8", "complex64"), "int8": ("int16",), "int16": ("int32",),
    "int32": ("int64",), "int64": ("float",),
    "float": ("bfloat16", "float16"), "bfloat16": ("float32",), "float16": ("float32",),
    "float32": ("float64", "complex64"), "float64": ("complex128",),
    "complex64": ("complex128",), "complex128": (),
}

#: Outside TensorFlow, Keras computes in 32 bits what would promote to 64.
_TO_32_BITS = {"int64": "int32", "uint64": "uint32", "float64": "float32",
               "complex128": "complex64"}


@functools.cache
def _upper_bounds(node: str) -> frozenset[str]:
    reached = {node}
    frontier = [node]
    while frontier:
        for above in _LATTICE[frontier.pop()]:
            if above not in reached:
                reached.add(above)
                frontier.append(above)
    return frozenset(reached)


def _least_upper_bound(*nodes: str) -> str:
    given = set(nodes)
    common = set.intersection(*(set(_upper_bounds(n)) for n in given))
    least = (common & given) or {c for c in common if common <= _upper_bounds(c)}
    if len(least) != 1:  # pragma: no cover - the initializers never reach this
        raise TypeError(f"no implicit promotion between {sorted(nodes)}")
    return least.pop()


def standardize_dtype(dtype: Any) -> str:
    """A Keras dtype name from None, a Python type, a name or a numpy dtype."""
    if dtype is None:
        return FLOATX
    if isinstance(dtype, str) and dtype in _LATTICE:
        return dtype
    named = _PYTHON_TYPES.get(dtype) if isinstance(dtype, (type, str)) else None
    if named is not None:
        return named
    return str(getattr(dtype, "name", getattr(dtype, "__name__", dtype)))


def _weak_kind(name: str) -> str:
    """The weak lattice node of a Python scalar's type."""
    if name == "bool":
        return name
    return "int" if "int" in name else "float"


def _strong(node: str) -> str:
    """A weak result made concrete at floatx's precision."""
    if node == "int":
        return "int32"
    if node == "float":
        return FLOATX
    return node


def result_type(*types: Any) -> str:
    """``keras.backend.result_type`` on the NumPy backend."""
    if not types:
        return FLOATX
    names = [standardize_dtype(t) for t in types]
    weak = [t is int or t is float for t in types]
    if len(names) == 1:
        out, out_weak = names[0], weak[0]
    elif len(set(names)) == 1 and not all(weak):
        out, out_weak = names[0], False
    elif all(weak):
        out, out_weak = _least_upper_bound(*set(names)), True
    else:
        out = _least_upper_bound(*{_weak_kind(n) if w else n for n, w in zip(names, weak)})
        out_weak = out in ("int", "float")
    if out_weak and out != "bool":
        out = _strong(_weak_kind(out))
    return _TO_32_BITS.get(out, out)


def _type_of(x: Any) -> Any:
    return x.dtype if isinstance(x, (np.ndarray, np.generic)) else type(x)


def convert_to_tensor(x: Any, dtype: Any = None) -> np.ndarray:
    """``keras.ops.convert_to_tensor``: a Python scalar or array, as a Keras dtype."""
    if dtype is not None:
        dtype = standardize_dtype(dtype)
    if not isinstance(x, (np.ndarray, np.generic)) and dtype == "bfloat16":
        return np.asarray(x).astype(dtypes.numpy_dtype(dtype))
    if dtype is None:
        dtype = result_type(_type_of(x))
    return np.array(x, dtype=dtypes.numpy_dtype(dtype))


def _operands(x1: Any, x2: Any, *extra: Any) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(x1, (int, float)):
        x1 = convert_to_tensor(x1)
    if not isinstance(x2, (int, float)):
        x2 = convert_to_tensor(x2)
    common = result_type(_type_of(x1), _type_of(x2), *extra)
    return convert_to_tensor(x1, common), convert_to_tensor(x2, common)


def multiply(x1: Any, x2: Any) -> np.ndarray:
    return np.multiply(*_operands(x1, x2))


def divide(x1: Any, x2: Any) -> np.ndarray:
    return np.divide(*_operands(x1, x2, float))


def _float_of(x: np.ndarray) -> np.dtype:
    """The dtype Keras's unary float functions compute in."""
    name = standardize_dtype(x.dtype)
    return dtypes.numpy_dtype(FLOATX if name == "int64" else result_type(x.dtype, float))


def cos(x: Any) -> np.ndarray:
    x = convert_to_tensor(x)
    return np.cos(x.astype(_float_of(x)))


def sin(x: Any) -> np.ndarray:
    x = convert_to_tensor(x)
    return np.sin(x.astype(_float_of(x)))


def arccos(x: Any) -> np.ndarray:
    x = convert_to_tensor(x)
    return np.arccos(x.astype(_float_of(x)))


def sqrt(x: Any) -> np.ndarray:
    x = convert_to_tensor(x)
    return np.sqrt(x, dtype=_float_of(x))


def square(x: Any) -> np.ndarray:
    x = convert_to_tensor(x)
    if standardize_dtype(x.dtype) == "bool":
        x = x.astype("int32")
    return np.square(x)


def total(x: np.ndarray) -> np.ndarray:
    """``keras.ops.sum`` over every axis."""
    name = standardize_dtype(x.dtype)
    if name in ("bool", "int8", "int16"):
        name = "int32"
    elif name in ("uint8", "uint16"):
        name = "uint32"
    return np.sum(x, axis=None, keepdims=False).astype(dtypes.numpy_dtype(name))


def arange(count: int, dtype: str) -> np.ndarray:
    return np.arange(0, count, step=1, dtype=dtypes.numpy_dtype(dtype))


def stft_kernel(frame_length: int, fft_length: int, dtype: str, side: str,
                window: np.ndarray | None, scaling: str | None) -> np.ndarray:
    """``keras.initializers.STFT()((frame_length, channels, fft_length), dtype)``: (T, 1, F).

    ``window`` is the window as an array (what Keras computes from a window name with
    ``scipy.signal.get_window(name, frame_length, periodic)``), or None.
    """
    scale: Any = 1
    win = None
    if window is not None:
        win = convert_to_tensor(window, dtype).reshape(frame_length, 1, 1)
        if scaling == "density":
            scale = sqrt(total(square(win)))
        elif scaling == "spectrum":
            scale = total(np.absolute(win))
    freq = divide(arange(fft_length, dtype).reshape(1, 1, fft_length), (fft_length - 1) * 2)
    time = arange(frame_length, dtype).reshape(frame_length, 1, 1)
    args = multiply(multiply(-2, time), freq) * arccos(convert_to_tensor(-1, dtype))
    kernel = convert_to_tensor(cos(args) if side == "real" else sin(args), dtype)
    if win is not None:
        kernel = divide(multiply(kernel, win), scale)
    return kernel

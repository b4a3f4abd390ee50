"""Custom initializers: your own ``f(shape, dtype, rng)``, summarised and written like any other.

``weightgen custom TARGET`` names the function as ``module:function`` (imported with the
current directory on the path, as ``python -m`` would) or ``path/to/file.py:function``
(loaded from that file, its folder on the path while it loads). The function is called
once with the shape (a tuple of ints), the numpy dtype and a ``numpy.random.Generator``
seeded by the stream contract, ``SFC64(SeedSequence(seed, spawn_key=(1, 2)))`` (see
``seeding.auxiliary_generator``), and must return an array of exactly that shape and
dtype, with no NaN or infinity.

A TARGET that cannot be found is a usage error (exit 2). Code that runs and fails —
raising while it is imported or called, or returning a wrong tensor — is a runtime
error (exit 1). Either way the message is one line and nothing is written.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from weightgen import dtypes, seeding
from weightgen.distributions import Summary
from weightgen.errors import InitializerError, ParameterError, one_line
from weightgen.params import Param
from weightgen.plan import Call, Plan, PlanInput
from weightgen.registry import InitializerSpec

TARGET = Param("target", "str", help="module:function or path/to/file.py:function",
               positional=True)


def _bad_target(target: str, problem: str) -> ParameterError:
    return ParameterError(
        f"Invalid value for TARGET: {problem} (got {target!r}); give module:function or "
        "path/to/file.py:function."
    )


@contextmanager
def _on_path(folder: str) -> Iterator[None]:
    """``folder`` first on ``sys.path`` while a user module loads (its siblings import)."""
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:
            pass


def _load_file(target: str, path: str) -> Any:
    full = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(full):
        raise _bad_target(target, f"there is no file {path!r}")
    import hashlib  # here: loading OpenSSL costs every command start-up time

    name = "weightgen_custom_" + hashlib.sha256(full.encode()).hexdigest()[:16]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, full)
    if spec is None or spec.loader is None:
        raise _bad_target(target, f"{path!r} cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with _on_path(os.path.dirname(full)):
            spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise InitializerError(f"loading {path} failed: {type(error).__name__}: {one_line(error)}") from error
    return module


def _import(target: str, module_name: str) -> Any:
    try:
        with _on_path(os.getcwd()):
            return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and (module_name == error.name or module_name.startswith(error.name + ".")):
            raise _bad_target(target, f"there is no module {module_name!r}") from error
        raise InitializerError(f"importing {module_name} failed: {one_line(error)}") from error
    except Exception as error:
        raise InitializerError(
            f"importing {module_name} failed: {type(error).__name__}: {one_line(error)}") from error


def load_target(target: str) -> Callable[..., Any]:
    """The callable ``target`` names (``module:function`` or ``file.py:function``)."""
    where, colon, attribute = target.strip().rpartition(":")
    if not colon or not where or not attribute:
        raise _bad_target(target, "no ':function' part")
    is_file = where.endswith(".py") or "/" in where or os.sep in where
    module = _load_file(target, where) if is_file else _import(target, where)
    found: Any = module
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise _bad_target(target, f"{where} has no {attribute!r}")
        found = getattr(found, part)
    if not callable(found):
        raise _bad_target(target, f"{where}:{attribute} is a {type(found).__name__}, not a function")
    return found


def checked(function: Callable[..., Any], target: str) -> Callable[[tuple[int, ...], str, Any], Any]:
    """Call ``function(shape, dtype, rng)`` and check what it returns."""

    def produce(shape: tuple[int, ...], dtype_name: str, rng: Any) -> Any:
        import numpy as np

        dtype = dtypes.numpy_dtype(dtype_name)
        try:
            result = function(tuple(shape), dtype, rng)
        except Exception as error:
            raise InitializerError(
                f"custom initializer {target} raised {type(error).__name__}: {one_line(error)}") from error
        wanted = f"an array of shape {tuple(shape)} and dtype {dtype_name}"
        try:
            array = None if result is None else np.asarray(result)
        except Exception:
            array = None
        if array is None or array.dtype == object:
            raise InitializerError(
                f"custom initializer {target} returned {type(result).__name__}, not {wanted}.")
        if array.shape != tuple(shape):
            raise InitializerError(
                f"custom initializer {target} returned shape {array.shape}, not {tuple(shape)}; "
                f"it must return {wanted}.")
        if array.dtype != dtype:
            raise InitializerError(
                f"custom initializer {target} returned dtype {array.dtype}, not {dtype_name}; "
                "return values.astype(dtype).")
        if not dtypes.is_integer(dtype_name):
            finite = np.isfinite(array if dtype_name != "bfloat16" else array.astype(np.float32))
            bad = int(array.size - np.count_nonzero(finite))
            if bad:
                raise InitializerError(
                    f"custom initializer {target} returned {bad} non-finite values (NaN or "
                    f"infinity) among {array.size}; nothing was written.")
        return np.ascontiguousarray(array)

    return produce


def _resolve(request: PlanInput) -> Plan:
    target = request.params["target"]
    function = load_target(target)
    return Plan(Call(checked(function, target), seeding.PURPOSE_CUSTOM),
                Summary(text=f"custom initializer {target}: no expected distribution"))


SPECS: tuple[InitializerSpec, ...] = (
    InitializerSpec(
        name="custom", family="custom",
        summary="your own f(shape, dtype, rng); TARGET is module:function or path/file.py:function",
        resolve=_resolve, params=(TARGET,), dtypes=dtypes.ALL,
    ),
)

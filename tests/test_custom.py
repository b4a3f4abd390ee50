"""Custom initializers: ``weightgen custom module:function`` and ``file.py:function``."""

from __future__ import annotations

import json
import textwrap
import uuid

import numpy as np
import pytest

import weightgen
from weightgen import seeding
from weightgen.errors import InitializerError, ParameterError

from conftest import run_cli, run_installed

GOOD = """
import numpy as np

calls = []

def init(shape, dtype, rng):
    calls.append((shape, dtype))
    return (rng.standard_normal(shape) * 0.1).astype(dtype)

def first_draw(shape, dtype, rng):
    return np.full(shape, rng.random(), dtype=dtype)

def wrong_shape(shape, dtype, rng):
    return np.zeros((2,), dtype)

def wrong_dtype(shape, dtype, rng):
    return rng.standard_normal(shape)

def nan(shape, dtype, rng):
    out = np.ones(shape, dtype)
    out.flat[0] = np.nan
    return out

def raises(shape, dtype, rng):
    raise RuntimeError("boom")

def raises_lines(shape, dtype, rng):
    raise ValueError("first line" + chr(10) + "  second line" + chr(10))

def nothing(shape, dtype, rng):
    pass

def as_list(shape, dtype, rng):
    return [[1.0] * shape[1]] * shape[0]

class Layer:
    @staticmethod
    def init(shape, dtype, rng):
        return np.arange(np.prod(shape)).reshape(shape).astype(dtype)

not_callable = 3
"""


@pytest.fixture
def module_file(tmp_path):
    """A uniquely named module in a temporary folder (fresh for every test)."""
    name = f"custom_init_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(GOOD)
    return name, path


def test_file_target_is_called_with_shape_dtype_and_a_seeded_generator(module_file):
    _, path = module_file
    result = weightgen.generate("custom", (6, 4), target=f"{path}:first_draw", seed=77)
    expected = seeding.auxiliary_generator(77, seeding.PURPOSE_CUSTOM).random()
    assert result.array.dtype == np.float32 and result.array.shape == (6, 4)
    assert np.all(result.array == np.float32(expected))
    again = weightgen.generate("custom", (6, 4), target=f"{path}:first_draw", seed=77)
    other = weightgen.generate("custom", (6, 4), target=f"{path}:first_draw", seed=78)
    assert np.array_equal(result.array, again.array) and not np.array_equal(result.array, other.array)


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16", "int32", "complex64"])
def test_dtypes_are_passed_as_numpy_dtypes(module_file, dtype):
    _, path = module_file
    result = weightgen.generate("custom", (3, 5), target=f"{path}:Layer.init", dtype=dtype, seed=1)
    assert str(result.array.dtype) == dtype
    assert result.array.astype(np.complex128).ravel().tolist() == list(range(15))
    assert result.moments.count == 15 * (2 if dtype.startswith("complex") else 1)


def test_module_target_from_the_current_folder(module_file, monkeypatch):
    name, path = module_file
    monkeypatch.chdir(path.parent)
    result = weightgen.generate("custom", (10, 10), target=f"{name}:init", seed=3)
    rng = seeding.auxiliary_generator(3, seeding.PURPOSE_CUSTOM)
    assert np.array_equal(result.array, (rng.standard_normal((10, 10)) * 0.1).astype(np.float32))
    import sys

    assert sys.modules[name].calls == [((10, 10), np.dtype("float32"))]


def test_a_file_may_import_its_siblings(tmp_path):
    folder = tmp_path / "pkg"
    folder.mkdir()
    helper = f"helper_{uuid.uuid4().hex[:8]}"
    (folder / f"{helper}.py").write_text("VALUE = 2.5\n")
    (folder / "entry.py").write_text(textwrap.dedent(f"""
        import numpy as np
        from {helper} import VALUE

        def init(shape, dtype, rng):
            return np.full(shape, VALUE, dtype)
    """))
    result = weightgen.generate("custom", (2, 2), target=f"{folder / 'entry.py'}:init", seed=0)
    assert np.all(result.array == 2.5)


@pytest.mark.parametrize("function,pattern", [
    ("wrong_shape", r"returned shape \(2,\), not \(3, 3\)"),
    ("wrong_dtype", "returned dtype float64, not float32; return values.astype"),
    ("nan", "returned 1 non-finite values"),
    ("raises", "raised RuntimeError: boom"),
    ("raises_lines", "raised ValueError: first line second line$"),
    ("nothing", "returned NoneType, not an array"),
    ("as_list", "returned dtype float64, not float32"),
])
def test_wrong_results_are_runtime_errors(module_file, function, pattern):
    _, path = module_file
    with pytest.raises(InitializerError, match=pattern):
        weightgen.generate("custom", (3, 3), target=f"{path}:{function}", seed=0)


@pytest.mark.parametrize("target,pattern", [
    ("no_colon_here", "no ':function' part"),
    ("{path}:", "no ':function' part"),
    (":init", "no ':function' part"),
    ("{path}:missing", "has no 'missing'"),
    ("{path}:not_callable", "is a int, not a function"),
    ("{folder}/nope.py:init", "there is no file"),
    ("surely_no_such_module_here:init", "there is no module 'surely_no_such_module_here'"),
])
def test_targets_that_cannot_be_found_are_usage_errors(module_file, target, pattern):
    _, path = module_file
    target = target.format(path=path, folder=path.parent)
    with pytest.raises(ParameterError, match=pattern):
        weightgen.generate("custom", (3, 3), target=target, seed=0)


def test_code_failing_at_import_is_a_runtime_error(tmp_path):
    bad = tmp_path / "broken.py"
    bad.write_text("import surely_no_such_dependency\n")
    with pytest.raises(InitializerError, match="surely_no_such_dependency"):
        weightgen.generate("custom", (3, 3), target=f"{bad}:init", seed=0)
    syntax = tmp_path / "syntax.py"
    syntax.write_text("def init(:\n")
    with pytest.raises(InitializerError, match="SyntaxError"):
        weightgen.generate("custom", (3, 3), target=f"{syntax}:init", seed=0)


def test_cli_exit_codes_and_nothing_written(module_file, tmp_path):
    _, path = module_file
    out = tmp_path / "w.npy"
    run = run_cli("custom", f"{path}:wrong_dtype", "--shape", "3,3", "-o", str(out))
    assert run.exit_code == 1 and run.stderr.count("\n") == 1 and "Error: " in run.stderr, run
    assert not out.exists()
    run = run_cli("custom", f"{path}:missing", "--shape", "3,3", "-o", str(out))
    assert run.exit_code == 2 and "has no 'missing'" in run.stderr and not out.exists(), run
    run = run_cli("custom", "--shape", "3,3")
    assert run.exit_code == 2 and "Missing argument 'TARGET'" in run.stderr, run


def test_cli_summary_and_json(module_file):
    _, path = module_file
    run = run_cli("custom", f"{path}:init", "--shape", "40,50", "--seed", "5", "--json")
    assert run.exit_code == 0, run
    record = json.loads(run.text)
    assert record["initializer"] == "custom" and record["params"] == {"target": f"{path}:init"}
    assert record["shape"] == [40, 50] and record["seed"] == 5
    assert record["std"] == pytest.approx(0.1, rel=0.1)
    assert record["expected"] == {"mean": None, "std": None, "min": None, "max": None}


def test_done_when_installed_command_writes_the_file(tmp_path):
    (tmp_path / "my.py").write_text(textwrap.dedent("""
        def init(shape, dtype, rng):
            return rng.uniform(-1, 1, size=shape).astype(dtype)
    """))
    run = run_installed("custom", "./my.py:init", "--shape", "10,10", "-o", "w.npy", "--seed", "9",
                        cwd=str(tmp_path))
    assert run.exit_code == 0, run
    values = np.load(tmp_path / "w.npy", allow_pickle=False)
    assert values.shape == (10, 10) and values.dtype == np.float32
    assert "custom(target=./my.py:init)" in run.stderr
    module_run = run_installed("custom", "my:init", "--shape", "10,10", "--seed", "9", "-o", "m.npy",
                               cwd=str(tmp_path))
    assert module_run.exit_code == 0, module_run
    assert np.array_equal(np.load(tmp_path / "m.npy"), values)


def test_custom_is_listed_and_has_help():
    run = run_cli("custom", "--help")
    assert run.exit_code == 0 and "TARGET" in run.text and "--shape" in run.text, run
    listed = run_cli("list", "--family", "custom", "--json")
    assert json.loads(listed.text.splitlines()[0])["params"][0]["name"] == "target"

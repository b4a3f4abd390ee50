"""Generated documentation stays in step with the registry."""

from __future__ import annotations

import pathlib
import re

from weightgen.listing import markdown_table

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def readme_block(marker: str) -> str:
    """The README's text between ``<!-- marker:start -->`` and ``<!-- marker:end -->``."""
    text = README.read_text(encoding="utf-8")
    found = re.search(rf"<!-- {marker}:start -->\n(.*?)\n<!-- {marker}:end -->", text, re.S)
    assert found, f"README.md lost its {marker} markers"
    return found.group(1)


def test_readme_table_of_initializers_matches_the_registry():
    assert readme_block("initializers") == markdown_table(), (
        "README's initializer table is stale; regenerate it with:\n"
        "  python -c 'from weightgen.listing import markdown_table; print(markdown_table())'")


def test_readme_opens_with_the_two_commands():
    block = re.search(r"```sh\n(.*?)\n```", README.read_text(encoding="utf-8"), re.S).group(1).splitlines()
    assert "pip install ." in block[0] and "weightgen glorot_uniform" in block[0]
    assert "pip install '.[test]'" in block[1] and "pytest" in block[1]


def test_readme_crosscheck_table_matches_the_registry():
    from weightgen.listing import crosscheck_table

    assert readme_block("crosscheck") == crosscheck_table(), (
        "README's cross-family table is stale; regenerate it with:\n"
        "  python -c 'from weightgen.listing import crosscheck_table; print(crosscheck_table())'")


def test_crosscheck_table_maps_every_framework_initializer_once():
    from weightgen.listing import CROSSCHECK_FAMILIES, EQUIVALENTS
    from weightgen.registry import registry

    mapped = [name for _, names, _ in EQUIVALENTS for name in names.values()]
    assert len(mapped) == len(set(mapped))
    framework = {s.name for s in registry() if s.family in CROSSCHECK_FAMILIES and s.origin == "builtin"}
    assert set(mapped) == framework
    for _, names, _ in EQUIVALENTS:
        for family, name in names.items():
            assert registry().get(name).family == family and registry().get(name).name == name

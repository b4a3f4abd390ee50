"""Generated documentation stays in step with the registry."""

from __future__ import annotations

import pathlib
import re

from weightgen.listing import markdown_table

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def test_readme_table_of_initializers_matches_the_registry():
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- initializers:start -->\n(.*?)\n<!-- initializers:end -->", text, re.S)
    assert found, "README.md lost its initializers markers"
    assert found.group(1) == markdown_table(), (
        "README's initializer table is stale; regenerate it with:\n"
        "  python -c 'from weightgen.listing import markdown_table; print(markdown_table())'")


def test_readme_opens_with_the_two_commands():
    block = re.search(r"```sh\n(.*?)\n```", README.read_text(encoding="utf-8"), re.S).group(1).splitlines()
    assert "pip install ." in block[0] and "weightgen glorot_uniform" in block[0]
    assert "pip install '.[test]'" in block[1] and "pytest" in block[1]

"""The ``weightgen`` command's entry point (and ``python -m weightgen``'s).

It imports the command line under a guard, so Ctrl-C while click, numpy and the rest are
still loading ends in one line and exit code 130, like Ctrl-C at any later moment,
instead of a traceback through the import machinery.
"""

from __future__ import annotations

import sys


def run() -> None:
    import gc

    gc.disable()  # from the start, imports included: see weightgen.cli.run
    try:
        from weightgen.cli import run as run_command
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted\n")
        raise SystemExit(130) from None
    run_command(prog_name="weightgen")

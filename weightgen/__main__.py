"""``python -m weightgen``: the same as the ``weightgen`` command."""

from weightgen.cli import run

if __name__ == "__main__":
    run(prog_name="weightgen")

"""``python -m weightgen``: the same as the ``weightgen`` command."""

from weightgen.cli import main

if __name__ == "__main__":
    main(prog_name="weightgen")

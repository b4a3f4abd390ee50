"""``python -m weightgen``: the same as the ``weightgen`` command."""

from weightgen._entry import run

if __name__ == "__main__":
    run()

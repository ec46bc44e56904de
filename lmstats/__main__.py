"""``python -m lmstats`` runs the command-line interface."""

from lmstats.cli import main

if __name__ == "__main__":
    main()

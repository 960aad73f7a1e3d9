"""``python -m garrison`` runs the CLI."""

from garrison.cli.main import main

if __name__ == "__main__":  # pragma: no cover
    main()

"""Entry point: `python starter.py COMMAND ...` (see `python starter.py --help`)."""

from yourmoment.cli.main import main

if __name__ == "__main__":
    main()

"""Entry point: `python starter.py COMMAND ...` (see `python starter.py --help`).

In a checkout the development commands (`demo`, from yourmoment_dev/) join the product's; the image
(Dockerfile) ships without that package, and without them.
"""

from importlib.util import find_spec

from yourmoment.cli.main import COMMAND_MODULES, main

DEVELOPMENT_COMMANDS = ("yourmoment_dev.demo_cmds",)


def command_modules() -> tuple[str, ...]:
    return COMMAND_MODULES + (DEVELOPMENT_COMMANDS if find_spec("yourmoment_dev") else ())


if __name__ == "__main__":
    main(command_modules=command_modules())

"""The ``tillit`` console script: Django's management commands with tillit's settings.

``tillit migrate``, ``tillit demo --people 1000``, ``tillit runserver`` ... A broken policy
file or configuration ends the command with one line naming the problem and exit code 2.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    argv = list(sys.argv if argv is None else argv)
    argv[0] = "tillit"

    from django.core.exceptions import ImproperlyConfigured

    try:
        import django

        django.setup()
    except ImproperlyConfigured as error:
        sys.stderr.write(f"tillit: {error}\n")
        raise SystemExit(2) from None

    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)


if __name__ == "__main__":
    main()

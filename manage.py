#!/usr/bin/env python
"""Django's command-line utility; ``tillit`` (the console script) is the same with nicer errors."""

from tillit.cli.main import main

if __name__ == "__main__":
    main()

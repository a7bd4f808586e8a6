"""`python -m lrhub.client.cli`: the `lrhub` command without its console script."""

from . import main

# Only when run: a tool that imports every module (pkgutil.walk_packages) must not start the CLI.
if __name__ == "__main__":
    main()

"""`python -m lrhub.client.cli`: the `lrhub` command without its console script."""

from . import main

main()

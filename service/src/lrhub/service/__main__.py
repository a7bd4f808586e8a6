"""`python -m lrhub.service serve ...`, what `lrhub serve` runs."""

from lrhub.service.cli import cli

cli(prog_name="lrhub-service")

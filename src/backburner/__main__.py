"""`python -m backburner ...` is the `backburner` command."""

from .cli import main

main()

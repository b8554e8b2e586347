"""`python -m bench`: backburner against its peers (see bench/bootstrap.py, bench/compare.py)."""

from bench.bootstrap import main

main()

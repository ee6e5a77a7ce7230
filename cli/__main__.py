"""`python -m cli`: the `mla` command."""

from cli.main import main

main()

"""Entry points: the `mla` command, the demo and the worker loop (outside the domain)."""

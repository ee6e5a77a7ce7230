"""Domain core of the MLA and extradition workflow engine (no web framework imports here)."""

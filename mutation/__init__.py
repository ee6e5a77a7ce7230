"""Mutation testing of the security- and law-critical modules (issue #28): `python -m mutation`.
See __main__.py and CONTRIBUTING.md."""

"""Caseload and timeliness statistics, sealed months and charts."""

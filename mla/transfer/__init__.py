"""Electronic transfer between instances (DESIGN.md section 6)."""

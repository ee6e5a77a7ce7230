"""Settings read from the environment, so one build runs anywhere."""

from __future__ import annotations

import os

DEFAULT_DATABASE_URL = "sqlite:///./mla.db"


def database_url() -> str:
    return os.environ.get("MLA_DATABASE_URL", DEFAULT_DATABASE_URL)


def api_threads() -> int:
    """Threads per API worker process that run requests, and database connections it keeps."""
    return max(1, int(os.environ.get("MLA_API_THREADS", "8")))

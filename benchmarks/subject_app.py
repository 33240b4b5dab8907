"""The subject of the read-path benchmark: deskbridge as ``create_app`` builds it from ``DESKBRIDGE_*``.

No sync worker (the benchmark measures serving, and the store's linked account points at no vendor) and
no migrations (``read_path.py`` migrated the store when it built it). Run it with
``uvicorn --factory benchmarks.subject_app:create``.
"""

from __future__ import annotations

from litestar import Litestar

from app.asgi import create_app
from app.settings import from_env


def create() -> Litestar:
    return create_app(from_env(), run_worker=False)

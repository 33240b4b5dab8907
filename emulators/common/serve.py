"""Serving an emulator over a real socket: in the foreground (CLI) or in a background thread (tests
that drive a vendor's synchronous client, which needs a TCP peer)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(app: Any, host: str = "127.0.0.1", port: int = 9101, log_level: str = "info") -> None:
    uvicorn.run(app, host=host, port=port, log_level=log_level, lifespan="off")


class ServerThread:
    """``with ServerThread(app) as server: ... server.port`` — uvicorn on a free loopback port."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port()
        # The app's startup and shutdown run ("auto": apps without them are served all the same), so
        # an app that owns resources (deskbridge's engine, served in tests) closes them in its own
        # loop; with lifespan off, its SQLite connections were left for the collector to close after
        # the loop was gone ("Event loop is closed" warnings).
        config = uvicorn.Config(app, host=host, port=self.port, log_level="critical", lifespan="auto")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("emulator server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

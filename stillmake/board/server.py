"""Run the board: a threaded local server on 127.0.0.1, the plan worker beside it."""

from __future__ import annotations

import threading
import webbrowser
from collections.abc import Callable

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

HOST = "127.0.0.1"  # never another interface: the board is a local tool


class _Quiet(WSGIRequestHandler):
    """No line per request: the terminal is the art director's, not an access log."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class Board:
    """A started board: `url`, and `stop()` to end it (tests run one in a thread)."""

    def __init__(self, app: Flask, port: int = 0):
        self.app = app
        self.server: BaseWSGIServer = make_server(
            HOST, port, app, threaded=True, request_handler=_Quiet
        )
        self.port = self.server.server_port
        app.config["STILLMAKE_PORT"] = self.port
        self.url = f"http://{HOST}:{self.port}/"
        self.worker = app.extensions["stillmake_plan"]
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        self.worker.start()
        self.server.serve_forever()

    def start(self) -> Board:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.worker.stop()
        self.server.shutdown()
        self.server.server_close()


def serve(app: Flask, port: int, *, open_browser: bool, say: Callable[[str], None]) -> None:
    board = Board(app, port)
    say(f"review board on {board.url}  (Ctrl-C to stop)")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(board.url,)).start()
    try:
        board.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        board.stop()

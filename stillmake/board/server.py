"""Run the board: a threaded local server on 127.0.0.1, the plan worker beside it; each
request carries the account of the process that connected (access.py)."""

from __future__ import annotations

import shutil
import threading
import webbrowser
from collections.abc import Callable

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from stillmake.board.access import PEER_UID, opener_file, peer_uid

HOST = "127.0.0.1"  # never another interface: the board is a local tool


class _Handler(WSGIRequestHandler):
    """No line per request (the terminal is the art director's, not an access log); the
    uid of the connecting process in the environ, for the app to refuse other accounts."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def make_environ(self) -> dict:
        environ = super().make_environ()
        client, server = self.client_address, self.server.server_address
        environ[PEER_UID] = peer_uid((client[0], client[1]), (str(server[0]), int(server[1])))
        return environ


class Board:
    """A started board: `url`, and `stop()` to end it (tests run one in a thread)."""

    def __init__(self, app: Flask, port: int = 0):
        self.app = app
        self.server: BaseWSGIServer = make_server(
            HOST, port, app, threaded=True, request_handler=_Handler
        )
        self.port = self.server.server_port
        app.config["STILLMAKE_PORT"] = self.port
        self.url = f"http://{HOST}:{self.port}/"
        # the one URL that lets a browser in: printed once, never in a page
        self.open_url = f"{self.url}?token={app.config['STILLMAKE_KEYS'].token}"
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
    say(f"review board on {board.open_url}  (Ctrl-C to stop)")
    say("only this account can use it; the link above lets a browser in: keep it to yourself")
    opener = None
    if open_browser:  # through a file: a browser's command line is visible to every account
        opener = opener_file(board.open_url)
        threading.Timer(0.5, webbrowser.open, args=(opener.as_uri(),)).start()
    try:
        board.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        board.stop()
        if opener is not None:
            shutil.rmtree(opener.parent, ignore_errors=True)

"""Who may use the board: the account that started it, in its own browser, and nobody else.

Two locks, each enough on its own against another local account:
* the peer's account: on Linux each connection's client socket is looked up in
  /proc/net/tcp (what identd does) and a client owned by another uid is refused before
  anything is read or served;
* a token: made at each start and printed once, in the URL `stillmake review` shows
  (never in a page). Opening that URL sets a session cookie (HttpOnly: no script reads
  it; SameSite=Strict: no other site's page sends it) and redirects to the bare URL; no
  page, asset, file or API answer is served without that cookie.
"""

from __future__ import annotations

import hmac
import os
import secrets
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

PEER_UID = "stillmake.peer_uid"  # the WSGI environ key the server puts the client's uid in
PROC_TCP = Path("/proc/net/tcp")


def _hex_addr(ip: str, port: int) -> str:
    """An IPv4 address and port as /proc/net/tcp prints them (`0100007F:1F90`)."""
    return f"{int.from_bytes(socket.inet_aton(ip), sys.byteorder):08X}:{port:04X}"


def peer_uid(client: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The uid owning the client end of a loopback TCP connection (None where the system
    does not say: no /proc/net/tcp)."""
    try:
        lines = PROC_TCP.read_text().splitlines()[1:]
    except OSError:
        return None
    local, remote = _hex_addr(*client), _hex_addr(*server)
    for line in lines:
        fields = line.split()
        if len(fields) > 7 and fields[1] == local and fields[2] == remote:
            return int(fields[7])
    return -1  # a connection the kernel does not list: refuse


def same_account(uid: int | None) -> bool:
    """Whether a peer (None: not known on this system) may use this board."""
    return uid is None or uid == os.getuid()


@dataclass
class Keys:
    """This start's token (in the printed URL) and session (in the browser's cookie)."""

    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    session: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def token_ok(self, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(sent.encode(), self.token.encode())

    def session_ok(self, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(sent.encode(), self.session.encode())


def cookie_name(port: int | None) -> str:
    """One cookie per board: browsers keep cookies per host, not per port."""
    return f"stillmake_board_{port}" if port else "stillmake_board"


def opener_file(url: str) -> Path:
    """A page only this account can read that sends the browser on to `url`: opening the
    file keeps the token out of the browser's command line, which `ps` shows everyone."""
    import html
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="stillmake-board-"))  # 0700
    page = folder / "open.html"
    fd = os.open(page, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(
            '<!doctype html><meta charset="utf-8">'
            f'<meta http-equiv="refresh" content="0;url={html.escape(url)}">'
            f'<p><a href="{html.escape(url)}">open the review board</a></p>'
        )
    return page

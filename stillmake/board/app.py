"""The board's web app (Flask): the page, its data, its decisions, the files under runs/.

A local tool that must stay one:
* served on 127.0.0.1 only (`serve`), and only to requests whose Host is 127.0.0.1 or
  localhost on that port (a DNS-rebinding page cannot read it);
* every write needs the per-start token the page carries in a header
  (`X-Stillmake-Token`), a JSON body, and no foreign `Origin`: a form or fetch from
  another site cannot set the header, and is refused before anything is read;
* files: the page's own assets, and regular files under runs/ (`files.inside_runs`);
* nothing from the environment or the config's connection settings is on the page.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, abort, jsonify, redirect, request, send_file
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from stillmake import decisions
from stillmake.artifacts.digests import PixelDigests
from stillmake.board import view
from stillmake.board.access import PEER_UID, Keys, cookie_name, same_account
from stillmake.board.files import Thumbs, inside_runs, placeholder
from stillmake.board.planner import PlanWorker
from stillmake.decisions import Written
from stillmake.errors import ChangedMeanwhile, StillmakeError
from stillmake.images import pixel_problem
from stillmake.inputs.config import ONLY_CONFIG_YAML, ConfigSources
from stillmake.planner.build import Build

LOCAL_HOSTS = ("127.0.0.1", "localhost")
_ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)


def _asset(name: str) -> bytes:
    return resources.files("stillmake.board").joinpath("static", name).read_bytes()


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise StillmakeError(f"{what} must be a whole number, not {value!r}")
    return value


def _text(value: object, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise StillmakeError(f"{what} must be text, not {value!r}")
    return value


def _opt_text(body: dict, key: str) -> str | None:
    value = body.get(key)
    return _text(value, key) if value is not None else None


def _pick(build: Build, b: dict) -> tuple[Written, str]:
    k = _int(b.get("k"), "k")
    done = decisions.pick(
        build,
        b["shot"],
        k,
        seen=_opt_text(b, "seen"),
        drafts_seen=_opt_text(b, "drafts"),
        via="board",
    )
    return done, f"{b['shot']}: picked draft {k} of drafts {done.value}"


def _reject(build: Build, b: dict) -> tuple[Written, str]:
    k = _int(b.get("k"), "k")
    reason = _text(b.get("reason"), "reason")
    done = decisions.reject(build, b["shot"], k, reason, seen=_opt_text(b, "seen"), via="board")
    return done, f"{b['shot']}: rejected draft {k} ({' '.join(reason.split())})"


def _lock(build: Build, b: dict) -> tuple[Written, str]:
    shot = b["shot"]
    (done,) = decisions.lock(
        build,
        [shot],
        seen=_opt_text(b, "seen"),
        candidate_seen=_opt_text(b, "candidate"),
        via="board",
    )
    said = "already locked on" if done.already else "locked on"
    return Written(str(done.seen)), (
        f"{shot}: {said} its candidate {done.candidate} ({done.fingerprint}): "
        "`snakemake finals` may render it"
    )


def _waive(build: Build, b: dict) -> tuple[Written, str]:
    check, reason = _text(b.get("check"), "check"), _text(b.get("reason"), "reason")
    done = decisions.waive(build, b["shot"], check, reason, seen=_opt_text(b, "seen"), via="board")
    unused = "" if done.value == "failing" else f" (unused: the candidate does not fail {check})"
    return done, f"{b['shot']}: {check} waived ({' '.join(reason.split())}){unused}"


def _unlock(build: Build, b: dict) -> tuple[Written, str]:
    done = decisions.unlock(build, [b["shot"]], seen=_opt_text(b, "seen"), via="board")
    assert done is not None  # one shot: its entry as written
    return done, f"{b['shot']}: unlocked"


def _reroll(build: Build, b: dict) -> tuple[Written, str]:
    done = decisions.reroll(build, b["shot"], seen=_opt_text(b, "seen"), via="board")
    return done, f"{b['shot']}: reroll {done.value}: the next build drafts it afresh"


def _edit(build: Build, b: dict) -> tuple[Written, str]:
    region = b.get("region")
    if region is not None and (not isinstance(region, list) or len(region) != 4):
        raise StillmakeError(f"a region is four numbers [x0, y0, x1, y1], not {region!r}")
    done = decisions.add_step(
        build,
        b["shot"],
        _text(b.get("change"), "change"),
        _text(b.get("keep"), "keep"),
        region,
        markup=_png_data_url(b.get("markup")),
        seen=_opt_text(b, "seen"),
        via="board",
    )
    return done, f"{b['shot']}: edit step {done.value} added" + (
        f" on region {decisions.normal_region(region)}" if region is not None else ""
    )


def _png_data_url(value: object) -> bytes | None:
    """The bytes of a `data:image/png;base64,...` URL (a canvas's strokes), or None."""
    if value is None:
        return None
    head, sep, data = _text(value, "markup").partition(",")
    if not sep or head != "data:image/png;base64":
        raise StillmakeError("the markup must be sent as a data:image/png;base64 URL")
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:
        raise StillmakeError("the markup sent is not valid base64") from None


ACTIONS: dict[str, Callable[[Build, dict], tuple[Written, str]]] = {
    "pick": _pick,
    "reject": _reject,
    "lock": _lock,
    "unlock": _unlock,
    "reroll": _reroll,
    "edit": _edit,
    "waive": _waive,
}


SMALL_BODY = 64 * 1024  # a decision without a markup
MARKUP_BODY = 32 * 1024 * 1024  # a markup at 3840x2160, with room
MAX_JSON_DEPTH = 32  # a decision is two levels deep


def _not_shown(name: str, problem: str) -> Response:
    """A picture naming an image the board will not decode (and the browser should not),
    with the reason in a header too."""
    resp = Response(placeholder(name, problem), mimetype="image/png")
    resp.headers["X-Stillmake-Not-Shown"] = f"{name} {problem}"
    return resp


def _json_body(action: str) -> dict:
    """The request's JSON object, refused (413, 400) past the size an action needs or the
    depth any decision has, before it is parsed."""
    import json

    limit = MARKUP_BODY if action == "edit" else SMALL_BODY
    if request.content_length is not None and request.content_length > limit:
        size = request.content_length
        abort(413, f"a {action} request is at most {limit:,} bytes; this one is {size:,}")
    if not request.is_json:
        abort(400, 'send JSON like {"shot": "s3", ...} (Content-Type: application/json)')
    raw = request.get_data(cache=False)
    if len(raw) > limit:
        abort(413, f"a {action} request is at most {limit:,} bytes")
    depth = _depth(raw)
    if depth > MAX_JSON_DEPTH:
        abort(
            400,
            f"the request is nested {depth:,} levels deep; a decision is at most {MAX_JSON_DEPTH}",
        )
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        abort(400, 'the request is not JSON; send JSON like {"shot": "s3", ...}')
    if not isinstance(body, dict) or not isinstance(body.get("shot"), str):
        abort(400, 'send JSON like {"shot": "s3", ...}')
    return body


def _depth(raw: bytes) -> int:
    """The deepest nesting of brackets outside strings (a bound: brackets inside a
    string's escapes are skipped with it)."""
    import re

    stripped = re.sub(rb'"(?:[^"\\]|\\.)*"', b"", raw)
    depth = deepest = 0
    for byte in stripped:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


def create_app(
    root: str | Path | None = None,
    *,
    token: str | None = None,
    sources: ConfigSources = ONLY_CONFIG_YAML,
) -> Flask:
    """The board for the project in `root` (the current directory: the library reads
    paths relative to it, as every `stillmake` command does), with the config read from
    `sources` as `stillmake review` was given them. `token`: the one the URL must carry
    (default: a new random one)."""
    root = Path(root or ".").resolve()
    app = Flask(__name__, static_folder=None)
    app.url_map.merge_slashes = False  # `/runs//etc/passwd` is refused, not redirected
    app.config["MAX_CONTENT_LENGTH"] = MARKUP_BODY
    keys = Keys(token=token) if token else Keys()
    app.config["STILLMAKE_KEYS"] = keys
    app.config["STILLMAKE_PORT"] = None  # set by `serve` once bound
    thumbs = Thumbs()
    digests = PixelDigests()

    def state() -> tuple[Build, str]:
        build = view.load_build(sources)
        return build, view.version(root, build.config)

    worker = PlanWorker(state)
    app.extensions["stillmake_plan"] = worker

    @app.before_request
    def owner_only() -> WerkzeugResponse | None:
        host = urlsplit(f"//{request.host}")
        port = app.config["STILLMAKE_PORT"]
        if host.hostname not in LOCAL_HOSTS or (port is not None and host.port != port):
            abort(403, "the review board answers only on 127.0.0.1 and localhost")
        if not same_account(request.environ.get(PEER_UID)):
            abort(403, "this review board belongs to another account; it serves no other")
        cookie = cookie_name(port)
        if not keys.session_ok(request.cookies.get(cookie)):
            if (
                request.method == "GET"
                and request.path == "/"
                and keys.token_ok(request.args.get("token"))
            ):
                return _let_in(cookie)
            if request.path != "/favicon.ico":
                abort(
                    403,
                    "open the link `stillmake review` printed (it carries this board's "
                    "token) in this browser",
                )
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin is not None and urlsplit(origin).netloc != request.host:
                abort(403, "a request from another site is refused")
        return None

    def _let_in(cookie: str) -> WerkzeugResponse:
        """The token was right: the browser keeps a session cookie no script can read
        and no other site's page sends, and goes on to the bare URL (the token stays
        out of its history)."""
        resp = redirect("/", code=303)
        resp.set_cookie(cookie, keys.session, httponly=True, samesite="Strict", path="/")
        return resp

    @app.after_request
    def headers(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = _CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        if request.path == "/" or request.path.startswith("/api/"):
            resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.errorhandler(400)
    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(405)
    @app.errorhandler(413)
    def refused(exc: HTTPException) -> tuple[Response, int]:
        return jsonify(error=exc.description or str(exc)), exc.code or 400

    @app.errorhandler(OSError)
    def cannot(exc: OSError) -> tuple[Response, int]:
        """A file the board could not read or write (a full disk, permissions): one line."""
        where = f" {exc.filename}" if exc.filename else ""
        return jsonify(error=f"cannot read or write{where}: {exc.strerror or exc}"), 500

    @app.get("/")
    def index() -> Response:
        return Response(_asset("index.html"), mimetype="text/html")

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status=204)

    @app.get("/static/<name>")
    def asset(name: str) -> Response:
        if name not in _ASSETS:
            abort(404)
        return Response(_asset(name), mimetype=_ASSETS[name])

    @app.get("/runs/<path:rel>")
    def runs_file(rel: str) -> Response:
        real = inside_runs(root, rel)
        if real is None:
            abort(404, "not a file under runs/")
        if real.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"):
            problem = pixel_problem(real)
            if problem:  # the browser is not asked to decode it either
                return _not_shown(f"runs/{rel}", problem)
            if request.args.get("thumb"):
                try:
                    return Response(thumbs.get(real), mimetype="image/jpeg")
                except (OSError, SyntaxError, ValueError):
                    return _not_shown(f"runs/{rel}", "does not decode")
        return send_file(real, conditional=True, max_age=0)

    @app.get("/api/version")
    def api_version() -> Response:
        try:
            config = sources.load()
        except StillmakeError:
            config = None
        return jsonify(version=view.version(root, config), plan=worker.generation)

    @app.get("/api/board")
    def api_board() -> Response:
        try:
            view.notice(sources.load().selections_path)  # a hand save goes in the history
            build, basis = state()
            if worker.latest is None or worker.latest.basis != basis:
                worker.ask()
            return jsonify(view.board(build, worker.latest, basis, worker.busy, digests))
        except StillmakeError as exc:  # a file that does not load (or changed mid-read)
            return jsonify(error=str(exc))

    @app.post("/api/<action>")
    def api_decide(action: str) -> tuple[Response, int]:
        do = ACTIONS.get(action)
        if do is None:
            abort(404, f"no action {action!r}; the board knows {', '.join(ACTIONS)}")
        body = _json_body(action)
        try:
            done, message = do(view.load_build(sources), body)
        except ChangedMeanwhile as exc:
            return jsonify(error=str(exc), reload=True), 409
        except StillmakeError as exc:
            return jsonify(error=str(exc)), 400
        worker.ask()
        return jsonify(ok=True, message=message, seen=done.seen), 200

    return app

"""Errors a user can act on: each names the file, shot and key at fault."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stillmake.api.backends.base import Usage
    from stillmake.api.retry import Attempt


class StillmakeError(Exception):
    """Base for every error stillmake reports to a user (no traceback needed)."""


class InputError(StillmakeError):
    """Bad input in a file the user edits (prompts, selections, config, masks)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | os.PathLike[str] | None = None,
        shot: str | int | None = None,
        key: str | None = None,
        line: int | None = None,
    ):
        self.file = str(file) if file is not None else None
        self.shot = shot
        self.key = key
        self.line = line
        self.detail = message
        where = []
        if self.file:
            where.append(f"{self.file}:{line}" if line else self.file)
        if shot is not None:
            where.append(f"shot {shot}")
        if key is not None:
            where.append(f"key '{key}'")
        prefix = ": ".join([", ".join(where)]) + ": " if where else ""
        super().__init__(prefix + message)


class ModelError(StillmakeError):
    """A model, size, quality or fidelity the model table does not allow.

    `setting` names the request setting at fault ("size", "quality", ...), so the
    caller can point at the config key that set it."""

    def __init__(self, message: str, setting: str | None = None):
        super().__init__(message)
        self.setting = setting


class BudgetExceeded(StillmakeError):
    """A paid request would take the ledger past `budget_usd`."""


class LedgerError(StillmakeError):
    """The ledger or its reservations cannot be written, or changed as asked."""


class StalePick(StillmakeError):
    """A pick was made on drafts that have since changed."""


class DecisionError(StillmakeError):
    """A decision (pick, reject, lock, reroll, edit step) that cannot be made as asked.
    `param` names the command-line argument at fault (SHOT, K, --reject), if one is."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.detail = message
        self.param = param


class ChangedMeanwhile(DecisionError):
    """What a decision was made on (a shot's entry, its drafts) changed on disk since the
    person making it looked: nothing is written, they look again."""


class IdentityUnavailable(StillmakeError):
    """dlib or its model files are not installed: identity is reported as not measured."""


class GuardrailError(StillmakeError):
    """A request the playbook forbids (high quality before a shortlist)."""


class BackendError(StillmakeError):
    """A failed call. `retryable` says whether trying again can help.

    `answered`: the API sent an answer (HTTP 200) that was refused (a bad answer, a
    critique's refusal), so it billed it: `usage` is what the answer said it cost, and the
    call path prices it into `cost_usd` (`cost_source` says how). `attempts` and
    `history`: set by api.retry.call_with_retries when it gives up (how many attempts,
    and each one's status, code, error and bill), so the caller can ledger them."""

    answered: bool = False
    usage: Usage | None = None
    cost_usd: float | None = None
    cost_source: str | None = None
    attempts: int | None = None
    history: list[Attempt] | None = None

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
        code: str | None = None,
    ):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.code = code


class ModerationBlocked(BackendError):
    """The API refused the prompt or image; never retried, never billed."""


class BadAnswer(BackendError):
    """A 200 that is not what was asked for: a body that is not JSON, base64 that does
    not decode, an image that does not decode or is of another format, size or count.
    A failed attempt like a 5xx: ledgered, retried, never cached."""

    answered = True

    def __init__(self, message: str):
        super().__init__(message, retryable=True, code="bad_answer")


class WriteFailed(StillmakeError, OSError):
    """A file could not be written (a full disk, a read-only directory). Nothing was
    replaced: every write goes to a temp file renamed into place whole. Also an OSError
    with the system's errno and words, as the error it stands for was, so callers that
    catch OSError and say what it meant for them keep doing so."""

    def __init__(self, path: str | os.PathLike[str], exc: OSError, what: str = "write"):
        super().__init__(exc.errno, exc.strerror or str(exc))
        self.filename = str(path)
        self.message = (
            f"cannot {what} {path}: {self.strerror}. Free the disk or fix the permissions, "
            "then run again"
        )

    def __str__(self) -> str:
        return self.message


class CorruptFile(StillmakeError, ValueError, OSError):
    """A file stillmake wrote or reads is truncated or corrupt (a cache entry, a sidecar,
    an image); the message names it and what to do. Also a ValueError and an OSError, as
    the json/PIL errors it replaces were, so callers that treat an unreadable file as
    missing keep doing so. `why`: what is wrong with it, without the file's name and the
    remedy (a warning that names them itself shows this), when the raiser says."""

    def __init__(self, message: str, *, why: str | None = None):
        super().__init__(message)
        self.why = why

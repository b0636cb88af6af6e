"""Errors a user can act on: each names the file, shot and key at fault."""

from __future__ import annotations

import os


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
    ):
        self.file = str(file) if file is not None else None
        self.shot = shot
        self.key = key
        self.detail = message
        where = []
        if self.file:
            where.append(self.file)
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


class StalePick(StillmakeError):
    """A pick was made on drafts that have since changed."""


class GuardrailError(StillmakeError):
    """A request the playbook forbids (high quality before a shortlist)."""


class BackendError(StillmakeError):
    """A failed call. `retryable` says whether trying again can help."""

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

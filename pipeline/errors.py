"""User-facing error types.

Every error the pipeline raises on purpose is a ``StudioError``: its message is written for the
person who made the request and is shown as-is (``gr.Error`` in the studio, one line on the CLI,
the ``error`` column of the job). Anything else escaping the pipeline is a bug.

    StudioError
    ├── BadInput            the request itself is wrong (no face, corrupt image, empty text, …)
    │   ├── JobNotFound     no job with that id
    │   └── DataFolderUnusable  the data folder cannot be written, or its studio.db is not a database
    ├── MissingKey          a hosted backend needs an API key that is not set
    ├── BackendUnavailable  a backend's package, weights or hardware is missing
    ├── RemoteError         a hosted service answered with an error
    │   ├── RemoteTimeout   …or did not answer in time
    │   ├── AuthFailed      …rejected the API key (401/403)
    │   ├── OutOfCredit     …says the account has no credit left (402)
    │   └── RateLimited     …asked us to slow down (429); ``retry_after`` in seconds when it said
    UnknownBackend          (also a KeyError) a registry lookup for a name that does not exist
"""


class StudioError(Exception):
    """Base class: the message is shown to the user."""


class BadInput(StudioError):
    """The request cannot be rendered as given."""


class MissingKey(StudioError):
    """A hosted backend needs an API key that is not configured."""


class BackendUnavailable(StudioError):
    """A backend's package, weights or hardware is missing."""


class RemoteError(StudioError):
    """A hosted service answered with an error. ``retryable``: True/False when the raiser knows whether
    trying again can help (``pipeline.remote.mark_retryable``); None: decided by the error's type."""

    retryable: bool | None = None


class RemoteTimeout(RemoteError):
    """A hosted service did not answer in time."""


class AuthFailed(RemoteError):
    """A hosted service rejected the API key."""


class OutOfCredit(RemoteError):
    """A hosted service refused because the account has no credit or quota left."""


class RateLimited(RemoteError):
    """A hosted service answered 429; ``retry_after`` is its Retry-After in seconds, if given."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class JobNotFound(BadInput):
    """No job with that id."""


class DataFolderUnusable(BadInput):
    """The data folder (``AVATAR_STUDIO_HOME``) cannot be created or written, or its ``studio.db``
    is not a usable database. A ``BadInput`` because the person running the studio chose that
    folder and is the one who can fix it; the studio's launcher refuses an unwritable folder the
    same way."""


class UnknownBackend(KeyError, StudioError):
    """A registry lookup for a backend name that is not registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "unknown backend"

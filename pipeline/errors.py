"""User-facing error types.

Every error the pipeline raises on purpose is a ``StudioError``: its message is written for the
person who made the request and is shown as-is (``gr.Error`` in the studio, one line on the CLI,
the ``error`` column of the job). Anything else escaping the pipeline is a bug.

    StudioError
    ├── BadInput            the request itself is wrong (no face, corrupt image, empty text, …)
    │   └── JobNotFound     no job with that id
    ├── MissingKey          a hosted backend needs an API key that is not set
    ├── BackendUnavailable  a backend's package, weights or hardware is missing
    ├── RemoteError         a hosted service answered with an error
    │   └── RemoteTimeout   …or did not answer in time
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
    """A hosted service answered with an error."""


class RemoteTimeout(RemoteError):
    """A hosted service did not answer in time."""


class JobNotFound(BadInput):
    """No job with that id."""


class UnknownBackend(KeyError, StudioError):
    """A registry lookup for a backend name that is not registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "unknown backend"

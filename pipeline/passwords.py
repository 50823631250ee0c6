"""Who may sign in to a studio with users: ``--auth USER:PASS`` and ``--auth-file FILE``.

An auth file has one ``user:secret`` a line (blank lines and ``#`` comments skipped). The secret is
either the password itself or, better, its hash as ``python app.py hash-password`` prints it:

    pbkdf2_sha256$600000$<salt, base64>$<hash, base64>

PBKDF2-HMAC-SHA256 with 600 000 iterations (OWASP's advice for it) and a 16-byte random salt, all
from the standard library: a file that leaks gives no password away cheaply. Passwords typed as
``--auth USER:PASS`` are visible to anyone who can list this machine's processes; a file (or its
path in ``AVATAR_STUDIO_AUTH_FILE``) keeps them off the process list.

``verify`` takes about as long for an unknown user as for a known one, and compares in constant
time, so neither timing nor the answer tells which user names exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from .errors import BadInput

SCHEME = "pbkdf2_sha256"
ITERATIONS = 600_000
SALT_BYTES = 16
_UNKNOWN = f"{SCHEME}${ITERATIONS}${base64.b64encode(b'no such user here').decode()}$"  # burns the same time


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """The line's secret for ``password``: ``pbkdf2_sha256$<iterations>$<salt>$<hash>``."""
    if not password:
        raise BadInput("the password is empty")
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def is_hashed(secret: str) -> bool:
    return secret.startswith(SCHEME + "$")


def check_secret(secret: str, password: str) -> bool:
    """Whether ``password`` matches ``secret`` (a hash as above, or the password itself)."""
    if not is_hashed(secret):
        return hmac.compare_digest(secret.encode("utf-8"), password.encode("utf-8"))
    try:
        _, iterations, salt, digest = secret.split("$")
        expected = base64.b64decode(digest)
        found = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), base64.b64decode(salt), int(iterations))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(found, expected)


class Credentials:
    """The users of a studio and their secrets (passwords or hashes)."""

    def __init__(self, secrets: dict[str, str] | None = None) -> None:
        self.secrets = dict(secrets or {})

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def __len__(self) -> int:
        return len(self.secrets)

    def add(self, user: str, secret: str, *, where: str) -> None:
        user = user.strip()
        if not user or not secret:
            raise BadInput(f"{where}: a user needs a name and a password (user:password), both non-empty")
        if user in self.secrets:
            raise BadInput(f"{where}: user {user!r} is given twice")
        if is_hashed(secret) and not _well_formed(secret):
            raise BadInput(f"{where}: the hash for {user!r} is not one `python app.py hash-password` printed")
        self.secrets[user] = secret

    def verify(self, user: str, password: str) -> bool:
        secret = self.secrets.get(user)
        matched = check_secret(secret if secret is not None else _UNKNOWN, password)
        return matched and secret is not None


def _well_formed(secret: str) -> bool:
    parts = secret.split("$")
    if len(parts) != 4 or not parts[1].isdigit() or int(parts[1]) < 1:
        return False
    try:
        return bool(base64.b64decode(parts[2], validate=True)) and bool(base64.b64decode(parts[3], validate=True))
    except ValueError:
        return False


def parse_auth(value: str) -> tuple[str, str]:
    """``user:pass`` → (user, pass); the password may itself contain colons."""
    user, sep, password = value.partition(":")
    if not sep or not user.strip() or not password:
        raise BadInput("--auth takes user:password, both non-empty")
    return user.strip(), password


def read_auth_file(path: str | Path) -> Credentials:
    """The users in an auth file (see the module docstring)."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise BadInput(f"--auth-file {path}: cannot be read ({error.strerror or type(error).__name__})") from None
    except UnicodeDecodeError:
        raise BadInput(f"--auth-file {path}: is not a UTF-8 text file") from None
    found = Credentials()
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, secret = line.partition(":")
        if not sep:
            raise BadInput(f"--auth-file {path}, line {number}: expected user:password (or user:hash)")
        found.add(user, secret.strip(), where=f"--auth-file {path}, line {number}")
    if not found:
        raise BadInput(f"--auth-file {path}: has no users (one user:password a line)")
    return found


def gather(auth: list[str] | None, auth_file: str | None) -> Credentials:
    """Every user from the ``--auth`` flags and the auth file together."""
    found = read_auth_file(auth_file) if auth_file else Credentials()
    for value in auth or []:
        user, password = parse_auth(value)
        found.add(user, password, where="--auth")
    return found

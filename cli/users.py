"""``hash-password``: a studio user's password hash for an ``--auth-file`` line."""

from __future__ import annotations

import sys

from pipeline.errors import BadInput
from pipeline.passwords import hash_password


def cmd_hash_password(args) -> int:
    """A password's hash for an auth file line (``user:<hash>``): typed twice at a terminal, else
    the first line of stdin — never an argument, which the process list would show."""
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise BadInput("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    print(hash_password(password))
    return 0

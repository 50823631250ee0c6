"""Users of a studio: ``--auth`` (repeatable), ``--auth-file`` with passwords or their hashes,
``hash-password``, who counts as having users, and the one warning a studio without users gives
when it can be reached from other machines."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT
from pipeline.errors import BadInput
from pipeline.passwords import Credentials, check_secret, gather, hash_password, read_auth_file


def test_a_hash_checks_the_password_and_only_it():
    secret = hash_password("correct horse", iterations=1000)
    assert secret.startswith("pbkdf2_sha256$1000$")
    assert check_secret(secret, "correct horse") and not check_secret(secret, "correct horse ")
    assert hash_password("same", iterations=1000) != hash_password("same", iterations=1000)  # salted
    assert check_secret("plain", "plain") and not check_secret("plain", "Plain")


def test_an_auth_file_holds_users_with_passwords_or_hashes(tmp_path):
    path = tmp_path / "users.txt"
    path.write_text(f"# the studio's users\nana:{hash_password('ana-pw', iterations=1000)}\n\nben:ben:pw:with:colons\n")
    users = read_auth_file(path)
    assert len(users) == 2
    assert users.verify("ana", "ana-pw") and not users.verify("ana", "ben:pw:with:colons")
    assert users.verify("ben", "ben:pw:with:colons") and not users.verify("nobody", "ana-pw")
    both = gather(["cleo:cleo-pw"], str(path))
    assert sorted(both.secrets) == ["ana", "ben", "cleo"]


@pytest.mark.parametrize("content,message", [
    ("", "has no users"),
    ("just-a-name\n", "line 1: expected user:password"),
    ("ana:pw\nana:other\n", "line 2: user 'ana' is given twice"),
    ("ana:\n", "line 1: a user needs a name and a password"),
    ("ana:pbkdf2_sha256$x$y$z\n", "line 1: the hash for 'ana' is not one `python app.py hash-password` printed"),
])
def test_a_bad_auth_file_says_which_line(tmp_path, content, message):
    path = tmp_path / "users.txt"
    path.write_text(content)
    with pytest.raises(BadInput, match=message.replace("(", r"\(").replace(")", r"\)").replace("$", r"\$")):
        read_auth_file(path)


def test_a_missing_auth_file_and_a_repeated_user_are_one_line_errors(tmp_path):
    with pytest.raises(BadInput, match="cannot be read"):
        read_auth_file(tmp_path / "nope.txt")
    with pytest.raises(BadInput, match="user 'ana' is given twice"):
        gather(["ana:1", "ana:2"], None)


def test_who_has_users():
    from studio.guard import OAUTH, OPEN, PASSWORD
    from studio.launch import choose_access

    assert choose_access(Credentials({"ana": "pw"}), {}).mode == PASSWORD
    assert choose_access(Credentials(), {"SPACE_ID": "me/studio", "OAUTH_CLIENT_ID": "x"}).mode == OAUTH
    assert choose_access(Credentials(), {"SPACE_ID": "me/studio"}).mode == OPEN
    assert choose_access(Credentials(), {}).mode == OPEN


def test_a_reachable_studio_without_users_warns_once():
    from studio.guard import PASSWORD, Access
    from studio.launch import exposure_warning

    for local in ("127.0.0.1", "localhost", "::1", "127.0.1.1"):
        assert exposure_warning(local, False, Access()) is None
    line = exposure_warning("0.0.0.0", False, Access())
    assert line.startswith("warning: the studio is served on 0.0.0.0, reachable from other machines with no users")
    assert "--auth USER:PASS" in line and "\n" not in line
    assert "gradio.live" in exposure_warning("127.0.0.1", True, Access())
    assert exposure_warning("0.0.0.0", True, Access(PASSWORD)) is None


def test_hash_password_reads_stdin_and_prints_a_line_the_auth_file_takes(tmp_path):
    done = subprocess.run([sys.executable, "app.py", "hash-password"], cwd=ROOT, input="s3cret\n",
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip()
    assert secret.startswith("pbkdf2_sha256$600000$") and check_secret(secret, "s3cret")
    path = tmp_path / "users.txt"
    path.write_text(f"ana:{secret}\n")
    assert read_auth_file(path).verify("ana", "s3cret")


def test_bad_auth_file_flag_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run([sys.executable, "app.py", "--auth-file", str(tmp_path / "missing.txt"), "--no-browser"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: --auth-file {tmp_path / 'missing.txt'}: cannot be read "
                                                "(No such file or directory)"]

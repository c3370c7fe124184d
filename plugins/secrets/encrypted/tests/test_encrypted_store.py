"""The encrypted store: real AES-256-GCM files in a temporary home, real processes for crashes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from toolhive.contracts.secrets import SecretNotFoundError, SecretsError
from toolhive_secrets_encrypted.config import EncryptedConfig
from toolhive_secrets_encrypted.provider import PASSWORD_ENV, EncryptedProvider


@pytest.fixture(autouse=True)
def no_keyring(monkeypatch, thv_home):
    """This machine has no OS keyring; make that explicit whatever keyring would pick."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    return thv_home


def store(thv_home) -> Path:
    return thv_home.data / "toolhive" / "secrets_encrypted"


def env_provider(password: str = "correct horse", **kw) -> EncryptedProvider:
    return EncryptedProvider(environ={PASSWORD_ENV: password}, prompt=None, **kw)


def go_decrypt(data: bytes, password: str) -> dict:
    """Decrypt as ToolHive (Go) does: key = SHA-256(password), nonce | ciphertext | tag."""
    key = hashlib.sha256(password.encode()).digest()
    return json.loads(AESGCM(key).decrypt(data[:12], data[12:], None))


def test_round_trip_in_toolhive_format(thv_home):
    p = env_provider()
    p.set_secret("github", "ghp_123")
    p.set_secret("db", "hunter2")
    assert env_provider().get_secret("github") == "ghp_123"  # a fresh process's view
    assert [d.key for d in p.list_secrets()] == ["db", "github"]
    path = store(thv_home)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    raw = path.read_bytes()
    assert b"ghp_123" not in raw and b"github" not in raw
    assert go_decrypt(raw, "correct horse") == {"secrets": {"github": "ghp_123", "db": "hunter2"}}
    p.delete_secret("github")
    with pytest.raises(SecretNotFoundError, match="'github' not found"):
        p.get_secret("github")
    with pytest.raises(SecretNotFoundError):
        p.delete_secret("github")
    p.cleanup()
    assert p.list_secrets() == []
    assert go_decrypt(path.read_bytes(), "correct horse") == {"secrets": {}}


def test_reads_a_store_written_by_toolhive_go(thv_home):
    key = hashlib.sha256(b"pw").digest()
    nonce = os.urandom(12)
    body = json.dumps({"secrets": {"from-go": "yes"}}).encode()
    path = store(thv_home)
    path.parent.mkdir(parents=True)
    path.write_bytes(nonce + AESGCM(key).encrypt(nonce, body, None))
    assert env_provider("pw").get_secret("from-go") == "yes"
    path.write_bytes(b"")  # ToolHive treats an empty file as an empty store
    assert env_provider("pw").list_secrets() == []


def test_wrong_password_leaves_the_file_and_the_right_one_works(thv_home):
    env_provider("right").set_secret("k", "v")
    before = store(thv_home).read_bytes()
    wrong = env_provider("wrong")
    with pytest.raises(SecretsError, match=f"{PASSWORD_ENV} does not decrypt .*left untouched"):
        wrong.get_secret("k")
    with pytest.raises(SecretsError):
        wrong.set_secret("k", "overwritten?")
    assert store(thv_home).read_bytes() == before
    assert env_provider("right").get_secret("k") == "v"


def test_a_wrong_password_at_the_prompt_can_be_retried(thv_home):
    env_provider("right").set_secret("k", "v")
    answers = iter(["wrong", "", "right"])
    notices: list[str] = []
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return next(answers)

    p = EncryptedProvider(environ={}, prompt=prompt, notice=notices.append)
    assert p.get_secret("k") == "v"
    assert asked == ["Secrets password: "] * 3
    assert notices == ["Wrong password. Try again.", "The password cannot be empty."]
    # Typed, not in a keyring: a detached supervisor gets it through its environment.
    assert p.child_environment() == {PASSWORD_ENV: "right"}
    assert env_provider("right").child_environment() == {}


def test_too_many_wrong_passwords(thv_home):
    env_provider("right").set_secret("k", "v")
    before = store(thv_home).read_bytes()
    p = EncryptedProvider(
        EncryptedConfig(password_attempts=2),
        environ={},
        prompt=lambda _: "no",
        notice=lambda _: None,
    )
    with pytest.raises(SecretsError, match=r"no valid password .* after 2 attempts"):
        p.set_secret("k", "x")
    assert store(thv_home).read_bytes() == before


def test_new_store_asks_twice(thv_home):
    answers = iter(["one", "two", "pw", "pw"])
    notices: list[str] = []
    p = EncryptedProvider(environ={}, prompt=lambda _: next(answers), notice=notices.append)
    p.check()
    assert "The passwords do not match." in notices
    assert go_decrypt(store(thv_home).read_bytes(), "pw") == {"secrets": {}}


def test_no_password_source_is_a_clear_error(thv_home):
    p = EncryptedProvider(environ={}, prompt=None)
    with pytest.raises(SecretsError, match=f"no OS keyring is available: set {PASSWORD_ENV}"):
        p.list_secrets()
    detached = EncryptedProvider(environ={"TOOLHIVE_DETACHED": "1"})  # the terminal default
    with pytest.raises(SecretsError, match="needs a password"):
        detached.list_secrets()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01garbage", "damaged .*too short"),
        (os.urandom(200), "does not decrypt"),
    ],
)
def test_corrupted_file_is_reported_and_never_overwritten(thv_home, content, message):
    path = store(thv_home)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    p = env_provider()
    for op in (lambda: p.get_secret("k"), lambda: p.set_secret("k", "v"), p.cleanup, p.check):
        with pytest.raises(SecretsError, match=message):
            op()
    assert path.read_bytes() == content


def test_decrypts_but_is_not_a_store(thv_home):
    key = hashlib.sha256(b"pw").digest()
    nonce = os.urandom(12)
    path = store(thv_home)
    path.parent.mkdir(parents=True)
    content = nonce + AESGCM(key).encrypt(nonce, b"[1, 2]", None)
    path.write_bytes(content)
    with pytest.raises(SecretsError, match=r"damaged .*not to a secrets document.*left untouched"):
        env_provider("pw").set_secret("a", "b")
    assert path.read_bytes() == content


WRITER = textwrap.dedent(
    """
    import os, sys, time
    from toolhive.state import atomic
    from toolhive_secrets_encrypted.provider import EncryptedProvider

    real_replace = os.replace
    def stalled_replace(src, dst):
        print("WRITTEN", flush=True)   # the new store is in the temp file, not yet renamed
        time.sleep(60)
        real_replace(src, dst)
    atomic.os.replace = stalled_replace
    EncryptedProvider(prompt=None).set_secret("k", "new")
    """
)


def test_a_crash_during_a_write_leaves_the_old_store_readable(thv_home):
    env_provider().set_secret("k", "old")
    before = store(thv_home).read_bytes()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER],
        env={**thv_home.env, PASSWORD_ENV: "correct horse"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "WRITTEN"
        temp = [p for p in store(thv_home).parent.iterdir() if p.name.endswith(".tmp")]
        assert temp, "the writer should be holding a temp file"
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
    finally:
        writer.kill()
        writer.wait()
        if writer.stdout:
            writer.stdout.close()
    assert store(thv_home).read_bytes() == before
    p = env_provider()
    assert p.get_secret("k") == "old"
    p.set_secret("k", "after")  # the lock died with the writer; a leftover temp file is harmless
    assert env_provider().get_secret("k") == "after"


LOOP_WRITER = textwrap.dedent(
    """
    import itertools, sys
    from toolhive_secrets_encrypted.provider import EncryptedProvider
    p = EncryptedProvider(prompt=None)
    print("GO", flush=True)
    for i in itertools.count():
        p.set_secret("counter", str(i))
        p.set_secret(f"bulk{i % 50}", "x" * 20000)
    """
)


def test_killing_a_busy_writer_at_random_moments(thv_home):
    env_provider().set_secret("counter", "-1")
    seen: list[int] = []
    for delay in (0.05, 0.13, 0.21, 0.37):
        writer = subprocess.Popen(
            [sys.executable, "-c", LOOP_WRITER],
            env={**thv_home.env, PASSWORD_ENV: "correct horse"},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "GO"
        time.sleep(delay)
        writer.kill()
        writer.wait()
        writer.stdout.close()
        seen.append(int(env_provider().get_secret("counter")))  # always decrypts
    assert seen[-1] >= 0


def test_concurrent_writers_do_not_lose_updates(thv_home):
    env_provider().check()

    def write(prefix: str) -> None:
        p = env_provider()
        for i in range(8):
            p.set_secret(f"{prefix}{i}", "v")

    threads = [threading.Thread(target=write, args=(c,)) for c in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(env_provider().list_secrets()) == 24

"""The vault provider through the real ``hvac`` client against a Vault-API-compatible server."""

from __future__ import annotations

import datetime
import ssl
import time
from pathlib import Path

import pytest
from fake_vault import FakeVault
from toolhive.contracts import InvalidInputError
from toolhive.contracts.secrets import SecretNotFoundError, SecretsError
from toolhive_secrets_vault.config import VaultConfig
from toolhive_secrets_vault.provider import VaultAuthError, VaultDeniedError, VaultProvider

ALL = {"create", "read", "update", "delete", "list"}


def provider(vault: FakeVault, **settings) -> VaultProvider:
    settings.setdefault("address", vault.url)
    if settings.get("auth_method", "token") == "token":
        settings.setdefault("token", vault.add_token())
    return VaultProvider(VaultConfig(**settings), environ={})


def test_kv2_read_write_list_delete(fake_vault: FakeVault):
    p = provider(fake_vault)
    p.set_secret("github-token", "ghp_one")
    p.set_secret("team/db-password", "hunter2")
    assert p.get_secret("github-token") == "ghp_one"
    p.set_secret("github-token", "ghp_two")  # a new version
    assert p.get_secret("github-token") == "ghp_two"
    assert fake_vault.kv[("", "secret", "toolhive/github-token")] == [
        {"value": "ghp_one"},
        {"value": "ghp_two"},
    ]
    assert [(d.key, d.description) for d in p.list_secrets()] == [
        ("github-token", "secret/toolhive/github-token"),
        ("team/db-password", "secret/toolhive/team/db-password"),
    ]
    p.delete_secret("github-token")
    with pytest.raises(SecretNotFoundError, match="github-token"):
        p.get_secret("github-token")
    with pytest.raises(SecretNotFoundError):
        p.delete_secret("github-token")
    assert ("", "secret", "toolhive/github-token") not in fake_vault.kv
    p.cleanup()
    assert p.list_secrets() == []


def test_mount_prefix_and_field_are_configurable(fake_vault: FakeVault):
    fake_vault.mounts.add(("", "kv"))
    fake_vault.kv[("", "kv", "apps/mcp/gh")] = [{"token": "t0k", "user": "me"}]
    p = provider(fake_vault, mount="kv", path_prefix="apps/mcp", field="token")
    assert p.get_secret("gh") == "t0k"
    assert p.get_secret("gh#user") == "me"
    with pytest.raises(SecretsError, match=r"no 'nope' key \(it has: token, user\)"):
        p.get_secret("gh#nope")
    p.set_secret("new", "v")
    assert fake_vault.kv[("", "kv", "apps/mcp/new")] == [{"token": "v"}]
    for bad in ("../escape", "/abs", "a/../b"):
        with pytest.raises(InvalidInputError):
            p.get_secret(bad)


def test_expired_token_is_a_clear_error(fake_vault: FakeVault):
    token = fake_vault.add_token(ttl=60)
    p = provider(fake_vault, token=token)
    p.set_secret("x", "1")
    fake_vault.expire(token)
    with pytest.raises(VaultAuthError, match=r"rejected .*\(invalid or expired\)"):
        p.get_secret("x")


def test_permission_denied_is_told_apart_from_a_bad_token(fake_vault: FakeVault):
    writer = provider(fake_vault)
    writer.set_secret("shared/x", "1")
    writer.set_secret("private/y", "2")
    reader = provider(
        fake_vault,
        token=fake_vault.add_token(
            {"secret/data/toolhive/shared/*": {"read"}, "secret/metadata/toolhive*": {"list"}}
        ),
    )
    assert reader.get_secret("shared/x") == "1"
    with pytest.raises(VaultDeniedError, match="may not read secret/toolhive/private/y"):
        reader.get_secret("private/y")
    with pytest.raises(VaultDeniedError, match="may not write"):
        reader.set_secret("shared/x", "changed")
    assert fake_vault.kv[("", "secret", "toolhive/shared/x")] == [{"value": "1"}]
    assert VaultDeniedError.__mro__[1] is SecretsError


def test_approle_logs_in_and_again_when_its_token_expires(fake_vault: FakeVault):
    role_id, secret_id = fake_vault.add_approle(token_ttl=1)
    p = provider(fake_vault, auth_method="approle", role_id=role_id, secret_id=secret_id)
    p.set_secret("a", "1")
    assert fake_vault.logins == 1
    time.sleep(1.1)
    assert p.get_secret("a") == "1"  # 403 → lookup-self says expired → login → retry
    assert fake_vault.logins == 2


def test_approle_with_a_wrong_secret_id(fake_vault: FakeVault, tmp_path: Path):
    role_id, _ = fake_vault.add_approle()
    secret_file = tmp_path / "secret-id"
    secret_file.write_text("not-it\n")
    p = provider(
        fake_vault, auth_method="approle", role_id=role_id, secret_id_file=str(secret_file)
    )
    with pytest.raises(VaultAuthError, match=r"AppRole login .* was refused"):
        p.get_secret("a")


def test_namespaces_keep_data_apart(fake_vault: FakeVault):
    fake_vault.mounts |= {("team-a", "secret"), ("team-b", "secret")}
    a = provider(fake_vault, namespace="team-a", token=fake_vault.add_token(namespace="team-a"))
    b = provider(fake_vault, namespace="team-b", token=fake_vault.add_token(namespace="team-b"))
    a.set_secret("k", "in-a")
    with pytest.raises(SecretNotFoundError):
        b.get_secret("k")
    assert a.get_secret("k") == "in-a"
    assert ("POST", "/v1/secret/data/toolhive/k", "team-a") in fake_vault.requests
    # A token of one namespace is not valid in another.
    wrong = provider(fake_vault, namespace="team-b", token=fake_vault.add_token(namespace="team-a"))
    with pytest.raises(VaultAuthError):
        wrong.get_secret("k")


def test_environment_variables_are_the_defaults(fake_vault: FakeVault):
    token = fake_vault.add_token()
    p = VaultProvider(VaultConfig(), environ={"VAULT_ADDR": fake_vault.url, "VAULT_TOKEN": token})
    p.set_secret("e", "1")
    assert p.get_secret("e") == "1"
    missing = VaultProvider(VaultConfig(), environ={})
    with pytest.raises(InvalidInputError, match="VAULT_ADDR"):
        missing.get_secret("e")


def test_unreachable_vault(tmp_path: Path):
    p = VaultProvider(VaultConfig(address="http://127.0.0.1:9", token="t", timeout=2), environ={})
    with pytest.raises(SecretsError, match=r"cannot reach Vault at http://127.0.0.1:9"):
        p.get_secret("x")


def _tls_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "thv test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path, cert_path, key_path = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca_path.write_bytes(ca.public_bytes(pem))
    cert_path.write_bytes(cert.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


def test_tls_with_a_custom_ca(tmp_path: Path):
    ca, cert, key = _tls_files(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    vault = FakeVault(tls=context)
    url = vault.start()
    try:
        token = vault.add_token()
        untrusted = VaultProvider(VaultConfig(address=url, token=token), environ={})
        with pytest.raises(SecretsError, match=r"TLS verification .*ca_cert"):
            untrusted.set_secret("t", "1")
        trusted = VaultProvider(VaultConfig(address=url, token=token, ca_cert=str(ca)), environ={})
        trusted.set_secret("t", "1")
        assert trusted.get_secret("t") == "1"
        via_env = VaultProvider(
            VaultConfig(address=url, token=token), environ={"VAULT_CACERT": str(ca)}
        )
        assert via_env.get_secret("t") == "1"
    finally:
        vault.stop()

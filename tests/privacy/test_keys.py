"""Master key loading, data-key wrapping, AES-GCM fields and pseudonyms."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from attunexr.errors import ConfigurationError, IntegrityError
from attunexr.privacy import (
    MASTER_KEY_ENV,
    FieldCipher,
    MasterKey,
    WrappedKey,
    decrypt,
    encrypt,
    generate_data_key,
    generate_master_key_file,
    load_master_key,
    pseudonym,
)


@pytest.mark.parametrize("method", ["AES-KW", "AES-GCM"])
def test_wrap_unwrap_roundtrip_and_wrong_key(method: str) -> None:
    master = MasterKey(generate_data_key())
    dek = generate_data_key()
    wrapped = master.wrap(dek, method)
    assert wrapped.blob != dek and dek not in wrapped.blob
    assert master.unwrap(WrappedKey.from_dict(wrapped.to_dict())) == dek
    other = MasterKey(generate_data_key())
    with pytest.raises(IntegrityError, match="wrapped by master key"):
        other.unwrap(wrapped)
    flipped = bytearray(wrapped.blob)
    flipped[-1] ^= 0x01
    with pytest.raises(IntegrityError):
        master.unwrap(WrappedKey(method, bytes(flipped), wrapped.master_key_id))


def test_master_key_from_file_and_env(tmp_path, monkeypatch) -> None:
    path = generate_master_key_file(tmp_path / "keys" / "master.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    k1 = load_master_key(path)
    with pytest.raises(ConfigurationError, match="already exists"):
        generate_master_key_file(path)
    monkeypatch.setenv(MASTER_KEY_ENV, path.read_text().strip())
    assert load_master_key().key_id == k1.key_id
    raw = base64.b64decode(path.read_text())
    monkeypatch.setenv(MASTER_KEY_ENV, raw.hex())
    assert load_master_key().key_id == k1.key_id
    monkeypatch.setenv(MASTER_KEY_ENV, f"file:{path}")
    assert load_master_key().key_id == k1.key_id
    monkeypatch.setenv(MASTER_KEY_ENV, "too-short")
    with pytest.raises(ConfigurationError, match=MASTER_KEY_ENV):
        load_master_key()
    monkeypatch.delenv(MASTER_KEY_ENV)
    with pytest.raises(ConfigurationError, match="no master key"):
        load_master_key()
    with pytest.raises(ConfigurationError, match="not found"):
        load_master_key(tmp_path / "missing.key")


def test_aes_gcm_detects_any_change() -> None:
    key = generate_data_key()
    blob = encrypt(key, b"heart rate 72", b"field")
    assert b"heart rate" not in blob and b"rate 72" not in blob
    assert decrypt(key, blob, b"field") == b"heart rate 72"
    for i in (0, 12, len(blob) - 1):
        bad = bytearray(blob)
        bad[i] ^= 0x80
        with pytest.raises(IntegrityError):
            decrypt(key, bytes(bad), b"field")
    with pytest.raises(IntegrityError):
        decrypt(key, blob, b"other-field")
    with pytest.raises(IntegrityError, match="truncated"):
        decrypt(key, blob[:10])


def test_field_cipher_and_pseudonyms() -> None:
    master = MasterKey(os.urandom(32))
    fc = FieldCipher(master.derive("fields"))
    token = fc.encrypt("name", "Jane Doe")
    assert "Jane" not in token and fc.decrypt("name", token) == "Jane Doe"
    with pytest.raises(IntegrityError):
        fc.decrypt("email", token)
    pkey = master.derive("pseudonyms")
    p1, p2 = pseudonym(pkey, "patient-123"), pseudonym(pkey, "patient-124")
    assert p1 == pseudonym(pkey, "patient-123") and p1 != p2 and "123" not in p1
    assert p1 != pseudonym(MasterKey(os.urandom(32)).derive("pseudonyms"), "patient-123")

"""vigil.core.intoto_link: real rebuilderd vectors, canonical JSON, keys, parsing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from linkkit import keyid, link, pem, rebuilderd_signer, sign_link, signed_part
from vigil import errors
from vigil.core.intoto_link import (
    LinkKey,
    encode_canonical,
    link_key,
    parse_link,
    parse_link_keys,
    verify_link,
)
from vigil.errors import FormatError, SignatureError

VECTORS = sorted((Path(__file__).parents[2] / "vectors" / "intoto_link").glob("*.json"))
RB = rebuilderd_signer()
OTHER = rebuilderd_signer("other")


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_vectors_from_real_rebuilders(path: Path) -> None:
    case = json.loads(path.read_text())
    parsed = parse_link(case["link"].encode())
    keys = parse_link_keys(case["key"].encode())
    if "want_error" in case:
        with pytest.raises(getattr(errors, case["want_error"])):
            verify_link(parsed, keys)
        return
    verified = verify_link(parsed, keys)
    assert verified.key.keyid == case["want"]["keyid"]
    assert parsed.name == case["want"]["name"]
    (digests,) = parsed.products.values()
    assert digests["sha256"] == case["want"]["product_sha256"]


def test_vectors_are_there() -> None:
    assert len(VECTORS) >= 4


# Canonical JSON -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ({"b": 1, "a": [True, False, None]}, b'{"a":[true,false,null],"b":1}'),
        ({"é": "ü", "z": "\u2028"}, '{"z":"\u2028","é":"ü"}'.encode()),
        ({"q": 'a"b\\c'}, b'{"q":"a\\"b\\\\c"}'),
        ({"n": "line\nbreak"}, b'{"n":"line\nbreak"}'),  # raw newline, as securesystemslib
        ({"k": -(2**63), "m": 2**64 - 1}, b'{"k":-9223372036854775808,"m":18446744073709551615}'),
        ({"B": 1, "a": 2, "_": 3}, b'{"B":1,"_":3,"a":2}'),  # code point order
    ],
)
def test_encode_canonical(value: Any, want: bytes) -> None:
    assert encode_canonical(value) == want


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"a": 1.5}, "not an integer"),
        ({"a": 2**64}, "outside 64 bits"),
        ({"a": "tab\there"}, r"control character U\+0009"),
        ({"a\r": 1}, r"control character U\+000D"),
        ({"a": "C:\\new"}, "backslash followed by 'n'"),
    ],
)
def test_encode_canonical_refuses_ambiguous_values(value: Any, fragment: str) -> None:
    with pytest.raises(FormatError, match=fragment):
        encode_canonical(value)


def test_keyid_matches_in_toto_rs() -> None:
    # The reproducible-archlinux key (PEM) and its in-toto-rs key ID (rebuilderd tests).
    vector = json.loads((VECTORS[0].parent / "arch-filesystem.json").read_text())
    (key,) = parse_link_keys(vector["key"].encode())
    assert key.keyid == "1ae6d32cb5bb8a98312106de28e50af7e09a9b294d51df459537908ac1288b8f"
    assert link_key(key.public_key, None).keyid != key.keyid  # keyid_hash_algorithms count


# Keys -----------------------------------------------------------------------------------


def test_key_formats_agree() -> None:
    hex_key = RB.public_key.hex().encode()
    key_object = json.dumps(
        {"keytype": "ed25519", "scheme": "ed25519",
         "keyid_hash_algorithms": ["sha256", "sha512"], "keyval": {"public": RB.public_key.hex()}}
    ).encode()
    found = {
        parse_link_keys(pem(RB))[0],
        parse_link_keys(pem(RB, rfc8410=True, crlf=False))[0],
        parse_link_keys(hex_key)[0],
        parse_link_keys(key_object)[0],
    }
    assert len({k.keyid for k in found}) == 1
    assert found.pop().keyid == keyid(RB)


def test_key_object_without_hash_algorithms_has_its_own_keyid() -> None:
    public = RB.public_key.hex()
    document = {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": public}}
    (key,) = parse_link_keys(json.dumps(document).encode())
    assert key.keyid_hash_algorithms is None and key.keyid != keyid(RB)


def test_keyring_with_several_keys() -> None:
    keys = parse_link_keys(pem(RB) + pem(OTHER))
    assert [k.public_key for k in keys] == [RB.public_key, OTHER.public_key]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "no key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "never pass a private"),
        (b"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n",
         "not an Ed25519 SubjectPublicKeyInfo"),
        (b"-----BEGIN PUBLIC KEY-----\nMCow", "without its END line"),
        (b"-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n", "invalid base64"),
        (b'{"keytype": "rsa", "scheme": "rsassa-pss-sha256", "keyval": {"public": "x"}}',
         "want ed25519"),
        (b'{"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": "00", "private": "1"}}',
         "private key"),
        (json.dumps({"keytype": "ed25519", "scheme": "ed25519", "keyid": "0" * 64,
                     "keyval": {"public": "00" * 32}}).encode(), "differs from the computed"),
        ("é".encode(), "non-ASCII"),
        (b"ab" * 31, "want '-----BEGIN PUBLIC KEY-----'"),
    ],
)
def test_bad_key_files(data: bytes, fragment: str) -> None:
    with pytest.raises(FormatError, match=fragment):
        parse_link_keys(data)


# Parsing and verifying -------------------------------------------------------------------


def test_round_trip_and_verify() -> None:
    data = link("foo-1.0-1-x86_64.pkg.tar.zst", b"package", [OTHER, RB])
    parsed = parse_link(data)
    assert parsed.raw == data and parsed.name == "rebuild foo-1.0-1-x86_64.pkg.tar.zst"
    assert verify_link(parsed, [link_key(RB.public_key)]).key.keyid == keyid(RB)
    assert verify_link(parsed, parse_link_keys(pem(OTHER))).key.keyid == keyid(OTHER)


def test_signature_covers_every_signed_field() -> None:
    signed = signed_part("foo.pkg", b"x", byproducts={"stdout": "ok", "return-value": 0},
                         environment={"workdir": "/build"}, command=["make"])
    document = json.loads(sign_link(signed, [RB]))
    for field, value in [("byproducts", {"stdout": "KO", "return-value": 0}),
                         ("environment", {"workdir": "/tmp"}), ("command", ["make", "-j"]),
                         ("name", "rebuild bar.pkg")]:
        changed = {**document, "signed": {**document["signed"], field: value}}
        with pytest.raises(SignatureError, match="does not verify"):
            verify_link(parse_link(json.dumps(changed).encode()), [link_key(RB.public_key)])


def test_no_signature_by_the_key() -> None:
    parsed = parse_link(link("foo.pkg", b"x", [OTHER]))
    with pytest.raises(SignatureError, match="no signature by the rebuilderd key"):
        verify_link(parsed, [link_key(RB.public_key)])


def test_signature_listed_under_the_right_keyid_by_another_key() -> None:
    document = json.loads(link("foo.pkg", b"x", [OTHER]))
    document["signatures"][0]["keyid"] = keyid(RB)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_link(parse_link(json.dumps(document).encode()), [link_key(RB.public_key)])


def _mutate(**changes: Any) -> bytes:
    document = json.loads(link("foo.pkg", b"x", [RB]))
    for path, value in changes.items():
        target = document
        *parents, last = path.split("__")
        for parent in parents:
            target = target[parent]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"[]", "want a JSON object"),
        (b'{"signatures": [], "signed": {}, "x": 1}', "want fields 'signatures' and 'signed'"),
        (_mutate(signed___type="layout"), "_type: 'layout', want 'link'"),
        (_mutate(signed__extra=1), "unknown 'extra'"),
        (_mutate(signed__materials=KeyError), "missing materials"),
        (_mutate(signed__products={"a": {"sha256": "AB" * 32}}), "want lowercase hex"),
        (_mutate(signed__products={"a": {"sha256": "ab"}}), "2 hex characters, want 64"),
        (_mutate(signed__products={"a": {}}), "1 to 16 digests"),
        (_mutate(signed__products={"a\nb": {"sha256": "ab" * 32}}), "control character"),
        (_mutate(signed__products={"": {"sha256": "ab" * 32}}), "want 1 to 4096"),
        (_mutate(signed__command="make"), "command: want an array"),
        (_mutate(signed__environment=[]), "environment: want an object or null"),
        (_mutate(signed__byproducts={"return-value": 0.5}), "not an integer"),
        (_mutate(signed__name="a\tb"), r"control character U\+0009"),
        (_mutate(signatures=[{"keyid": "ab", "sig": "00"}]), "keyid: want 64"),
        (_mutate(signatures=[{"keyid": "a" * 64, "sig": "0"}]), "sig: want lowercase hex"),
        (_mutate(signatures=[{"keyid": "a" * 64, "sig": "00", "x": 1}]), "exactly 'keyid'"),
        (_mutate(signatures=[{"keyid": "a" * 64, "sig": "00"}] * 2), "signed twice"),
        (_mutate(signatures=[{"keyid": f"{i:064x}", "sig": "00"} for i in range(65)]),
         "at most 64"),
        (b'{"signatures": [], "signed": {}}' + b" " * (1024 * 1024), "exceeds the limit"),
    ],
)
def test_parse_refuses(data: bytes, fragment: str) -> None:
    with pytest.raises(FormatError, match=fragment):
        parse_link(data)


def test_link_key_requires_32_bytes() -> None:
    with pytest.raises(FormatError, match="32 bytes"):
        LinkKey(b"\x00" * 31)

"""Fuzz and properties: in-toto links and rebuilderd key files.

Every input either parses or raises FormatError, nothing else; a link that
parses re-encodes to canonical JSON that parses back to the same value; a
link signed over that encoding verifies, and one flipped signature bit or
one changed product digest makes it fail.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzing import FUZZ_EXAMPLES, fuzz_settings, mutations
from linkkit import keyid, link, pem, rebuilderd_signer, sign_link, signed_part
from vigil.core.intoto_link import link_key, parse_link, parse_link_keys, verify_link
from vigil.errors import FormatError, SignatureError

RB = rebuilderd_signer()
KEY = link_key(RB.public_key)
SEEDS = [
    link("foo-1.0-1-x86_64.pkg.tar.zst", b"foo", [RB]),
    link("bar_2.0_amd64.deb", b"bar", [rebuilderd_signer("other"), RB],
         materials={"bar_2.0_amd64.buildinfo": {"sha256": "ab" * 32}}),
    sign_link(signed_part("a\"b\\c é", b"", byproducts={"return-value": -1, "stdout": "x\ny"},
                          environment={"workdir": "/"}, command=["make", ""]), [RB]),
]
KEY_SEEDS = [pem(RB), pem(RB, rfc8410=True, crlf=False), RB.public_key.hex().encode(),
             json.dumps({"keytype": "ed25519", "scheme": "ed25519",
                         "keyval": {"public": RB.public_key.hex()}}).encode()]
_TOKENS = [b'"', b"\\", b"\\n", b"\\u0000", b"\\t", b"{", b"}", b"[", b"]", b",", b":", b"null",
           b"1.5", b"1e999", b"-0", b"18446744073709551616", b'"_type"', b'"link"', b'"sig"',
           b'"keyid"', b'"sha256"', b"\xff", b"\n", b"-----", b"=", b"MCww"]
roundtrip_settings = settings(max_examples=min(FUZZ_EXAMPLES, 500), deadline=None)


def _parses_or_format_error(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        parsed = parse_link(data)
        # Whatever parses re-encodes to JSON that parses to the same signed value
        # (strict=False: canonical JSON writes newlines in strings raw).
        assert json.loads(parsed.signed_bytes, strict=False) == json.loads(data)["signed"]
        with contextlib.suppress(SignatureError):
            verify_link(parsed, [KEY])


@fuzz_settings
@given(st.binary(max_size=512))
def test_parse_link_random_bytes(data: bytes) -> None:
    _parses_or_format_error(data)


@fuzz_settings
@given(mutations(SEEDS, _TOKENS))
def test_parse_link_mutated(data: bytes) -> None:
    _parses_or_format_error(data)


_json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**65), 2**65)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet="ab\\n\"\t\x00é/", max_size=6)
)
json_values = st.recursive(
    _json_scalars,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["sha256", "sha512", "a", "", "a\\n"]), children, max_size=3),
    max_leaves=8,
)


@fuzz_settings
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "_type": st.sampled_from(["link", "layout"]) | json_values,
            "name": json_values,
            "materials": json_values,
            "products": st.dictionaries(
                st.text(max_size=5), st.dictionaries(st.sampled_from(["sha256", "x", "A"]),
                                                     st.sampled_from(["ab" * 32, "AB", ""])
                                                     | json_values, max_size=2), max_size=2,
            ) | json_values,
            "byproducts": json_values,
            "command": json_values,
            "environment": json_values,
        },
    ),
    st.lists(st.fixed_dictionaries({}, optional={"keyid": json_values | st.just(keyid(RB)),
                                                 "sig": json_values | st.just("00" * 64)}),
             max_size=2) | json_values,
)
def test_parse_link_random_json(signed: dict[str, Any], signatures: Any) -> None:
    _parses_or_format_error(json.dumps({"signatures": signatures, "signed": signed}).encode())


@fuzz_settings
@given(mutations(KEY_SEEDS, _TOKENS) | st.binary(max_size=200))
def test_parse_link_keys_fuzz(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        for key in parse_link_keys(data):
            assert len(key.public_key) == 32 and len(key.keyid) == 64


products = st.dictionaries(
    st.text(alphabet="abc-_./+é", min_size=1, max_size=12),
    st.binary(max_size=8).map(lambda b: {"sha256": (b * 32)[:32].hex().ljust(64, "0")}),
    min_size=1, max_size=4,
)


@roundtrip_settings
@given(products, st.integers(0, 63), st.data())
def test_signed_links_verify_and_every_change_fails(
    product_map: dict[str, dict[str, str]], bit: int, data: st.DataObject
) -> None:
    signed = signed_part("x", b"", products=product_map, materials={})
    document = json.loads(sign_link(signed, [RB]))
    assert verify_link(parse_link(json.dumps(document).encode()), [KEY]).key == KEY
    # One flipped signature bit fails.
    sig = bytearray(bytes.fromhex(document["signatures"][0]["sig"]))
    sig[bit] ^= 1 << data.draw(st.integers(0, 7))
    flipped = {**document, "signatures": [{"keyid": keyid(RB), "sig": sig.hex()}]}
    try:
        verify_link(parse_link(json.dumps(flipped).encode()), [KEY])
        raise AssertionError("a flipped signature bit verified")
    except SignatureError:
        pass
    # One changed product digest fails.
    name = data.draw(st.sampled_from(sorted(product_map)))
    changed = dict(product_map)
    changed[name] = {"sha256": ("f" if product_map[name]["sha256"][0] != "f" else "e")
                     + product_map[name]["sha256"][1:]}
    tampered = {**document, "signed": {**signed, "products": changed}}
    try:
        verify_link(parse_link(json.dumps(tampered).encode()), [KEY])
        raise AssertionError("a changed product digest verified")
    except SignatureError:
        pass


def test_seeds_are_valid() -> None:
    for seed in SEEDS:
        verify_link(parse_link(seed), [KEY])
    for seed in KEY_SEEDS:
        assert parse_link_keys(seed)

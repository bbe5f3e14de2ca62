"""Threat: count a rebuild that rebuilderd never vouched for, via its in-toto links.

A link signed by another key, a product digest changed after signing, a link
for another package, a link replayed from an older version of the package,
and two links that disagree: each is refused with a clear error or gives the
conservative outcome, never "reproduced" for bits nobody rebuilt.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from charterkit import key, release
from linkkit import link, rebuilderd_signer
from vigil.core.dsse import format_envelope
from vigil.core.intoto_link import link_key
from vigil.core.statements import Release, parse_rebuild
from vigil.errors import PolicyError, SignatureError
from vigil.roles.rebuilderd import attest_links
from vigil.roles.statements import release_from_file

PUB = key("pub")
REBUILDERD, MALLORY = rebuilderd_signer(), rebuilderd_signer("mallory")
KEYS = [link_key(REBUILDERD.public_key)]
V2, V2_FILE = b"foo 1.0-2 bytes", "foo-1.0-2-x86_64.pkg.tar.zst"
V1, V1_FILE = b"foo 1.0-1 bytes", "foo-1.0-1-x86_64.pkg.tar.zst"


def current_release(name: str = V2_FILE, content: bytes = V2) -> Release:
    artifacts = [(f"x86_64/{name}", hashlib.sha256(content).digest())]
    return release_from_file(format_envelope(
        release("arch", 2, [PUB], format="arch", artifacts=artifacts)))


def attest(*links: bytes, rel: Release | None = None) -> str:
    statement = attest_links(rel or current_release(),
                             [(f"link{i}", d) for i, d in enumerate(links)], KEYS,
                             builder="https://rb.example/").statement
    return parse_rebuild(statement).outcome


def test_honest_link_reproduces() -> None:
    assert attest(link(V2_FILE, V2, [REBUILDERD])) == "reproduced"


def test_link_signed_by_another_key_refused() -> None:
    with pytest.raises(SignatureError, match=r"link0: .*no signature by the rebuilderd key"):
        attest(link(V2_FILE, V2, [MALLORY]))


def test_another_keys_signature_under_rebuilderds_keyid_refused() -> None:
    document = json.loads(link(V2_FILE, V2, [MALLORY]))
    document["signatures"][0]["keyid"] = KEYS[0].keyid
    with pytest.raises(SignatureError, match="does not verify"):
        attest(json.dumps(document).encode())


def test_tampered_product_digest_refused() -> None:
    # rebuilderd vouched for other bits; the product digest is changed to the release's.
    document = json.loads(link(V2_FILE, b"what rebuilderd really built", [REBUILDERD]))
    document["signed"]["products"][V2_FILE]["sha256"] = hashlib.sha256(V2).hexdigest()
    with pytest.raises(SignatureError, match="does not verify"):
        attest(json.dumps(document).encode())


def test_one_bad_link_fails_the_whole_attestation() -> None:
    good = link(V2_FILE, V2, [REBUILDERD])
    with pytest.raises(SignatureError, match="link1: "):
        attest(good, link(V2_FILE, V2, [MALLORY]))


def test_link_for_another_package_refused() -> None:
    with pytest.raises(PolicyError, match="names no artifact of release 2 of 'arch'"):
        attest(link("bar-3.0-1-x86_64.pkg.tar.zst", b"bar", [REBUILDERD]))


def test_replayed_link_of_an_older_version_refused() -> None:
    # The older package has another file name: the link names nothing in this release.
    with pytest.raises(PolicyError, match="another package or another version"):
        attest(link(V1_FILE, V1, [REBUILDERD]))


def test_replayed_link_for_republished_file_is_a_mismatch() -> None:
    # Same file name, other bits: what rebuilderd vouched for is not what is published.
    old_link = link(V2_FILE, b"the bits published before", [REBUILDERD])
    assert attest(old_link) == "mismatch"


def test_disagreeing_links_are_a_mismatch_whatever_the_order() -> None:
    honest = link(V2_FILE, V2, [REBUILDERD])
    other = link(V2_FILE, b"other bits", [REBUILDERD])
    assert attest(honest, other) == "mismatch"
    assert attest(other, honest) == "mismatch"

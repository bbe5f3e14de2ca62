"""Test helpers for rebuilderd's in-toto links: keys, PEM files, signed links."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from vigil.core.intoto_link import encode_canonical, link_key
from vigil.core.note import Ed25519Signer, generate_signer

# The SubjectPublicKeyInfo prefix in-toto-rs (and so rebuilderd) writes.
_SPKI_NULL = bytes.fromhex("302c300706032b65700500032100")
_SPKI_RFC8410 = bytes.fromhex("302a300506032b6570032100")


def rebuilderd_signer(name: str = "rebuilderd") -> Ed25519Signer:
    """A deterministic Ed25519 key standing for a rebuilderd instance."""
    return generate_signer(f"{name}.example", hashlib.sha256(f"linkkit/{name}".encode()).digest())


def pem(signer: Ed25519Signer, *, rfc8410: bool = False, crlf: bool = True) -> bytes:
    """The PEM PUBLIC KEY file rebuilderd publishes (CRLF, NULL parameters)."""
    prefix = _SPKI_RFC8410 if rfc8410 else _SPKI_NULL
    body = base64.b64encode(prefix + signer.public_key).decode()
    newline = "\r\n" if crlf else "\n"
    lines = ["-----BEGIN PUBLIC KEY-----", body, "-----END PUBLIC KEY-----", ""]
    return newline.join(lines).encode()


def keyid(signer: Ed25519Signer) -> str:
    return link_key(signer.public_key).keyid


def sha(data: bytes) -> dict[str, str]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "sha512": hashlib.sha512(data).hexdigest()}


def signed_part(
    product: str, content: bytes, *, materials: Mapping[str, Any] | None = None, **changes: Any
) -> dict[str, Any]:
    """The ``signed`` object rebuilderd writes for one rebuilt package."""
    signed: dict[str, Any] = {
        "_type": "link",
        "name": f"rebuild {product}",
        "materials": dict(materials) if materials is not None else {product: sha(content)},
        "products": {product: sha(content)},
        "environment": None,
        "byproducts": {},
        "command": [],
    }
    signed.update(changes)
    return signed


def sign_link(signed: Mapping[str, Any], signers: Sequence[Ed25519Signer]) -> bytes:
    """A link file: ``signed`` with one signature per signer over its canonical JSON."""
    message = encode_canonical(signed)
    signatures = [{"keyid": keyid(s), "sig": s.sign(message).hex()} for s in signers]
    return json.dumps({"signatures": signatures, "signed": signed}).encode()


def link(product: str, content: bytes, signers: Sequence[Ed25519Signer], **changes: Any) -> bytes:
    """A signed rebuilderd link for one package."""
    return sign_link(signed_part(product, content, **changes), signers)

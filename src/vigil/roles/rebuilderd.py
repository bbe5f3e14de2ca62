"""Rebuild attestations from rebuilderd's signed in-toto links.

A rebuilder that runs rebuilderd already has, for every package it rebuilt
and found identical, an in-toto link signed by the rebuilderd key
(:mod:`vigil.core.intoto_link`). :func:`attest_links` turns a set of such
links into the Vigil ``rebuild`` statement about a release, by the same
rules and the same code as ``vigil attest RELEASE DIR``
(:func:`vigil.roles.statements.compare_artifact`), so the rebuilder need not
rebuild a second time::

    from vigil.core.intoto_link import parse_link_keys
    from vigil.roles.rebuilderd import attest_links

    attestation = attest_links(release, [("foo.link", data)],
                               parse_link_keys(pem), builder="https://rb.example/")
    statement = attestation.statement

Per artifact of the release:

=============  ==========================================================
reproduced     a verified link has it as a product with the release's sha256
mismatch       a verified link has it as a product with another sha256
failed         no link names it
=============  ==========================================================

A product names an artifact by its relative path, else by its file name
(rebuilderd records file names only). The statement's ``inputs`` carry, for
each link, the sha256 of the link file itself (named as in-toto names link
files, ``<step name>.<keyid[:8]>.link``) and the link's materials (the
buildinfo file, or the original package, with their digests), so anyone
holding the links can check what the attestation rests on.

No I/O: the caller reads the files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from vigil.core.intoto import Statement, Subject
from vigil.core.intoto_link import LinkKey, VerifiedLink, parse_link, verify_link
from vigil.core.statements import RebuildResult, Release
from vigil.errors import ConfigError, FormatError, PolicyError, SignatureError
from vigil.roles.statements import compare_artifact, rebuild_for, require_artifacts

__all__ = ["MAX_LINKS", "LinkAttestation", "attest_links"]

MAX_LINKS = 2048
"""Most links in one attestation (each adds two inputs; the predicate holds 4096)."""


@dataclass(frozen=True, slots=True)
class LinkAttestation:
    """The rebuild statement and what it was made from.

    Attributes:
        statement: The unsigned rebuild statement.
        links: Each link with the key that signed it, in the order given.
        sources: Per artifact name, the labels of the links that named it.
    """

    statement: Statement
    links: tuple[VerifiedLink, ...]
    sources: Mapping[str, tuple[str, ...]]


def _index(release: Release) -> tuple[dict[str, Subject], dict[str, list[Subject]]]:
    by_path: dict[str, Subject] = {}
    by_file: dict[str, list[Subject]] = {}
    for artifact in release.artifacts:
        name = artifact.name or ""
        by_path[name] = artifact
        by_file.setdefault(PurePosixPath(name).name, []).append(artifact)
    return by_path, by_file


def _artifact_for(
    product: str, by_path: dict[str, Subject], by_file: dict[str, list[Subject]], label: str
) -> Subject | None:
    if product in by_path:
        return by_path[product]
    candidates = by_file.get(PurePosixPath(product).name, [])
    if len(candidates) > 1:
        names = ", ".join(repr(c.name) for c in candidates[:5])
        raise PolicyError(
            f"{label}: product {product[:120]!r} matches several artifacts of the release "
            f"by file name ({names}); cannot tell which it is"
        )
    return candidates[0] if candidates else None


def attest_links(
    release: Release,
    links: Sequence[tuple[str, bytes]],
    keys: Sequence[LinkKey],
    *,
    builder: str,
) -> LinkAttestation:
    """Build the rebuild statement about ``release`` from rebuilderd links.

    1. The release must list artifacts (else there is nothing to compare).
    2. Every link must parse and carry a valid signature by one of ``keys``
       (:func:`~vigil.core.intoto_link.verify_link`); one bad link fails
       the whole attestation, so nothing unverified is ever counted.
    3. Every link must name at least one artifact of the release: a link
       for another package, or for another version of it (a replay), is
       refused rather than silently ignored.
    4. Each product that names an artifact must give its sha256; its
       digest set becomes that artifact's result digest.
    5. Per artifact: ``mismatch`` if any link gives another sha256 (two
       links that disagree are never counted as reproduced), else
       ``reproduced`` if a link gives it, else ``failed``.

    Args:
        release: The release (from a statement or envelope file).
        links: (label for messages, link file bytes) pairs.
        keys: The rebuilderd keys whose signatures count.
        builder: The rebuilder's identity in the statement.

    Raises:
        ConfigError: the release lists no artifacts, or no links or keys,
            or more than :data:`MAX_LINKS` links.
        FormatError: a link does not parse (the message names it).
        SignatureError: a link is not signed by any of the keys, or its
            signature does not verify.
        PolicyError: a link names no artifact of the release, a product is
            ambiguous or has no sha256.
    """
    # Step 1.
    require_artifacts(release)
    if not links:
        raise ConfigError("no in-toto links given")
    if not keys:
        raise ConfigError("no rebuilderd key given: links are only counted when verified")
    if len(links) > MAX_LINKS:
        raise ConfigError(f"{len(links)} links, at most {MAX_LINKS} per attestation")
    by_path, by_file = _index(release)
    got: dict[str, list[Mapping[str, str]]] = {}
    sources: dict[str, list[str]] = {}
    verified: list[VerifiedLink] = []
    inputs: list[Subject] = []
    for label, data in links:
        # Step 2.
        try:
            link = verify_link(parse_link(data), keys)
        except FormatError as exc:
            raise FormatError(f"{label}: {exc}") from exc
        except SignatureError as exc:
            raise SignatureError(f"{label}: {exc}") from exc
        verified.append(link)
        # Step 3.
        named = 0
        for product, digests in link.link.products.items():
            artifact = _artifact_for(product, by_path, by_file, label)
            if artifact is None:
                continue
            # Step 4.
            if "sha256" not in digests:
                raise PolicyError(
                    f"{label}: product {product[:120]!r} has no sha256 digest "
                    f"(has {', '.join(sorted(digests))})"
                )
            name = artifact.name or ""
            got.setdefault(name, []).append(digests)
            sources.setdefault(name, []).append(label)
            named += 1
        if not named:
            products = ", ".join(repr(p[:80]) for p in list(link.link.products)[:5]) or "none"
            raise PolicyError(
                f"{label}: link {link.link.name[:120]!r} names no artifact of release "
                f"{release.version} of {release.repository!r} (products: {products}); "
                "a link for another package or another version?"
            )
        inputs.append(
            Subject(
                f"{link.link.name}.{link.key.keyid[:8]}.link",
                {"sha256": hashlib.sha256(link.link.raw).hexdigest()},
            )
        )
        inputs.extend(Subject(path, d) for path, d in link.link.materials.items())
    # Step 5.
    results: list[RebuildResult] = []
    for artifact in release.artifacts:
        seen = got.get(artifact.name or "")
        if not seen:
            results.append(compare_artifact(artifact, None))
            continue
        want = artifact.digest.get("sha256")
        differing = [d for d in seen if d["sha256"] != want]
        results.append(compare_artifact(artifact, (differing or seen)[0]))
    unique_inputs: list[Subject] = []
    listed: set[tuple[str | None, tuple[tuple[str, str], ...]]] = set()
    for subject in inputs:  # the same link or material given twice is listed once
        identity = (subject.name, tuple(sorted(subject.digest.items())))
        if identity not in listed:
            listed.add(identity)
            unique_inputs.append(subject)
    statement = rebuild_for(release, results, builder=builder, inputs=unique_inputs)
    return LinkAttestation(
        statement, tuple(verified), {k: tuple(v) for k, v in sources.items()}
    )

"""A charter with per-package owners, teams and a janitor quorum (Conex), for tests.

Repository "oss" (rpm-md, publisher PUB) has janitors J1, J2, J3 with a
quorum of 2 and owners: ``foo`` by ALICE, ``bar`` by team "mirage" (M1, M2),
``baz`` by ALICE or team "mirage". Repository "plain" has no owners.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from charterkit import CharterSpec, Repo, Sim, key, release, sign_charter
from vigil.core.dsse import Envelope
from vigil.core.note import Ed25519Signer

BOARD = key("own-board")
PUB = key("own-pub")
ALICE = key("own-alice")
M1, M2 = key("own-m1"), key("own-m2")
J1, J2, J3 = key("own-j1"), key("own-j2"), key("own-j3")
MALLORY = key("own-mallory")

OWNERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foo", (ALICE.vkey,)),
    ("bar", ("team:mirage",)),
    ("baz", (ALICE.vkey, "team:mirage")),
)
SPEC = CharterSpec(
    foundation=[BOARD],
    teams=[("janitors", [J1, J2, J3]), ("mirage", [M1, M2])],
    repositories=[
        Repo("oss", [PUB], janitors="janitors", janitor_threshold=2, owners=OWNERS),
        Repo("plain", [PUB]),
    ],
)


def rpm(package: str, version: str = "1.0", arch: str = "x86_64") -> tuple[str, bytes]:
    """An rpm artifact of ``package`` (name, digest); the digest follows the version."""
    name = f"{arch}/{package}-{version}-1.{arch}.rpm"
    return name, hashlib.sha256(name.encode()).digest()


FIRST = (rpm("foo"), rpm("foo", arch="src"), rpm("bar"), rpm("baz"))
"""Release 1's artifacts: packages foo (two artifacts), bar and baz."""


def publish(
    version: int, artifacts: Sequence[tuple[str, bytes]], signers: Sequence[Ed25519Signer],
    repository: str = "oss",
) -> Envelope:
    """A release of ``repository`` with these artifacts."""
    return release(repository, version, signers, artifacts=artifacts)


def owned_scenario(spec: CharterSpec = SPEC) -> Sim:
    """Charter at index 0; release 1 of "oss" (every package new: janitor quorum) at 1."""
    sim = Sim()
    sim.submit(sign_charter(spec.text(), [BOARD]))
    sim.submit(publish(1, FIRST, [PUB, J1, J2]))
    return sim


def with_changed(
    artifacts: Sequence[tuple[str, bytes]], package: str, version: str = "2.0"
) -> list[tuple[str, bytes]]:
    """``artifacts`` with every artifact of ``package`` moved to ``version``."""
    result = []
    for name, digest in artifacts:
        base = name.rsplit("/", 1)[-1]
        if base.startswith(package + "-"):
            arch = base.rsplit(".", 2)[-2]
            result.append(rpm(package, version, arch))
        else:
            result.append((name, digest))
    return result

"""A tampered log server build, for tests only: its status map hides a repository's news,
or it skips the package owners rule.

Runs ``vigil`` with :class:`HidingCharterLog` in place of the honest
:class:`~vigil.log.charter_policy.CharterLog`. For the repository named in
``VIGIL_TAMPER_HIDE`` it keeps signing (and proving) the first record it saw,
so newer releases and advisories never show in the map: what a compromised
log would do to keep users on a vulnerable version. Everything it serves
verifies against what it signs; only an auditor replaying the log notices.

With ``VIGIL_TAMPER_SKIP_OWNERS=1`` its status map approves every package
change (Conex owners, ADR 0010): a log letting a publisher change packages
their owners never signed. Its map is then what its own (lax) rules give, so
only an auditor replaying the log with the real rules notices.
"""

from __future__ import annotations

import os
import sys

from vigil.core import merkle, statusmap
from vigil.core.statusmap import MapSnapshot
from vigil.log import charter_policy


class HidingCharterLog(charter_policy.CharterLog):
    """Freezes one repository's record in the signed map."""

    _frozen: bytes | None = None

    def root(self) -> bytes | None:
        honest = super().root()
        snapshot = self.state.snapshot()
        hide = os.environ.get("VIGIL_TAMPER_HIDE")
        if hide is None or honest is None or snapshot is None or hide not in snapshot.names:
            return honest
        position = snapshot.names.index(hide)
        if self._frozen is None:
            self._frozen = snapshot.leaves[position]
        leaves = list(snapshot.leaves)
        leaves[position] = self._frozen
        root = merkle.root_from_leaf_hashes([merkle.hash_leaf(leaf) for leaf in leaves])
        self._remember(MapSnapshot(snapshot.size, snapshot.names, tuple(leaves), root))
        return root


charter_policy.CharterLog = HidingCharterLog  # type: ignore[misc]


def _approve_everything(*args: object, **kwargs: object) -> None:
    """The package owners rule, skipped."""


if os.environ.get("VIGIL_TAMPER_SKIP_OWNERS") == "1":
    statusmap.check_approvals = _approve_everything

if __name__ == "__main__":
    from vigil.cli.main import main

    sys.exit(main(sys.argv[1:]))

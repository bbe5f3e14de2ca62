"""Vigil's core: transparency-log formats and math, with no I/O.

Merkle trees (RFC 6962/9162), C2SP signed notes, checkpoints, cosignatures,
tiles, offline proofs and witness policies, DSSE envelopes and in-toto
statements. This package imports only the standard library, PyNaCl and
:mod:`vigil.errors`; it reads no clock, environment or file.

Example::

    >>> from vigil.core import merkle
    >>> merkle.hash_leaf(b"").hex()[:16]
    '6e340b9cffb37a98'
"""

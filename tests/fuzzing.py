"""Shared settings for the parser fuzz tests (hypothesis).

CI runs each parser with 10,000 examples (``VIGIL_FUZZ_EXAMPLES``, set by the
Makefile); a quick local run may lower it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ_EXAMPLES = int(os.environ.get("VIGIL_FUZZ_EXAMPLES", "1000"))

fuzz_settings = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=False,
)


@st.composite
def mutations(draw: st.DrawFn, seeds: Sequence[bytes], tokens: Sequence[bytes]) -> bytes:
    """A valid input with a few byte-level edits: flip a bit, insert random bytes or
    one of ``tokens`` (the format's own separators and keywords), delete, cut."""
    data = bytearray(draw(st.sampled_from(list(seeds))))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        operation = draw(st.sampled_from(["flip", "insert", "token", "delete", "truncate"]))
        if operation == "flip" and position < len(data):
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif operation == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=4))
        elif operation == "token":
            data[position:position] = draw(st.sampled_from(list(tokens)))
        elif operation == "delete":
            del data[position : position + draw(st.integers(1, 8))]
        else:
            del data[position:]
    return bytes(data)

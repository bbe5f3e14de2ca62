"""Shared settings for the parser fuzz tests (hypothesis).

CI runs each parser with 10,000 examples (``VIGIL_FUZZ_EXAMPLES``, set by the
Makefile); a quick local run may lower it.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FUZZ_EXAMPLES = int(os.environ.get("VIGIL_FUZZ_EXAMPLES", "1000"))

fuzz_settings = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=False,
)

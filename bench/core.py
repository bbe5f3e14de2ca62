"""Core benchmark (issue 2): Vigil's primitives beside the raw ones they are built on.

Prints, for each figure, Vigil's rate (or time), the raw primitive measured in the
same run on this machine (``hashlib.sha256`` or PyNaCl), and the ratio. The target
is every ratio within 1.5x, and the root of 1,000,000 leaves under 1.2 s.

Run: ``.venv/bin/python bench/core.py``
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from merkle_bench import bench_merkle
from sig_bench import bench_signatures


def main() -> None:
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    rows = bench_merkle() + bench_signatures()
    print(f"{'figure':<48} {'vigil':>14} {'raw':>14} {'ratio':>7}  unit")
    worst = 0.0
    for name, vigil, raw, unit in rows:
        # Rates: raw/vigil is the slowdown; times ("s" units): vigil/raw.
        ratio = vigil / raw if unit == "s" else raw / vigil
        worst = max(worst, ratio)
        print(f"{name:<48} {vigil:>14,.2f} {raw:>14,.2f} {ratio:>6.2f}x  {unit}")
    print(f"worst slowdown against the raw primitive: {worst:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()

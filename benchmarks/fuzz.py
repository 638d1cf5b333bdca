"""Long differential fuzzing run: random specs through archc and PyTorch until time is up.

    python benchmarks/fuzz.py --minutes 60

Runs the properties of tests/test_fuzz.py (valid and perturbed networks) in rounds of fresh
random examples, and prints how many specs were tried, how many were valid, and the first
disagreement (shrunk by hypothesis) if any. Exit 1 on a disagreement.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests import test_fuzz  # noqa: E402
from tests.fuzz import networks, perturbed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--round", type=int, default=2000, help="examples per round")
    args = parser.parse_args()
    counts = {"valid": 0, "invalid": 0}

    def counting(shape, body) -> None:
        counts["valid" if test_fuzz.agree(shape, body) else "invalid"] += 1

    config = settings(
        max_examples=args.round,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )

    def check(description) -> None:
        counting(*description)

    properties = [config(given(networks())(check)), config(given(perturbed())(check))]
    deadline = time.monotonic() + args.minutes * 60
    start, rounds = time.monotonic(), 0
    try:
        while time.monotonic() < deadline:
            properties[rounds % 2]()
            rounds += 1
            total = counts["valid"] + counts["invalid"]
            print(
                f"{total:,} specs ({counts['valid']:,} valid) in {time.monotonic() - start:.0f} s",
                file=sys.stderr,
            )
    except AssertionError as exc:
        print(f"DISAGREEMENT after {sum(counts.values()):,} specs:\n{exc}")
        sys.exit(1)
    total = counts["valid"] + counts["invalid"]
    print(
        f"{total:,} random specs ({counts['valid']:,} valid, {counts['invalid']:,} rejected by "
        f"both) in {time.monotonic() - start:.0f} s: archc and PyTorch agreed on every one"
    )


if __name__ == "__main__":
    main()

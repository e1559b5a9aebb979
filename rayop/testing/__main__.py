"""``python -m rayop.testing``: replay one seed of the standard world, or sweep a range.

::

    python -m rayop.testing replay 17                      # one seed: summary, faults, verdict
    python -m rayop.testing replay 17 --timeline           # ... and the whole timeline
    python -m rayop.testing replay 17 --timeline --obj job-1
    python -m rayop.testing replay 4 --broken submit-before-record
    python -m rayop.testing sweep 0 100                    # seeds 0..99, one line each
    python -m rayop.testing sweep 60000 60100 --profile harsh   # the harsher fault profile

Exit status 1 when an invariant failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Iterator, Sequence

import structlog

from rayop.testing.chaos import PROFILES
from rayop.testing.planted import PLANTED, planted
from rayop.testing.world import SeedResult, replay_command, run_world

__all__ = ["main", "quiet_logs"]


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """Drop rayop's log lines below CRITICAL while the block runs (a sweep logs a lot)."""
    before = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(50))
    try:
        yield
    finally:
        structlog.configure(**before)


async def _one(seed: int, broken: str | None, *, keep_timeline: bool = False,
               profile: str = "ci") -> SeedResult:
    controllers, setup = planted(broken) if broken else (None, None)
    return await run_world(seed, controllers=controllers, setup=setup, profile=profile,
                           replay=replay_command(seed, broken=broken, profile=profile),
                           keep_timeline=keep_timeline)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m rayop.testing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    replay = sub.add_parser("replay", help="replay one seed of the standard world")
    replay.add_argument("seed", type=int)
    replay.add_argument("--broken", choices=sorted(PLANTED), help="plant this bug")
    replay.add_argument("--timeline", action="store_true", help="print the whole timeline")
    replay.add_argument("--obj", help="only timeline entries about objects containing this")
    replay.add_argument("--profile", choices=sorted(PROFILES), default="ci",
                        help="the fault profile (default ci)")
    sweep = sub.add_parser("sweep", help="run seeds FIRST..LAST-1, one line each")
    sweep.add_argument("first", type=int)
    sweep.add_argument("last", type=int)
    sweep.add_argument("--broken", choices=sorted(PLANTED), help="plant this bug")
    sweep.add_argument("--profile", choices=sorted(PROFILES), default="ci",
                       help="the fault profile (default ci)")
    args = parser.parse_args(argv)
    with quiet_logs():
        if args.command == "replay":
            return _replay(args.seed, args.broken, args.timeline, args.obj, args.profile)
        return _sweep(args.first, args.last, args.broken, args.profile)


def _replay(seed: int, broken: str | None, timeline: bool, obj: str | None,
            profile: str) -> int:
    result = asyncio.run(_one(seed, broken, keep_timeline=True, profile=profile))
    print(result.line())
    print(f"faults drawn: {result.schedule.describe()}")
    print(f"faults injected: {dict(sorted(result.faults.items()))}")
    if (timeline or obj) and result.timeline is not None:
        print(result.timeline.format(obj=obj))
    if result.violations:
        print(result.report)
        return 1
    return 0


def _sweep(first: int, last: int, broken: str | None, profile: str) -> int:
    failed = 0
    for seed in range(first, last):
        result = asyncio.run(_one(seed, broken, profile=profile))
        print(result.line(), flush=True)
        if result.violations:
            failed += 1
            print(f"   replay: {replay_command(seed, broken=broken, profile=profile)}")
    print(f"{last - first} seeds, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

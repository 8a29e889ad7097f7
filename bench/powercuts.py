"""Power cuts at length: `edgebox run` killed with SIGKILL at random moments (seeded) while a
client edits the LED playlist and imports IPTV channels, restarted and checked after every
cut (tests/support/powercut.py says what is checked). Prints cuts, changes acknowledged, restart
times and every problem found.

    .venv/bin/python bench/powercuts.py [--cuts 200] [--seed 1] [--channels 1500] [--cloud]

With --cloud a simulated cloud keeps the box syncing and evicting media as well, and every
file in the media cache is checked against its MD5 after each cut.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.support.powercut

from tests.support.powercut import PowerCuts, report
from tests.support.powercut_cloud import ChurningCloud


async def main(cuts: int, seed: int, channels: int, cloud: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="edgebox-powercuts-") as tmp:
        harness = PowerCuts(Path(tmp), seed=seed, channels_per_import=channels)
        began = time.monotonic()
        async with trio.open_nursery() as nursery:
            churning = None
            if cloud:
                harness.max_gap = 1.5
                churning = ChurningCloud(random.Random(seed))
                await churning.start(nursery, harness)
            figures = await harness.run(cuts)
            nursery.cancel_scope.cancel()
        print(f"seed {seed}, {channels} channels per import, box as `edgebox run`")
        if churning is not None:
            print(
                f"cloud: {len(churning.cloud.requests_to('/media/'))} media requests,"
                f" {churning.reloads} reloads, {churning.cuts_mid_download} cuts mid-download"
            )
        print(report(figures, time.monotonic() - began))
    return 1 if figures.problems else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cuts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--channels", type=int, default=1500)
    parser.add_argument(
        "--cloud", action="store_true", help="also sync and evict media from a churning cloud"
    )
    args = parser.parse_args()
    if not 1 <= args.cuts <= 100_000 or not 1 <= args.channels <= 5000:
        parser.error("--cuts must be 1-100000 and --channels 1-5000")
    sys.exit(trio.run(main, args.cuts, args.seed, args.channels, args.cloud))

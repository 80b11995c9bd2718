"""Where a process's time goes, from py-spy's collapsed stacks (`make bench-profile` writes one
file per service under bench/results/profile/).

    .venv/bin/python bench/folded_top.py bench/results/profile/inventory-service.folded [--top 25]
        [--match chassis/]

Prints the frames with the most samples *inside* them (inclusive) and *at* them (self), as a
share of the samples in which the process was busy (idle frames of the event loop, which py-spy
records as its selector's wait, are left out). `--match` keeps frames whose file contains the
text, to see one package's share.
"""

import argparse
import re
from collections import Counter
from pathlib import Path

IDLE = re.compile(r"\(selectors\.py|select \(|epoll|_run_once \(asyncio/base_events\.py:\d+\)$")
LINE = re.compile(r":\d+\)$")


def frames_of(stack: str) -> list[str]:
    # "func (file.py:12)" -> "func (file.py)": one row per function, not per line.
    return [LINE.sub(")", frame) for frame in stack.split(";")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folded", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="")
    args = parser.parse_args()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    busy = idle = 0
    for row in args.folded.read_text().splitlines():
        stack, _, count_text = row.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        leaf = stack.rsplit(";", 1)[-1]
        if IDLE.search(leaf):
            idle += count
            continue
        busy += count
        frames = frames_of(stack)
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    total = busy + idle
    print(f"{args.folded.name}: {busy} busy samples of {total} ({100 * busy / max(1, total):.0f} %)")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\n{title}:")
        rows = [(frame, n) for frame, n in counter.most_common() if args.match in frame]
        for frame, n in rows[: args.top]:
            print(f"  {100 * n / max(1, busy):5.1f} %  {frame}")


if __name__ == "__main__":
    main()

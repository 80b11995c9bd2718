"""Where a process's time goes, from py-spy's collapsed stacks (`make bench-profile` writes one
file per service under bench/results/profile/).

    .venv/bin/python bench/folded_top.py bench/results/profile/inventory-service.folded [--top 25]
        [--match chassis/]

Prints the frames with the most samples *inside* them (inclusive) and *at* them (self), as a
share of all samples (py-spy records only threads that are running, so waiting on the event
loop's selector is not in them). `--match` keeps frames whose text contains the given string,
to see one package's share.
"""

import argparse
import re
from collections import Counter
from pathlib import Path

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
    busy = 0
    for row in args.folded.read_text().splitlines():
        stack, _, count_text = row.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        busy += count
        frames = frames_of(stack)
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    print(f"{args.folded.name}: {busy} samples")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\n{title}:")
        rows = [(frame, n) for frame, n in counter.most_common() if args.match in frame]
        for frame, n in rows[: args.top]:
            print(f"  {100 * n / max(1, busy):5.1f} %  {frame}")


if __name__ == "__main__":
    main()

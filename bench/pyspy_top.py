"""Summarise a `py-spy record --format raw` profile: the busiest functions, self and inclusive.

.venv/bin/python -m bench.pyspy_top PROFILE.txt [--top 25] [--match TEXT]
"""

from __future__ import annotations

import argparse
import collections
import re

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['func']} ({path})"


def summarise(path: str, top: int, match: str | None) -> str:
    self_counts: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    total = idle = 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            frames = [_short(f) for f in stack.split(";")]
            if match and not any(match in f for f in frames):
                continue
            total += n
            leaf = frames[-1]
            if leaf.startswith(("select (", "epoll", "_worker (", "wait (threading")):
                idle += n
            self_counts[leaf] += n
            for frame in set(frames):
                inclusive[frame] += n
    out = [f"{total} samples ({idle} idle-looking leaves)", "", "self:"]
    out += [f"{n / total:6.1%}  {f}" for f, n in self_counts.most_common(top)]
    out += ["", "inclusive:"]
    out += [f"{n / total:6.1%}  {f}" for f, n in inclusive.most_common(top * 2)]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match")
    args = parser.parse_args()
    print(summarise(args.profile, args.top, args.match))


if __name__ == "__main__":
    main()

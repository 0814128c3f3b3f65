"""Writes the figures section of bench/README.md from the benchmarks' own output (`--json`), so
that no figure or "met" mark is typed by hand.

    .venv/bin/python -m bench.overhead --json bench/results/overhead.json
    .venv/bin/python -m bench.startup --json bench/results/startup.json
    .venv/bin/python -m bench.persistence --json bench/results/persistence.json
    .venv/bin/python -m bench.mail_cpu --json bench/results/mail_cpu.json
    .venv/bin/python -m bench.readme          # rewrites the part between the markers
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BEGIN = "<!-- figures: written by `python -m bench.readme`, do not edit by hand -->"
END = "<!-- end of figures -->"
ORDER = ("overhead", "startup", "persistence", "mail_cpu")


def section(name: str, result: dict) -> str:
    lines = [
        f"### {name} (`bench/{name}.py`)",
        "",
        f"    .venv/bin/python -m bench.{name} {result['command'].partition(' ')[2]}".rstrip(),
        "",
        f"Machine: {result['machine']}.",
        "",
        result["report"],
        "",
    ]
    lines += [
        f"- target {'**met**' if met else '**MISSED**'}: {text}" for text, met in result["targets"]
    ]
    return "\n".join(lines)


def figures() -> str:
    parts = []
    for name in ORDER:
        path = RESULTS / f"{name}.json"
        if path.exists():
            parts.append(section(name, json.loads(path.read_text(encoding="utf-8"))))
    return "\n\n".join(parts)


def main() -> int:
    readme = HERE / "README.md"
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        print(f"{readme}: markers missing", file=sys.stderr)
        return 1
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n\n{figures()}\n\n{END}{tail}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

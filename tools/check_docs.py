#!/usr/bin/env python3
"""Checks that the project documents itself: every relative link in its Markdown resolves to a file (and,
with an anchor, to a heading) inside the repository, no link leaves it, and no tracked file points at the
design notes outside the repository that a clone does not have.

    python3 tools/check_docs.py            prints what it checked; exits 1 on any broken or outside link
"""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# Pointers to the steering folder beside the checkout, which a clone of the project lacks.
OUTSIDE = re.compile(r"\.\./shared|/work/shared|shared/(INTERFACE|DESIGN|STYLE)\.md")


def anchors(markdown: Path) -> set:
    """GitHub-style anchors of a Markdown file's headings."""
    result = set()
    for line in markdown.read_text(encoding="utf-8").splitlines():
        match = re.match(r"#+\s+(.*)", line)
        if match:
            text = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower())
            result.add(text.replace(" ", "-"))
    return result


def tracked_files() -> list:
    listing = subprocess.run(["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True)
    return [ROOT / name for name in listing.stdout.splitlines()]


def main() -> int:
    problems, links = [], 0
    files = tracked_files()
    for path in files:
        if path.suffix != ".md" or not path.is_file():
            continue
        for target in LINK.findall(path.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # an absolute URL (a dependency's home page)
            links += 1
            name, _, anchor = target.partition("#")
            destination = (path.parent / name).resolve() if name else path
            where = f"{path.relative_to(ROOT)}: link '{target}'"
            if ROOT not in destination.parents and destination != ROOT:
                problems.append(f"{where} leaves the repository")
            elif not destination.exists():
                problems.append(f"{where} names a missing file")
            elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
                problems.append(f"{where} names a missing heading")
    for path in files:
        if not path.is_file() or path.suffix in {".onnx", ".pb", ".npy", ".resin"} or path.name == "check_docs.py":
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                problems.append(f"{path.relative_to(ROOT)}:{number}: points outside the repository: {line.strip()}")
    for problem in problems:
        print(problem)
    print(f"docs: {links} relative links in Markdown checked, {len(files)} tracked files searched for outside "
          f"pointers; {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Comments and documents point into docs/, never to a document outside the repository.

    docs_references.py          list every reference to the specification, file:line
    docs_references.py --fix    rewrite each to the docs/ page that now says it, re-wrapping
                                a comment paragraph that grows past 100 columns

tests/docs_references.rs fails while any is left. Which page says what:
"""
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = "SP" + "EC"  # spelled apart so that this file does not find itself
PAGES = {
    "1": "docs/how-it-decides.md", "2": "docs/configuration.md", "3": "docs/how-it-decides.md",
    "4": "docs/how-it-decides.md", "5": "docs/how-it-decides.md", "6": "docs/invariants.md",
    "7": "docs/commands.md", "8": "docs/metrics.md", "9": "docs/configuration.md",
    "10": "docs/operations.md", "11": "docs/README.md", "12": "docs/high-availability.md",
}
# "<spec> §4, §10", "<spec> §4–§6", "<spec> §6 invariant 9, §12", "<spec> §3's"
REFERENCE = re.compile(SPEC + r" §(\d+)((?:(?:, | and |–)§\d+| invariant \d+(?:, §\d+)?)*)")
ANY = re.compile(SPEC + r"( §|\.md)|" + "steer" + "ing repo")


def pages(match):
    numbers = [match.group(1)] + re.findall(r"§(\d+)", match.group(2))
    invariant = re.search(r"invariant \d+", match.group(2))
    names = list(dict.fromkeys(PAGES[n] for n in numbers))
    text = " and ".join(names)
    return f"{text}, {invariant.group(0)}" if invariant else text


def reflow(lines):
    out, i = [], 0
    comment = re.compile(r"^(\s*//[!/]? ?)(.*)$")
    while i < len(lines):
        m = comment.match(lines[i])
        if len(lines[i]) <= 100 or not m:
            out.append(lines[i])
            i += 1
            continue
        prefix, words, j = m.group(1), [m.group(2)], i + 1
        while j < len(lines):
            n = comment.match(lines[j])
            if not n or n.group(1) != prefix or not n.group(2).strip():
                break
            if re.match(r"^([-*|`]|\d+\.|\s)", n.group(2)):
                break
            words.append(n.group(2))
            j += 1
        out.extend(textwrap.wrap(" ".join(words), width=100, initial_indent=prefix,
                                 subsequent_indent=prefix, break_long_words=False,
                                 break_on_hyphens=False))
        i = j
    return out


def main():
    fix = "--fix" in sys.argv[1:]
    files = subprocess.check_output(["git", "ls-files"], cwd=ROOT, text=True).split()
    left = []
    for name in files:
        path = ROOT / name
        if path.name == Path(__file__).name or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        if not ANY.search(text):
            continue
        if fix:
            new = REFERENCE.sub(pages, text)
            if name.endswith(".rs"):
                new = "\n".join(reflow(new.split("\n")))
            path.write_text(new)
            text = new
        for number, line in enumerate(text.split("\n"), 1):
            if ANY.search(line):
                left.append(f"{name}:{number}: {line.strip()}")
    print("\n".join(left))
    sys.exit(1 if left else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the files of docs/writing-a-connector.md into a directory.

Every code block of the guide that belongs to a file is preceded by
`<!-- file: PATH -->`; blocks of the same file are consecutive parts of it,
separated by one blank line. `python3 scripts/guide_files.py DIR` writes
them under DIR (DIR/acme-loyalty/Cargo.toml, …), so the guide can be
followed, or checked against the crate it was written from, without
copy-paste.
"""

import pathlib
import re
import sys

MARK = re.compile(r"^<!-- file: (\S+) -->$")


def files(text):
    out, lines, i = {}, text.splitlines(), 0
    while i < len(lines):
        m = MARK.match(lines[i].strip())
        i += 1
        if not m:
            continue
        path = m.group(1)
        if path.startswith("/") or ".." in pathlib.PurePosixPath(path).parts:
            sys.exit(f"refusing path {path}")
        while not lines[i].startswith("```"):
            i += 1
        i += 1
        block = []
        while not lines[i].startswith("```"):
            block.append(lines[i])
            i += 1
        out.setdefault(path, []).append("\n".join(block).strip("\n"))
    return {p: "\n\n".join(parts) + "\n" for p, parts in out.items()}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: guide_files.py DIR")
    guide = pathlib.Path(__file__).resolve().parent.parent / "docs" / "writing-a-connector.md"
    root = pathlib.Path(sys.argv[1])
    for path, content in files(guide.read_text()).items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        print(target)


if __name__ == "__main__":
    main()

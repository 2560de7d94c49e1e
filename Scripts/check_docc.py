#!/usr/bin/env python3
"""Checks that the DocC catalog and the library's public API agree (issue 13, item 6).

Reads the symbol graph of the FruitFeatures module (made by Scripts/check_docc.sh with
`swift symbolgraph-extract` from the built module) and the catalog's Markdown, then fails when
  - a public top-level symbol is not listed in the catalog as ``Name``,
  - the catalog names a symbol the module does not have (a stale entry), or
  - a public symbol declared in Sources/FruitFeatures has no doc comment.
Synthesised members (Equatable's !=, Codable's init(from:), protocol default implementations) have no
source location and are not checked.

    python3 Scripts/check_docc.py SYMBOLS_JSON DOCC_FOLDER
"""
import json
import pathlib
import re
import sys


def main(symbols_path: str, catalog: str) -> int:
    graph = json.loads(pathlib.Path(symbols_path).read_text())
    symbols = [s for s in graph["symbols"] if s.get("accessLevel") == "public"]
    declared = [s for s in symbols if "/Sources/FruitFeatures/" in s.get("location", {}).get("uri", "")]
    top_level = {s["pathComponents"][0] for s in declared if len(s["pathComponents"]) == 1}
    every_path = {".".join(s["pathComponents"]) for s in symbols}

    listed = set()
    for page in pathlib.Path(catalog).rglob("*.md"):
        for link in re.findall(r"``([^`]+)``", page.read_text()):
            listed.add(link.split("/")[0].split("(")[0])

    problems = []
    for name in sorted(top_level - listed):
        problems.append(f"public symbol not listed in the DocC catalog: {name}")
    for name in sorted(listed):
        if name not in top_level and name not in every_path and name != graph["module"]["name"]:
            problems.append(f"the DocC catalog names a symbol the module does not have: {name}")
    for s in declared:
        if not s.get("docComment", {}).get("lines"):
            where = s["location"]["uri"].split("/Sources/", 1)[-1]
            line = s["location"]["position"]["line"] + 1
            problems.append(f"undocumented public symbol: {'.'.join(s['pathComponents'])} ({where}:{line})")

    for problem in problems:
        print(problem)
    print(f"{len(top_level)} public top-level symbols, {len(declared)} public symbols declared, "
          f"{len(listed)} catalog references; {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(64)
    sys.exit(main(sys.argv[1], sys.argv[2]))

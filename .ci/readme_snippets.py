#!/usr/bin/env python3
"""Builds and runs README snippets in a fresh crate, as a newcomer pastes them.

Usage: readme_snippets.py REPO WORK

Creates a binary crate under WORK (a temporary directory the caller removes), runs
the `cargo add` lines of the README's first Install block there (its
`path/to/haiway` pointing at REPO), and turns every Rust block of the sections named
in SECTIONS into a binary of its own, its body inside `fn main`. Then builds and runs
them: a snippet that needs a crate the Install block does not add fails to compile,
and a failing assertion fails its run.
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

SECTIONS = ["Quick start", "Memoizing async functions", "State"]
PLACEHOLDER = "path/to/haiway"


def sections(readme):
    """Maps each `## ` heading to the text under it."""
    parts = re.split(r"^## (.+)$", readme, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def blocks(text, lang):
    """The code blocks of `text` whose info string starts with `lang`."""
    found = re.findall(r"^```([^\n]*)\n(.*?)^```$", text, flags=re.M | re.S)
    return [body for info, body in found if info.split(",")[0].strip() == lang]


def unhide(code):
    """What rustdoc compiles: `# ` hidden lines shown, as a newcomer would paste them."""
    lines = []
    for line in code.splitlines():
        stripped = line.lstrip()
        if stripped == "#":
            line = ""
        elif stripped.startswith("# "):
            line = line.replace("# ", "", 1)
        lines.append(line)
    return "\n".join(lines)


def run(cmd, cwd):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=cwd, check=True)


def main():
    repo, work = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    readme = sections((repo / "README.md").read_text())

    install = blocks(readme["Install"], "sh")[0]
    adds = [line.split("#")[0].strip() for line in install.splitlines()]
    adds = [line for line in adds if line.startswith("cargo add ")]
    if not any(PLACEHOLDER in line for line in adds):
        sys.exit(f"README Install: no `cargo add` line with {PLACEHOLDER}")

    crate = work / "newcomer"
    run(["cargo", "new", "--quiet", "--vcs", "none", "--bin", str(crate)], work)
    for line in adds:
        run(shlex.split(line.replace(PLACEHOLDER, str(repo))), crate)

    (crate / "src" / "main.rs").unlink()
    bins = crate / "src" / "bin"
    bins.mkdir()
    names = []
    for section in SECTIONS:
        snippets = blocks(readme[section], "rust")
        if not snippets:
            sys.exit(f"README {section}: no Rust snippet")
        for i, code in enumerate(snippets, 1):
            name = re.sub(r"\W+", "_", section.lower()) + f"_{i}"
            body = "\n".join("    " + line for line in unhide(code).splitlines())
            (bins / f"{name}.rs").write_text(
                f"// README.md, {section}, snippet {i}\n"
                "#![allow(unused)]\n\n"
                f"fn main() {{\n{body}\n}}\n"
            )
            names.append(name)

    run(["cargo", "build", "--quiet", "--bins"], crate)
    for name in names:
        run(["cargo", "run", "--quiet", "--bin", name], crate)
    print(f"{len(names)} README snippets compiled and ran in a fresh crate "
          f"with only: {'; '.join(adds)}")


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as e:
        sys.exit(f"README snippets: `{' '.join(e.cmd)}` failed (exit {e.returncode})")

"""Fails on a dev-dependency that no file of its package names.

cargo-machete (run just before) checks `[dependencies]` only; this applies its
heuristic to `[dev-dependencies]`: a dependency is used when a Rust file of the
package (tests, benches, examples, src) names its crate as a path (`name::`,
`use name`, `extern crate name`, `#[name::...]`). Packages: the workspace root and
its members. A dependency used another way can be listed in the manifest under
`[package.metadata.cargo-machete] ignored = [...]`, as for machete.
"""

import pathlib
import re
import sys
import tomllib

repo = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
root = tomllib.loads((repo / "Cargo.toml").read_text())
workspace = root.get("workspace", {})
members = [repo / m for m in workspace.get("members", [])]
# The root's own files exclude its members' (checked on their own) and excluded ones.
others = members + [repo / e for e in workspace.get("exclude", [])]
packages = [repo] + members

unused = []
for package in packages:
    manifest = tomllib.loads((package / "Cargo.toml").read_text())
    ignored = set(
        manifest.get("package", {})
        .get("metadata", {})
        .get("cargo-machete", {})
        .get("ignored", [])
    )
    sources = [
        path.read_text()
        for path in package.rglob("*.rs")
        if "target" not in path.relative_to(package).parts
        and (package != repo or not any(path.is_relative_to(p) for p in others))
    ]
    for name in manifest.get("dev-dependencies", {}):
        # The name code uses: the key (a renamed dependency's too), `-` as `_`.
        ident = name.replace("-", "_")
        used = re.compile(
            rf"\b{ident}::|\buse\s+{ident}\b|\bextern\s+crate\s+{ident}\b"
        )
        if name not in ignored and not any(used.search(s) for s in sources):
            unused.append(f"{package.relative_to(repo)}/Cargo.toml: {name}")

if unused:
    print("unused dev-dependencies (no file of the package names them):")
    print("\n".join(f"  {u}" for u in unused))
    sys.exit(1)
print(f"every dev-dependency is used ({len(packages)} packages)")

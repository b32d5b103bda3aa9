#!/usr/bin/env python3
"""Fails when modules under a source folder import each other in a circle.

Usage: import_cycles.py SRC [--except MODULE ...]

Each file under SRC is a module (`foo/mod.rs` and `foo.rs` are `foo`, `lib.rs` the
crate root). A module imports another when it names it, or an item in it, through a
`crate::`, `super::` or `self::` path, in a `use` or inline (comments and strings are
left out; a `mod` declaration is not an import). The strongly connected components of
that graph with more than one module are the circles; each is printed with its
edges. Modules under an `--except` module are left out of the graph.
"""

import os
import re
import sys


def modules(root):
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(folder, name)
            parts = os.path.relpath(path, root)[:-3].split(os.sep)
            if parts[-1] == "mod":
                parts = parts[:-1]
            if parts == ["lib"]:
                parts = []
            found[tuple(parts)] = path
    return found


def code_of(source):
    source = re.sub(r"//[^\n]*", "", source)
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    return re.sub(r'"(\\.|[^"\\])*"', '""', source)


def use_paths(body, prefix=()):
    """The paths of one `use` tree, groups expanded."""
    start = body.find("{")
    if start < 0:
        return [list(prefix) + [s for s in body.split("::") if s]]
    head = [s for s in body[:start].split("::") if s]
    inner, parts, depth, current = body[start + 1 : body.rfind("}")], [], 0, ""
    for ch in inner:
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current:
        parts.append(current)
    out = []
    for part in parts:
        out += use_paths(part, tuple(prefix) + tuple(head))
    return out


def resolve(mods, here, segments):
    """The deepest module a `crate::`/`super::`/`self::` path names, if any."""
    if not segments:
        return None
    if segments[0] == "crate":
        base, rest = [], segments[1:]
    elif segments[0] in ("super", "self"):
        base, rest = list(here), segments
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
        if rest and rest[0] == "self":
            rest = rest[1:]
    else:
        return None
    best = tuple(base) if tuple(base) in mods else None
    path = list(base)
    for segment in rest:
        path.append(segment.split(" as ")[0])
        if tuple(path) not in mods:
            break
        best = tuple(path)
    return best


def inline_modules(module, code):
    """The code of a file split into its own part and its inline modules' (`mod x { .. }`,
    nested ones too), each with the module path its `super::`/`self::` start from."""
    parts, rest = [], code
    while True:
        m = re.search(r"\bmod\s+([A-Za-z_]\w*)\s*\{", rest)
        if not m:
            break
        depth, end = 0, len(rest)
        for i in range(m.end() - 1, len(rest)):
            depth += rest[i] == "{"
            depth -= rest[i] == "}"
            if depth == 0:
                end = i
                break
        parts += inline_modules(module + (m.group(1),), rest[m.end() : end])
        rest = rest[: m.start()] + rest[end + 1 :]
    return [(module, rest)] + parts


def main(argv):
    root, excepted = argv[1], []
    if "--except" in argv:
        excepted = [tuple(m.split("::")) for m in argv[argv.index("--except") + 1 :]]
    mods = modules(root)
    left_out = lambda m: any(m[: len(e)] == e for e in excepted)
    edges = {}
    for module, path in mods.items():
        if left_out(module):
            continue
        code = code_of(open(path, encoding="utf-8").read())
        targets = set()
        for here, part in inline_modules(module, code):
            for use in re.finditer(r"\buse\s+([^;]+);", part):
                for segments in use_paths(re.sub(r"\s+", "", use.group(1))):
                    targets.add(resolve(mods, here, segments))
            for inline in re.finditer(r"\b(?:crate|super|self)(?:::[A-Za-z_]\w*)+", part):
                targets.add(resolve(mods, here, inline.group(0).split("::")))
        # An inline module's imports are its file's: `super::*` in a file's `mod tests`
        # names the file's own module.
        targets = {t[: len(module)] if t and t[: len(module)] == module else t for t in targets}
        edges[module] = {t for t in targets if t is not None and t != module and not left_out(t)}

    # Tarjan's strongly connected components.
    index, low, stack, on_stack, circles, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10_000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    name = lambda m: "::".join(m) or "crate"
    for circle in circles:
        print("error: these modules import each other in a circle:")
        for a in sorted(circle):
            for b in sorted(edges[a] & set(circle)):
                print(f"  {name(a)} -> {name(b)}")
    if not circles:
        print(f"no import cycle among {len(edges)} modules")
    return 1 if circles else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

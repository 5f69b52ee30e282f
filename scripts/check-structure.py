#!/usr/bin/env python3
"""Structure checks of ARCHITECTURE.md: the size limits (no source file under crates/*/src over
600 lines, no function over 120 lines) and the relance binary's modules forming a graph without
cycles. Prints what breaks them and exits 1; exits 0 when everything holds.

Functions are found as `fn NAME` followed by a brace-balanced body (strings, chars and comments
skipped), which is enough for rustfmt-formatted code."""
import pathlib
import re
import sys

MAX_FILE, MAX_FN = 600, 120
root = pathlib.Path(__file__).resolve().parent.parent
FN = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")


def strip(src: str) -> str:
    """Blanks comments, strings and char literals, keeping newlines, so braces can be counted."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", src[i:j])); i = j
        elif c == "r" and re.match(r'r#*"', src[i:i + 10]) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            m = re.match(r'r(#*)"', src[i:])
            end = '"' + m.group(1)
            j = src.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", src[i:j])); i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j])); i = j
        elif c == "'":
            m = re.match(r"'(\\.|\\u\{[0-9a-fA-F]+\}|\\x[0-9a-fA-F]{2}|[^\\'])'", src[i:])
            if m:
                out.append(" " * len(m.group(0))); i += len(m.group(0))
            else:
                out.append(c); i += 1
        else:
            out.append(c); i += 1
    return "".join(out)


def functions(text: str):
    for m in FN.finditer(text):
        j = m.end()
        # the body starts at the first `{` before any `;` (a declaration without a body ends at `;`)
        while j < len(text) and text[j] not in "{;":
            j += 1
        if j >= len(text) or text[j] == ";":
            continue
        depth, k = 0, j
        while k < len(text):
            if text[k] == "{":
                depth += 1
            elif text[k] == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        start = text.count("\n", 0, m.start()) + 1
        end = text.count("\n", 0, k) + 1
        yield m.group(1), start, end - start + 1


bad = []
for path in sorted(root.glob("crates/*/src/**/*.rs")):
    src = path.read_text(encoding="utf-8")
    rel = path.relative_to(root)
    lines = src.count("\n")
    if lines > MAX_FILE:
        bad.append(f"{rel}: {lines} lines (limit {MAX_FILE})")
    for name, start, length in functions(strip(src)):
        if length > MAX_FN:
            bad.append(f"{rel}:{start}: fn {name} is {length} lines (limit {MAX_FN})")
# The binary crate's modules (crates/relance/src) import each other without cycles.
cli_src = root / "crates/relance/src"
edges = {}
for path in cli_src.glob("**/*.rs"):
    module = path.relative_to(cli_src).parts[0].removesuffix(".rs")
    uses = set(re.findall(r"crate::([a-z_]+)", path.read_text(encoding="utf-8")))
    edges.setdefault(module, set()).update(uses - {module})
state = {}


def visit(module, path):
    state[module] = "open"
    for dep in sorted(edges.get(module, ())):
        if state.get(dep) == "open":
            bad.append("crates/relance/src: module cycle " + " -> ".join(path + [dep]))
        elif dep not in state:
            visit(dep, path + [dep])
    state[module] = "done"


for module in sorted(edges):
    if module not in state:
        visit(module, [module])

for line in bad:
    print(line)
sys.exit(1 if bad else 0)

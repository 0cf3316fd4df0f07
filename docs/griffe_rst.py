"""A Griffe extension: show nablagraph's reStructuredText-flavoured docstrings as Markdown.

The docstrings follow the NumPy convention with a few reStructuredText constructs that
Python-Markdown does not know, and that would otherwise show up verbatim on the API
pages.  Before mkdocstrings parses a docstring this rewrites, in the text only:

* roles such as ``:func:`backprop` ``, ``:class:`~nablagraph.errors.ConfigError` ``
  → a code span linked to the object's API entry when there is one;
* ``.. math::`` directives → ``$$ … $$`` blocks for MathJax;
* the inline role ``:math:`w \\times h` `` → ``$w \\times h$`` for MathJax;
* simple tables (rows framed by ``====  ====`` lines) → Markdown tables;
* a paragraph ending in ``::`` (a literal block follows) → ending in ``:``.

The source files are not touched.  mkdocs.yml loads this file (``extensions:`` of the
Python handler); MkDocs itself skips it (``exclude_docs``).
"""

from __future__ import annotations

import html
import re
from typing import Any

from griffe import Alias, Extension, Object

ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj|const):`(~?)([^`]+)`")
BORDER = re.compile(r"^( *)(=+)( +=+)+ *$")


def _lookup(pkg: Object, path: str) -> Object | Alias | None:
    if path == pkg.path:
        return pkg
    if not path.startswith(pkg.path + "."):
        return None
    try:
        return pkg[path[len(pkg.path) + 1 :]]
    except Exception:  # KeyError, alias resolution errors: not there
        return None


def _resolve(name: str, obj: Object, pkg: Object) -> str:
    """The full path of ``name`` as written in ``obj``'s docstring (best effort)."""
    name = name.lstrip(".").rstrip("()")
    scopes: list[Object] = []
    cur: Any = obj
    while cur is not None:
        if cur.is_module or cur.is_class:
            scopes.append(cur)
        cur = cur.parent
    candidates = [name] if name.startswith(pkg.path + ".") else []
    candidates += [f"{s.path}.{name}" for s in scopes] + [f"{pkg.path}.{name}"]
    for path in candidates:
        found = _lookup(pkg, path)
        if found is None:
            continue
        if isinstance(found, Alias):
            try:
                return str(found.final_target.path)
            except Exception:
                return str(found.target_path)
        return str(found.path)
    return name


def _roles(text: str, obj: Object, pkg: Object) -> str:
    def repl(m: re.Match[str]) -> str:
        tilde, target = m.group(1), m.group(2).strip()
        shown = target.rsplit(".", 1)[-1] if tilde else target
        ident = _resolve(target, obj, pkg)
        return (
            f'<autoref identifier="{html.escape(ident)}" optional>'
            f"<code>{html.escape(shown)}</code></autoref>"
        )

    return ROLE.sub(repl, text)


def _math(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = re.match(r"^( *)\.\. math::(.*)$", lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent = m.group(1)
        body = [m.group(2).strip()] if m.group(2).strip() else []
        i += 1
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)):
            body.append(lines[i].strip())
            i += 1
        while body and not body[-1]:
            body.pop()
        tex = "\n".join(b for b in body if b)
        if "&" in tex or "\\\\" in tex:
            tex = "\\begin{aligned}\n" + tex + "\n\\end{aligned}"
        out += ["", f"{indent}$$", *[f"{indent}{t}" for t in tex.splitlines()], f"{indent}$$", ""]
    return out


def _cells(line: str, spans: list[tuple[int, int]]) -> list[str]:
    # Each cell runs to the start of the next column, so text that overruns its
    # border into the gap is kept.
    starts = [a for a, _ in spans] + [len(line)]
    return [line[starts[k] : max(starts[k + 1], starts[k])].strip() for k in range(len(spans))]


def _rows(lines: list[str], j: int, spans: list[tuple[int, int]]) -> tuple[list[list[str]], int]:
    """The rows from line ``j`` up to the next border; returns them and the border's index."""
    rows: list[list[str]] = []
    while j < len(lines) and not BORDER.match(lines[j]):
        if lines[j].strip():
            cells = _cells(lines[j], spans)
            # A blank first cell continues the row above; so does a first cell that
            # ends with "," or "/" (the author wrapped it).
            if rows and (not cells[0] or rows[-1][0].endswith((",", "/"))):
                rows[-1] = [f"{p} {c}".strip() for p, c in zip(rows[-1], cells)]
            else:
                rows.append(cells)
        j += 1
    return rows, j


def _tables(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = BORDER.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        spans = [(r.start(), r.end()) for r in re.finditer(r"=+", lines[i])]
        indent = m.group(1)
        rows, j = _rows(lines, i + 1, spans)
        header = [""] * len(spans)
        # A border followed by more rows separates the header from the body.
        if j + 1 < len(lines) and lines[j + 1].strip() and not BORDER.match(lines[j + 1]):
            header = [" ".join(c) for c in zip(*rows)] if rows else header
            rows, j = _rows(lines, j + 1, spans)
        esc = [[c.replace("|", "\\|") for c in r] for r in [header, *rows]]
        out += ["", indent + "| " + " | ".join(esc[0]) + " |", indent + "|" + " --- |" * len(spans)]
        out += [indent + "| " + " | ".join(r) + " |" for r in esc[1:]]
        out.append("")
        i = j + 1
    return out


def _literal_markers(lines: list[str]) -> list[str]:
    out = []
    for k, line in enumerate(lines):
        nxt = lines[k + 1] if k + 1 < len(lines) else ""
        if line.rstrip().endswith("::") and not line.strip().startswith("..") and not nxt.strip():
            line = line.rstrip()[:-1]
        out.append(line)
    return out


MATH_ROLE = re.compile(r":math:`([^`]+)`")


def convert(text: str, obj: Object, pkg: Object) -> str:
    """The Markdown form of one docstring."""
    lines = text.splitlines()
    lines = _literal_markers(_tables(_math(lines)))
    return _roles(MATH_ROLE.sub(lambda m: f"${m.group(1).strip()}$", "\n".join(lines)), obj, pkg)


class RstToMarkdown(Extension):
    """Rewrite every docstring of a package once it is loaded."""

    def on_package(self, *, pkg: Object, **kwargs: Any) -> None:
        stack: list[Object] = [pkg]
        seen: set[int] = set()
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = convert(obj.docstring.value, obj, pkg)
            for member in obj.members.values():
                if not isinstance(member, Alias):
                    stack.append(member)

"""Extracting C function definitions by name from kernel source text.

:func:`extract_function` finds the top-level definition of one function (its
declaration may span lines, as in ``static inline bool\\nbuddy_merge_likely(...)``)
and returns it from the first line of the declaration to the closing brace, with
braces matched outside comments, strings and character literals. Nothing is
rewritten: the text is the kernel's own.
"""

from __future__ import annotations

import re


def _skip_literal(text: str, i: int) -> int:
    """``text[i]`` opens a comment, string or char literal: the index after it."""
    if text.startswith("/*", i):
        end = text.find("*/", i + 2)
        return len(text) if end < 0 else end + 2
    if text.startswith("//", i):
        end = text.find("\n", i)
        return len(text) if end < 0 else end
    quote = text[i]
    j = i + 1
    while j < len(text) and text[j] != quote:
        j += 2 if text[j] == "\\" else 1
    return j + 1


def _match(text: str, i: int, open_ch: str, close_ch: str) -> int:
    """``text[i] == open_ch``: the index just after its matching ``close_ch``, or -1."""
    depth = 0
    while i < len(text):
        ch = text[i]
        if ch in "\"'" or text.startswith("/*", i) or text.startswith("//", i):
            i = _skip_literal(text, i)
            continue
        if ch == open_ch:
            depth += 1
        elif ch == close_ch:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


def _skip_space_and_comments(text: str, i: int) -> int:
    while i < len(text):
        if text[i].isspace():
            i += 1
        elif text.startswith("/*", i) or text.startswith("//", i):
            i = _skip_literal(text, i)
        else:
            break
    return i


def extract_function(source: str, name: str) -> str | None:
    """The first top-level definition of function ``name`` in ``source``, or None."""
    for m in re.finditer(r"\b" + re.escape(name) + r"\s*\(", source):
        line_start = source.rfind("\n", 0, m.start()) + 1
        line = source[line_start:m.start()]
        if not line or line[0].isspace() or line.lstrip().startswith(("#", "*", "/")):
            if line != "":
                continue
        if line and not re.match(r"^[A-Za-z_]", line):
            continue
        paren = source.index("(", m.start())
        after = _match(source, paren, "(", ")")
        if after < 0:
            continue
        body = _skip_space_and_comments(source, after)
        if body >= len(source) or source[body] != "{":
            continue  # a prototype or a call
        end = _match(source, body, "{", "}")
        if end < 0:
            continue
        # the declaration may start on earlier lines (``static inline bool`` + newline)
        start = line_start
        while start > 0:
            prev_start = source.rfind("\n", 0, start - 1) + 1
            prev = source[prev_start:start - 1]
            stripped = prev.strip()
            if not stripped or stripped.endswith((";", "}", "*/", "{")) or \
                    stripped.startswith(("#", "//", "*", "/*")) or prev[0].isspace():
                break
            start = prev_start
        return source[start:end]
    return None


__all__ = ["extract_function"]


def extract_variable(source: str, name: str) -> str | None:
    """The first top-level definition of the array or variable ``name`` with an
    initializer (``static int fallbacks[...][...] = { ... };``), or None."""
    for m in re.finditer(r"^[A-Za-z_][^;{}()=\n]*\b" + re.escape(name) + r"\b[^;{}=\n]*=\s*\{",
                         source, re.M):
        end = _match(source, m.end() - 1, "{", "}")
        if end < 0:
            continue
        semi = _skip_space_and_comments(source, end)
        if semi < len(source) and source[semi] == ";":
            return source[m.start():semi + 1]
    return None


def extract_enum(source: str, name: str) -> str | None:
    """The first top-level ``enum name { ... };`` definition, or None."""
    for m in re.finditer(r"^enum\s+" + re.escape(name) + r"\s*\{", source, re.M):
        end = _match(source, m.end() - 1, "{", "}")
        if end < 0:
            continue
        semi = _skip_space_and_comments(source, end)
        if semi < len(source) and source[semi] == ";":
            return source[m.start():semi + 1]
    return None


def declaration(text: str) -> str:
    """A function definition's declaration (up to its body), on one line with single
    spaces: ``static int nr_pcp_high(struct per_cpu_pages *pcp, ...)``."""
    body = text.index("{")
    # the body's brace is the first one after the parameter list's closing paren
    paren = text.index("(")
    close = _match(text, paren, "(", ")")
    if 0 < close <= body:
        body = close
    return re.sub(r"\s+", " ", re.sub(r"\(\s+", "(", text[:body])).strip()


def parameters(text: str) -> tuple[str, ...]:
    """The parameter types and names of a function definition, each on one line with
    single spaces (``struct zone *zone``)."""
    decl = declaration(text)
    inner = decl[decl.index("(") + 1:decl.rindex(")")]
    return tuple(re.sub(r"\s*\*\s*", " *", p).strip() for p in inner.split(",") if p.strip())


__all__ += ["declaration", "extract_enum", "extract_variable", "parameters"]

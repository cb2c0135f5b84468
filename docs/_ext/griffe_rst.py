"""A griffe extension: the reStructuredText habits of our docstrings, rendered as Markdown.

The docstrings read well in ``help()`` and editors, so they stay as they are; for the site,
``>>>`` examples and ``::`` literal blocks become fenced code, and Sphinx roles such as
``:class:`~calleague_async.errors.OutcomeUnknownError``` become cross-references (checked by
``mkdocs build --strict``) or, when the name is not ours, plain code.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|meth|func|attr|exc|mod|data|obj|const):`(~?)([\w.]+?)(\(\))?`")


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def _fenced(block: list[str], indent: int, lang: str) -> list[str]:
    pad = " " * indent
    body = textwrap.dedent("\n".join(block)).splitlines()
    return [f"{pad}```{lang}", *(f"{pad}{line}" if line else "" for line in body), f"{pad}```"]


def rst_to_markdown(text: str, resolve: Any) -> str:
    """Doctest and literal blocks to fenced code, roles to links; ``resolve`` maps names."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        indent = _indent_of(line)
        if line.lstrip().startswith(">>>"):
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            if out and out[-1].strip():
                out.append("")
            out += _fenced(block, indent, "pycon")
            continue
        if line.rstrip().endswith("::"):
            head = line.rstrip()[:-2]
            head = head.rstrip() if head.endswith(" ") or not head.strip() else f"{head}:"
            if head.strip():
                out.append(_roles(head, resolve))
            i += 1
            block = []
            while i < len(lines) and (not lines[i].strip() or _indent_of(lines[i]) > indent):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            while block and not block[0].strip():
                block.pop(0)
            out += ["", *_fenced(block, indent, "python"), ""]
            continue
        out.append(_roles(line, resolve))
        i += 1
    return "\n".join(out)


def _roles(line: str, resolve: Any) -> str:
    def link(match: re.Match[str]) -> str:
        short, name, call = match.group(1), match.group(2), match.group(3) or ""
        shown = (name.rsplit(".", 1)[-1] if short else name) + call
        target = resolve(name)
        return f"[`{shown}`][{target}]" if target else f"`{shown}`"

    return _ROLE.sub(link, line)


_GROUP = re.compile(r"_ResourceGroup\((\w+)\)")


class RstDocstrings(griffe.Extension):
    """Rewrite every docstring of the package once the object tree is complete."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Convert ``obj``'s docstring, resolving role targets in its scope."""
        if isinstance(obj, griffe.Attribute) and (group := _GROUP.fullmatch(str(obj.value))):
            # ``calls = _ResourceGroup(Calls)`` reads as what it is to a user: ``calls: Calls``,
            # made once per session, like a functools.cached_property.
            obj.annotation = griffe.ExprName(group.group(1), parent=obj.parent)
            obj.value = None
            obj.labels = {"cached", "property"}
        if obj.docstring is None:
            return

        def documented(path: str) -> bool:
            try:
                target = obj.modules_collection[path]
            except (KeyError, griffe.AliasResolutionError):
                return False
            return target.docstring is not None

        def resolve(name: str) -> str | None:
            if name.startswith("calleague_async."):
                return name
            # The innermost scope that names a documented object, as Sphinx searches; an
            # undocumented object (an enum member, say) has no anchor on the site.
            first, _, rest = name.partition(".")
            scope: griffe.Object | None = obj
            while scope is not None:
                try:
                    found = scope.resolve(first)
                except griffe.NameResolutionError:
                    pass
                else:
                    path = f"{found}.{rest}" if rest else found
                    if documented(path):
                        return path
                scope = scope.parent
            return None

        obj.docstring.value = rst_to_markdown(obj.docstring.value, resolve)

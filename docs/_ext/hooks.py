"""MkDocs hooks: pages that are the repository's own Markdown files, with their links mended.

A page whose source is only ``<!-- include: README.md -->`` shows that file, so the site's
guide is the README itself and cannot drift from it. Links between the included files stay
inside the site; links to other files of the repository point at the repository, and images
the README shows are copied into the site.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "https://github.com/calleague/calleague-async/blob/main/"
# Repository files shown as pages of the site: their links go to those pages.
PAGES = {
    "README.md": "index.md",
    "CHANGELOG.md": "changelog.md",
    "CONTRIBUTING.md": "contributing.md",
    "SECURITY.md": "security.md",
}
_INCLUDE = re.compile(r"<!-- include: ([\w.-]+) -->")
_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s:]+\.(?:png|svg|jpg|jpeg|gif))\)")


def on_files(files: Files, config: Any) -> Files:
    """Copy the images the README shows into the site, at the same relative paths."""
    for path in sorted(set(_IMAGE.findall((ROOT / "README.md").read_text(encoding="utf-8")))):
        if (ROOT / path).is_file() and files.get_file_from_path(path) is None:
            files.append(File(path, str(ROOT), config["site_dir"], config["use_directory_urls"]))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Replace an include marker with the file, its links made to work on the site."""

    def include(match: re.Match[str]) -> str:
        name = match.group(1)
        return _LINK.sub(_mend, (ROOT / name).read_text(encoding="utf-8"))

    return _INCLUDE.sub(include, markdown)


def _mend(match: re.Match[str]) -> str:
    bang, text, target = match.groups()
    path, _, anchor = target.partition("#")
    if not path or ":" in path or bang:  # an anchor, a URL, or an image copied by on_files
        return match.group(0)
    if path in PAGES:
        return f"[{text}]({PAGES[path]}{'#' + anchor if anchor else ''})"
    return f"[{text}]({REPOSITORY}{target})"

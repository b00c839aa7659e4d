"""README and docs/ stay navigable: links resolve, the index lists every page, env-table markers hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
PAGES = [REPO / "README.md", *sorted(DOCS.glob("*.md"))]
# Markdown links outside code spans: [text](target). Code blocks and spans hold no links in these pages.
LINK = re.compile(r"(?<!`)\[[^\]\n]+\]\(([^)\s]+)\)")
# Where the settings generator writes each function's environment-variable table.
ENV_TABLE_PAGES = {
    "inventory_created": "inventory-created.md",
    "batch_qualifier": "batch-qualifier.md",
    "throttled_indexer": "throttled-indexer.md",
}


def _slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", page.read_text(), re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto: ... are not checked offline
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file {resolved}")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading with anchor #{anchor} in {resolved.name}")
    assert not broken, f"{page.relative_to(REPO)} has broken links:\n" + "\n".join(broken)


def test_docs_index_lists_every_page():
    index = (DOCS / "README.md").read_text()
    linked = {target.partition("#")[0] for target in LINK.findall(index)}
    missing = [p.name for p in DOCS.glob("*.md") if p.name != "README.md" and p.name not in linked]
    assert not missing, f"docs/README.md does not link {missing}"


@pytest.mark.parametrize("function", sorted(ENV_TABLE_PAGES))
def test_each_function_page_has_one_env_table_between_markers(function):
    text = (DOCS / ENV_TABLE_PAGES[function]).read_text()
    begin, end = f"<!-- env-table:{function} begin -->", f"<!-- env-table:{function} end -->"
    assert text.count(begin) == 1 and text.count(end) == 1, (
        f"{ENV_TABLE_PAGES[function]}: one {begin} / {end}"
    )
    body = text[text.index(begin) + len(begin) : text.index(end)]
    assert "## Environment variables" in text[: text.index(begin)]
    # the markers hold the table and nothing else (empty until a function has variables)
    assert all(line.startswith("|") for line in body.strip().splitlines()), body

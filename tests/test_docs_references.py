"""Docs references stay followable: no "SPEC §N" pointing outside the repository, and every
`docs/<page>.md#<anchor>` cited in code or docs names an existing page and heading."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("vidaio", "scoring", "services", "neurons", "tests", "benchmarks", "docs", "scripts")
SUFFIXES = {".py", ".md", ".js", ".sh", ".toml"}
REF = re.compile(r"docs/([\w-]+\.md)((?:#[\w-]+)(?: and #[\w-]+)*)?")


def _files() -> list[Path]:
    out = [ROOT / "README.md", ROOT / ".env.example", ROOT / "ecosystem.config.js"]
    for top in SCANNED:
        out += [p for p in (ROOT / top).rglob("*") if p.suffix in SUFFIXES and "out" not in p.parts]
    return [p for p in out if p.is_file() and p != Path(__file__)]


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    found = set()
    for line in page.read_text().splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            text = re.sub(r"[`*]", "", m.group(1)).strip().lower()
            found.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text)))
    return found


def test_no_reference_to_the_external_spec() -> None:
    bad = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in _files()
        for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
        if re.search(r"SPEC ?§|SPEC \d|SPEC\.md|SPEC:", line)
    ]
    assert not bad, "references to a spec outside the repository (point to docs/ instead):\n" + "\n".join(bad)


def test_every_docs_reference_names_an_existing_page_and_heading() -> None:
    bad, seen = [], 0
    for p in _files():
        for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
            for m in REF.finditer(line):
                seen += 1
                page = ROOT / "docs" / m.group(1)
                if not page.is_file():
                    bad.append(f"{p.relative_to(ROOT)}:{n}: no page docs/{m.group(1)}")
                    continue
                for anchor in re.findall(r"#([\w-]+)", m.group(2) or ""):
                    if anchor not in anchors(page):
                        bad.append(f"{p.relative_to(ROOT)}:{n}: docs/{m.group(1)} has no heading #{anchor}")
    assert seen > 40, "the scan found (almost) no docs references: is it looking in the right place?"
    assert not bad, "\n".join(bad)


def test_anchor_rule_matches_github() -> None:
    page = ROOT / "docs" / "operations.md"
    assert "9-the-one-machine-subnet" in anchors(page)
    assert {"rolling-history-and-multipliers", "output-validation", "metrics"} <= anchors(ROOT / "docs" / "scoring.md")

"""The built book: every page exists, shows its figures, has a Colab link, and its math renders.

Needs `jb build . -W -n --keep-going` first (tests/run_all.sh does this); without a build the
tests are skipped, unless REQUIRE_BOOK_BUILD=1, when a missing build fails.
"""

import hashlib
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"


def _files(entries):
    for entry in entries:
        if "file" in entry:
            yield entry["file"]
        yield from _files(entry.get("chapters", []) + entry.get("sections", []))


def pages():
    """Every page in _toc.yml: the root, the chapters, and the pages of any parts."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + list(_files(toc.get("chapters", []) + toc.get("parts", [])))


def chapters():
    """The pages that are notebooks (the chapters)."""
    return [page for page in pages() if (ROOT / f"{page}.ipynb").exists()]


@pytest.fixture(scope="module")
def built():
    if not (HTML / "index.html").exists():
        if os.environ.get("REQUIRE_BOOK_BUILD") == "1":
            pytest.fail("no built book under _build/html: run `jb build . -W -n --keep-going` first")
        pytest.skip("book not built")
    return HTML


@pytest.mark.parametrize("chapter", chapters())
def test_chapter_page_has_figures_and_colab_link(built, chapter):
    page = built / f"{chapter}.html"
    assert page.exists(), f"{page} missing"
    html = page.read_text()
    assert "colab.research.google.com" in html, f"{chapter}: no Colab launch button"
    images = re.findall(r'<img[^>]+src="([^"]+)"', html)
    figures = [src for src in images if "_images/" in src or src.startswith("data:image")]
    assert figures, f"{chapter}: no figure"
    for src in figures:
        if not src.startswith("data:"):
            assert (page.parent / src).resolve().exists(), f"{chapter}: image {src} missing"


@pytest.mark.parametrize("chapter", chapters())
def test_no_figure_shown_twice(built, chapter):
    page = built / f"{chapter}.html"
    seen = {}
    for src in re.findall(r'<img[^>]+src="([^"]+)"', page.read_text()):
        if "_images/" not in src and not src.startswith("data:image"):
            continue
        data = src.encode() if src.startswith("data:") else (page.parent / src).resolve().read_bytes()
        digest = hashlib.sha1(data).hexdigest()
        assert digest not in seen, f"{chapter}: the figure {src} is the same image as {seen[digest]}"
        seen[digest] = src


class _Prose(HTMLParser):
    """Splits a page into its visible prose and its math (MathJax's \\( \\) and \\[ \\] elements);
    code, outputs (<pre>), scripts and styles are neither."""

    SKIP = {"script", "style", "pre", "code", "head", "textarea", "svg"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.prose, self.math = [], []
        self._root, self._depth, self._kind = None, 0, None

    def handle_starttag(self, tag, attrs):
        if self._root is not None:
            self._depth += tag == self._root
            return
        classes = (dict(attrs).get("class") or "").split()
        if "math" in classes and tag in ("span", "div"):
            self._root, self._depth, self._kind = tag, 1, "math"
            self.math.append("")
        elif tag in self.SKIP:
            self._root, self._depth, self._kind = tag, 1, "skip"

    def handle_endtag(self, tag):
        if self._root is not None and tag == self._root:
            self._depth -= 1
            if self._depth == 0:
                self._root = self._kind = None

    def handle_data(self, data):
        if self._kind == "math":
            self.math[-1] += data
        elif self._root is None:
            self.prose.append(data)


def _parse(path):
    parser = _Prose()
    parser.feed(path.read_text())
    return " ".join(parser.prose), parser.math


@pytest.mark.parametrize("page", pages())
def test_math_is_typeset(built, page):
    """No `$` left in the visible prose (a `$$` block glued to the line above, or a list item
    that starts inside an equation, leaves them there); no `\\_` in math (MathJax shows the
    backslash inside \\text{}); every math element is delimited as MathJax expects."""
    prose, math = _parse(built / f"{page}.html")
    prose = re.sub(r"\s+", " ", prose)
    stray = [prose[max(0, m.start() - 60):m.end() + 60] for m in re.finditer(r"\$", prose)]
    assert not stray, f"{page}: {len(stray)} stray `$` in the prose, e.g. ...{stray[0]}..."
    for formula in math:
        formula = formula.strip()
        assert "\\_" not in formula, f"{page}: `\\_` in math (write \\text{{is_first}}): {formula[:120]}"
        assert "$" not in formula, f"{page}: `$` inside math: {formula[:120]}"
        assert formula[:2] in ("\\(", "\\[") or formula.startswith("\\begin"), \
            f"{page}: math element without MathJax delimiters: {formula[:120]}"
        # `\begin{aligned}` or `\\` followed by `[`: LaTeX reads the bracket as an optional
        # argument and the text in it disappears (write `{[r, c, u]}`)
        swallowed = re.search(r"(\\begin\{\w+\*?\}|\\\\)\s*\[", formula)
        assert not swallowed, f"{page}: `{swallowed.group(0)}` eats the bracket that follows: {formula[:120]}"


def test_repository_button(built):
    assert "github.com/cars-do-dream/cars-do-dream" in (built / f"{pages()[0]}.html").read_text()

"""The built documentation loads nothing from outside and renders its formulas offline.

* Every built HTML page is parsed for what it loads (scripts, stylesheets, icons,
  images, frames, media, ``url()`` and ``@import`` in styles): nothing may come from
  another host (``http(s)://``, or a protocol-relative ``//host``), and nothing from a
  root-absolute path (``/assets/...`` loads nothing from ``file://``).  Links that a
  reader *follows* (``<a href>``) may point anywhere.
* Every built stylesheet is checked the same way (``url()``, ``@import``).
* Scripts cannot be read for what they will load, so every URL written in them must
  be one of :data:`KNOWN_SCRIPT_URLS`, each listed with why the site never fetches it:
  a new URL (a theme or MathJax upgrade) fails the test until someone has looked.
* In a real headless Chromium (tests/browser.py), every page with formulas is opened
  from ``file://``: MathJax (shipped with the site by docs/hooks.py) typesets every
  formula, no raw TeX is left, nothing is requested from outside and nothing is
  printed to the console as an error.  ``404.html`` loads its stylesheet and scripts
  from ``file://`` too.

The site is built once per session (tests/docs_site.py), shared with tests/test_docs.py.
"""

from __future__ import annotations

import importlib.util
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]

#: Attributes through which an element makes the page load something.
LOADING_ATTRS = {
    "script": ("src",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "iframe": ("src",),
    "frame": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "input": ("src",),
    "image": ("href", "xlink:href"),
    "use": ("href", "xlink:href"),
    "link": ("href",),
}
#: ``<link rel=...>`` values that name a page to go to, not a resource to load.
NAVIGATION_RELS = {"canonical", "alternate", "prev", "next", "author", "license", "help", "search"}

CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)|@import\s+(['"])(.*?)\3""", re.S)
EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?//")  # http://, https://, //host, ...
SCRIPT_URL = re.compile(r"""https?://[^\s"'`)<>,;\\]*""")

#: Every URL written in the site's scripts, and why the site never fetches it.
KNOWN_SCRIPT_URLS: dict[str, str] = {
    # XML namespaces: names, never fetched.
    "http://www.w3.org/2000/svg": "SVG namespace",
    "http://www.w3.org/1998/Math/MathML": "MathML namespace",
    "http://www.w3.org/1999/xhtml": "XHTML namespace",
    "http://www.w3.org/1999/xlink": "XLink namespace",
    "http://www.w3.org/2001/10/synthesis": "SSML namespace (MathJax speech output)",
    # Material for MkDocs: loaders for features this site does not use.
    "https://unpkg.com/resize-observer-polyfill": "loaded only by browsers without "
    "ResizeObserver (none since 2020)",
    "https://unpkg.com/mermaid@11/dist/mermaid.min.js": "loaded only on pages with a mermaid "
    "diagram; test_the_theme_needs_nothing_from_outside asserts there is none",
    "https://api.github.com/users/${e}": "repository facts, only with repo_url (not set)",
    "https://api.github.com/repos/${e}/${t}": "repository facts, only with repo_url (not set)",
    "https://${e}/api/v4/projects/${encodeURIComponent(t": "GitLab facts, only with repo_url",
    # MathJax: fallbacks for Internet Explorer and the speech tools of its menu (disabled
    # in docs/javascripts/mathjax.js: enableMenu false).
    "https://cdn.jsdelivr.net/npm/wicked-good-xpath@1.3.0/dist/wgxpath.install.js": "IE only",
    "https://cdn.jsdelivr.net/npm/sre-mathmaps-ie@": "IE only",
    "https://cdn.jsdelivr.net/npm/speech-rule-engine@": "speech rules, from the menu (disabled)",
}
#: Hosts of licence notices, credits and links in comments and messages of the scripts.
CREDIT_PREFIXES = (
    "http://www.mozilla.org/MPL/", "https://github.com/", "http://snowball.tartarus.org/",
    "http://code.google.com/p/urim/", "https://www.mathjax.org", "https://developer.mozilla.org/",
    "https://clipboardjs.com/", "https://bit.ly/2s3ChXG", "http://www.apache.org/licenses/",
    "http://wiki.ecmascript.org/", "http://wiki.commonjs.org/", "http://underscorejs.org",
    "http://tartarus.org/~martin/", "http://people.mozilla.org/~jorendorff/", "http://narwhaljs.org",
    "http://msdn.microsoft.com/", "http://lunrjs.com", "http://en.wikipedia.org/wiki/",
    "http://docs.python.org/library/", "http://chasen.org/~taku/",
)


class _Loads(HTMLParser):
    """Collect (tag, attribute, value) for everything an HTML page would load."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loads: list[tuple[str, str, str]] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        rels = set(values.get("rel", "").lower().split())
        for attr in LOADING_ATTRS.get(tag, ()):
            if attr in values and not (tag == "link" and rels and rels <= NAVIGATION_RELS):
                for url in values[attr].split(",") if attr == "srcset" else [values[attr]]:
                    self.loads.append((tag, attr, url.strip().split(" ")[0]))
        if "style" in values:
            self.loads += [(tag, "style", u) for u in css_urls(values["style"])]
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.loads += [("style", "url", u) for u in css_urls(data)]


def css_urls(text: str) -> list[str]:
    """The targets of ``url(...)`` and ``@import`` in CSS text (``data:`` ones included)."""
    return [m.group(2) if m.group(2) is not None else m.group(4) for m in CSS_URL.finditer(text)]


def html_loads(text: str) -> list[tuple[str, str, str]]:
    parser = _Loads()
    parser.feed(text)
    return parser.loads


def bad_load(url: str) -> bool:
    """A URL a page must not load: another host, or a root-absolute path."""
    return bool(EXTERNAL.match(url)) or (url.startswith("/") and not url.startswith("//"))


# ------------------------------------------------------------------ the files
def test_the_checks_see_what_a_page_loads() -> None:
    page = (
        '<link rel="stylesheet" href="https://fonts.example/css?family=Roboto">'
        '<link rel="canonical" href="https://example.org/page/">'
        '<script src="//cdn.example/mathjax.js"></script><script src="assets/ok.js"></script>'
        '<img srcset="a.png 1x, https://img.example/b.png 2x">'
        '<div style="background: url(\'https://img.example/c.png\')"></div>'
        "<style>@import 'https://fonts.example/x.css'; .a { background: url(/abs.png) }</style>"
        '<a href="https://example.org/">followed, not loaded</a>'
    )
    bad = [url for _, _, url in html_loads(page) if bad_load(url)]
    assert bad == [
        "https://fonts.example/css?family=Roboto", "//cdn.example/mathjax.js",
        "https://img.example/b.png", "https://img.example/c.png",
        "https://fonts.example/x.css", "/abs.png",
    ]
    assert not bad_load("data:image/svg+xml;charset=utf-8,<svg xmlns='http://www.w3.org/2000/svg'/>")
    assert not bad_load("../assets/javascripts/bundle.js") and not bad_load("#top")


def test_no_page_or_stylesheet_loads_anything_from_outside(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 30
    bad = [
        f"{p.relative_to(site)}: <{tag} {attr}={url}>"
        for p in pages
        for tag, attr, url in html_loads(p.read_text(encoding="utf-8"))
        if bad_load(url)
    ]
    assert not bad, "pages load from outside or from a root-absolute path:\n" + "\n".join(bad)
    sheets = sorted(site.rglob("*.css"))
    assert sheets
    bad = [f"{s.relative_to(site)}: {url}" for s in sheets
           for url in css_urls(s.read_text(encoding="utf-8")) if bad_load(url)]
    assert not bad, "stylesheets load from outside:\n" + "\n".join(bad)


def test_every_url_in_the_scripts_is_one_the_site_never_fetches(site: Path) -> None:
    scripts = sorted(site.rglob("*.js"))
    assert (site / "javascripts" / "mathjax" / "tex-svg-full.js") in scripts
    unknown = sorted({
        f"{s.relative_to(site)}: {url}"
        for s in scripts
        for url in SCRIPT_URL.findall(s.read_text(encoding="utf-8", errors="replace"))
        if url not in KNOWN_SCRIPT_URLS and not url.startswith(CREDIT_PREFIXES)
    })
    assert not unknown, (
        "URLs in the site's scripts that no one has checked; if the page never fetches "
        "them, list them in KNOWN_SCRIPT_URLS with the reason:\n" + "\n".join(unknown)
    )


def test_the_theme_needs_nothing_from_outside(site: Path) -> None:
    cfg = yaml.safe_load((ROOT / "docs" / "mkdocs.yml").read_text(encoding="utf-8"))
    assert cfg["theme"]["font"] is False  # system fonts, not a web font service
    assert "repo_url" not in cfg  # Material would fetch the repository's facts
    assert not [s for s in cfg["extra_javascript"] + cfg.get("extra_css", []) if bad_load(s)]
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert 'class="mermaid"' not in text, page  # Material would fetch mermaid
        assert "fonts.googleapis" not in text and "fonts.gstatic" not in text, page


def _hooks() -> Any:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_the_mathjax_package_the_build_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hooks = _hooks()
    assert hooks.mathjax_source().name == "tex-svg-full.js"  # the dev extra brings it
    monkeypatch.setattr(hooks.importlib.util, "find_spec", lambda name: None)
    mkdocs_exceptions = pytest.importorskip("mkdocs.exceptions")
    with pytest.raises(mkdocs_exceptions.PluginError,
                       match=r"MathJax 3 is not installed .*django-static-mathjax.*pip install -e '\.\[dev\]'"):
        hooks.mathjax_source()


def test_only_404_html_is_made_relative() -> None:
    hooks = _hooks()
    page = '<link href="/assets/main.css"><script src="/assets/b.js"></script><a href="//x.org/">'
    page += '<script id="__config">{"base": "/", "search": "/x"}</script>'
    got = hooks.on_post_template(page, "404.html", {"site_url": None})
    assert got == ('<link href="assets/main.css"><script src="assets/b.js"></script><a href="//x.org/">'
                   '<script id="__config">{"base": ".", "search": "/x"}</script>')
    assert hooks.on_post_template(page, "sitemap.xml", {"site_url": None}) == page
    assert hooks.on_post_template(page, "404.html", {"site_url": "https://example.org/"}) == page


def test_404_links_relative_to_the_site_root(site: Path) -> None:
    text = (site / "404.html").read_text(encoding="utf-8")
    loads = [url for _, _, url in html_loads(text)]
    assert any(u.startswith("assets/stylesheets/main.") for u in loads), loads
    assert any(u.startswith("assets/javascripts/bundle.") for u in loads), loads
    assert "javascripts/mathjax/tex-svg-full.js" in loads
    assert '"base": "."' in text


def _prose(page_html: str) -> str:
    """The text a reader sees outside code, formulas and scripts (tags dropped)."""
    text = re.sub(r"<(pre|code|script|style)\b[^>]*>.*?</\1>", "", page_html, flags=re.S)
    text = re.sub(r'<(span|div) class="arithmatex">.*?</\1>', "", text, flags=re.S)
    return re.sub(r"<[^>]+>", "", text)


def test_no_page_shows_tex_outside_a_formula(site: Path) -> None:
    """Every formula reached MathJax: none is left as TeX or as a reST role in the prose."""
    raw = {
        page.relative_to(site).as_posix(): found
        for page in sorted(site.rglob("*.html"))
        if (found := [s for s in ("\\(", "\\[", "$$", "\\frac", "\\sum", "\\times", ":math:")
                      if s in _prose(page.read_text(encoding="utf-8"))])
    }
    assert not raw, f"TeX outside the formulas MathJax typesets: {raw}"


# ------------------------------------------------------------------ in a browser
def _math_pages(site: Path) -> list[str]:
    return sorted(
        p.relative_to(site).as_posix() for p in site.rglob("index.html")
        if 'class="arithmatex"' in p.read_text(encoding="utf-8")
    )


#: Reads, once MathJax has finished, what a reader of the page would see.
MATH_REPORT = """async () => {
  await MathJax.startup.promise;
  const items = [...document.querySelectorAll(".arithmatex")];
  // Drawn at their own size: MathJax gives each SVG a width in ex of the text around it.
  const sized = items.filter(el => {
    const svg = el.querySelector("mjx-container > svg");
    if (!svg) return false;
    const probe = document.createElement("span");
    probe.style.cssText = "display:inline-block;width:100ex;height:0";
    svg.parentNode.appendChild(probe);
    const natural = parseFloat(svg.getAttribute("width")) * probe.getBoundingClientRect().width / 100;
    probe.remove();
    const box = svg.getBoundingClientRect();
    return box.width > 2 && box.height > 2 && box.width >= 0.98 * natural;
  });
  const article = document.querySelector("article").cloneNode(true);
  article.querySelectorAll("pre, code, mjx-assistive-mml").forEach(el => el.remove());
  return {
    items: items.length,
    containers: document.querySelectorAll(".arithmatex mjx-container").length,
    sized: sized.length,
    errors: document.querySelectorAll('mjx-merror, [data-mjx-error], [data-mml-node="merror"]').length,
    text: article.innerText,
  };
}"""


def test_every_formula_renders_offline_in_a_browser(site: Path, browser: Any) -> None:
    pages = _math_pages(site)
    assert "notes-to-code/index.html" in pages and "api/reference/index.html" in pages
    total = 0
    for rel in pages:
        expected = (site / rel).read_text(encoding="utf-8").count('class="arithmatex"')
        with browser.open(site / rel) as page:
            page.page.wait_for_function(
                "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20_000
            )
            report = page.page.evaluate(MATH_REPORT)
            assert report["items"] == expected, (rel, report["items"], expected)
            assert report["containers"] == expected and report["sized"] == expected, (rel, report)
            assert report["errors"] == 0, (rel, report)
            raw = [t for t in ("\\(", "\\)", "\\[", "\\]", "$$", "\\frac", "^{") if t in report["text"]]
            assert not raw, f"{rel} shows raw TeX {raw}"
            assert page.errors == [], (rel, page.errors)
            assert page.external_requests() == [], (rel, page.external_requests())
            assert any(u.endswith("javascripts/mathjax/tex-svg-full.js") for u in page.requests)
        total += expected
    assert total >= 100, total


def test_the_404_page_loads_its_style_and_scripts_from_file(site: Path, browser: Any) -> None:
    with browser.open(site / "404.html") as page:
        page.page.wait_for_load_state("load")
        header = page.page.evaluate(
            "() => getComputedStyle(document.querySelector('.md-header')).backgroundColor"
        )
        assert header not in ("rgba(0, 0, 0, 0)", "transparent"), header  # the theme's CSS applied
        assert page.page.evaluate("() => typeof window.document$") == "object"  # its bundle ran
        assert page.errors == [] and page.external_requests() == [], (page.errors, page.requests)
        assert all(u.startswith(site.resolve().as_uri()) for u in page.requests if u.startswith("file:"))

"""MkDocs hooks: link names to the API, ship MathJax with the site, make 404.html relative.

* On the guide pages, ``nablagraph.reference.BackpropEquations.bp2`` written as a code
span becomes a link to where the API reference documents that object.  Names are
resolved by importing them, then mapped to the path the object is documented under
(its defining module, e.g. ``nablagraph.nn.Dense`` → ``nablagraph.nn.dense.Dense``).
Links are optional: a name with no API entry (a private helper) stays plain code.
tests/test_docs.py checks separately that every such name resolves.
* MathJax 3 (``es5/tex-svg-full.js``: every TeX extension, SVG output, so no font
  files) is copied from the ``django-static-mathjax`` package (in the ``dev`` extra)
  into ``javascripts/mathjax/``: the site loads nothing from the network, and its
  formulas render offline and from ``file://`` (tests/test_docs_offline.py).
* ``404.html`` is written for any depth, so MkDocs gives it root-absolute links
  (``/assets/...``) when there is no ``site_url``; those load nothing from
  ``file://`` or under a sub-path.  They are made relative to the site's root, where
  the file is.
"""

from __future__ import annotations

import html
import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

CODE = re.compile(r"<code>(nablagraph(?:\.[A-Za-z_][A-Za-z0-9_]*)+)</code>")


def _canonical(dotted: str) -> str | None:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        path = ".".join(parts[:i])
        for name in parts[i:]:
            if not hasattr(obj, name):
                return None
            obj = getattr(obj, name)
            owner = getattr(obj, "__module__", None)
            qual = getattr(obj, "__qualname__", None)
            if inspect.ismodule(obj):
                path = obj.__name__
            elif owner and qual and owner.startswith("nablagraph") and "<" not in qual:
                path = f"{owner}.{qual}"
            else:
                path = f"{path}.{name}"
        return path
    return None


def on_page_content(html_text: str, page: Any, **kwargs: Any) -> str:
    if page.file.src_uri.startswith("api/"):
        return html_text

    def link(m: re.Match[str]) -> str:
        target = _canonical(m.group(1))
        if target is None:
            return m.group(0)
        return f'<autoref identifier="{html.escape(target)}" optional>{m.group(0)}</autoref>'

    return CODE.sub(link, html_text)


# ------------------------------------------------------------------ MathJax, shipped
#: Where the site serves MathJax (docs/mkdocs.yml lists it in extra_javascript).
MATHJAX = "javascripts/mathjax/tex-svg-full.js"


def mathjax_source() -> Path:
    """The MathJax 3 bundle inside the installed ``django-static-mathjax`` package."""
    spec = importlib.util.find_spec("mathjax")  # found, not imported: no Django needed
    origin = spec.origin if spec is not None else None
    found = Path(origin).parent / "static" / "mathjax" / "es5" / "tex-svg-full.js" if origin else None
    if found is None or not found.is_file():
        raise PluginError(
            "docs/hooks.py: MathJax 3 is not installed (es5/tex-svg-full.js of the "
            "django-static-mathjax package); install the dev extra: pip install -e '.[dev]'"
        )
    return found


def on_files(files: Files, config: Any, **kwargs: Any) -> Files:
    files.append(File.generated(config, MATHJAX, abs_src_path=str(mathjax_source())))
    return files


# ------------------------------------------------------------------ 404.html, relative
ROOT_ABSOLUTE = re.compile(r'''((?:href|src)=["\'])/(?!/)''')


#: Material's settings for its scripts: the search worker is found from ``base``.
CONFIG_BASE = re.compile(r'''("base":\s*)"/"''')


def on_post_template(output_content: str, template_name: str, config: Any) -> str:
    if template_name != "404.html" or config.get("site_url"):
        return output_content
    return CONFIG_BASE.sub(r'\1"."', ROOT_ABSOLUTE.sub(r"\1", output_content))

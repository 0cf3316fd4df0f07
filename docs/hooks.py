"""MkDocs hook: link code spans that name a nablagraph object to its API entry.

On the guide pages, ``nablagraph.reference.BackpropEquations.bp2`` written as a code
span becomes a link to where the API reference documents that object.  Names are
resolved by importing them, then mapped to the path the object is documented under
(its defining module, e.g. ``nablagraph.nn.Dense`` → ``nablagraph.nn.dense.Dense``).
Links are optional: a name with no API entry (a private helper) stays plain code.
tests/test_docs.py checks separately that every such name resolves.
"""

from __future__ import annotations

import html
import importlib
import inspect
import re
import sys
from pathlib import Path
from typing import Any

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

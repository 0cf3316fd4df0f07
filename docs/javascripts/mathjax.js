// MathJax 3 configuration for pymdownx.arithmatex (generic mode): \( \) inline, \[ \] display.
// Loaded before javascripts/mathjax/tex-svg-full.js, which docs/hooks.py copies into the
// site from the django-static-mathjax package: nothing is fetched from the network.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  svg: {
    fontCache: "global",
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
    // The menu's accessibility tools load extensions that are not shipped with the site.
    enableMenu: false,
  },
};

// Material's instant navigation swaps the page without reloading scripts: typeset the
// new content then.  On a full page load MathJax typesets by itself once it has loaded,
// which may be after this first notification, so there is nothing to do until then.
document$.subscribe(() => {
  if (!window.MathJax || !MathJax.startup || !MathJax.startup.output) {
    return;
  }
  const output = MathJax.startup.output;  // SVG output: a font cache shared by the page
  if (output.clearFontCache) {
    output.clearFontCache();
  }
  MathJax.typesetClear();
  MathJax.texReset();
  MathJax.typesetPromise();
});

"""The browser harness itself: a page that clicks, logs and fetches is seen doing so."""

from __future__ import annotations

from pathlib import Path


def test_harness_clicks_and_records_console_and_requests(browser, tmp_path: Path) -> None:
    page_file = tmp_path / "p.html"
    page_file.write_text(
        "<html><body><button id=b onclick=\"document.getElementById('o').textContent="
        "'clicked'\">go</button><div id=o></div>"
        "<script>console.error('boom'); fetch('http://127.0.0.1:9/x').catch(() => 0)</script>"
        "</body></html>",
        encoding="utf-8",
    )
    with browser.open(page_file) as page:
        page.page.click("#b")
        assert page.page.text_content("#o") == "clicked"
        page.page.wait_for_timeout(200)
        assert page.errors[:1] == ["boom"]
        assert page.external_requests() == ["http://127.0.0.1:9/x"]

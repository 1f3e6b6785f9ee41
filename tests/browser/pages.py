"""Small helpers that drive the workbench the way staff do: open it, log in, pick a tab."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import TEST_PASSWORD, TEST_USER


def open_workbench(page: Page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    header_or_login = page.locator("#xs-header, input[type=password]").first
    header_or_login.wait_for(state="visible", timeout=60_000)
    if page.locator("input[type=password]").count():
        login(page)
    expect(page.locator("#xs-header")).to_be_visible(timeout=60_000)


def login(page: Page, user: str = TEST_USER, password: str = TEST_PASSWORD) -> None:
    page.locator("input[type=text], input:not([type])").first.fill(user)
    page.locator("input[type=password]").first.fill(password)
    page.get_by_role("button", name="Login").or_(page.get_by_role("button", name="登录")).first.click()
    page.wait_for_load_state("domcontentloaded")


def open_tab(page: Page, label: str) -> None:
    tab = page.get_by_role("tab", name=label, exact=True)
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")

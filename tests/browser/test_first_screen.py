"""The director's glance (DESIGN.md section 5, Screens): at 390x844, 1280x720 and 1920x1080 the first
screen, before any scroll, answers the page's question. The boxes of each trial's numbers, as Chromium
lays them out, are measured against the viewport."""

import datetime as dt
import json
import re

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from browser.conftest import assert_no_error_shown, open_page, wait_for_app

PHONE, LAPTOP, PROJECTOR = (390, 844), (1280, 720), (1920, 1080)

# The box of a text node containing `needle`, or of the element whose text is `label` and the text right
# after it (a bold label and its value on one line).
TEXT_BOX = """(root, [needle, label]) => {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (needle && node.textContent.includes(needle)) {
      range.selectNodeContents(node);
    } else if (label && node.textContent.trim() === label && node.parentElement.nextSibling) {
      range.setStartBefore(node.parentElement);
      range.setEndAfter(node.parentElement.nextSibling);
    } else {
      continue;
    }
    const r = range.getBoundingClientRect();
    return {x: r.x, y: r.y, width: r.width, height: r.height};
  }
  return null;
}"""


def month(iso: str) -> str:
    return f"{dt.date.fromisoformat(iso):%b %Y}"


def summary(server) -> dict:
    result = server.cli("summary", "--json")
    assert result.returncode == 0, result.stderr
    return {t["trial"]: t for t in json.loads(result.stdout)["trials"]}


@pytest.fixture
def sized(browser: Browser):
    contexts = []

    def make(size: tuple[int, int]) -> Page:
        width, height = size
        phone = width < 600
        context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def within(box: dict | None, size: tuple[int, int], what: str) -> None:
    """The box is entirely inside the first screen."""
    assert box is not None, f"{what}: not on the page"
    width, height = size
    assert box["x"] >= 0 and box["y"] >= 0, (what, box)
    assert box["x"] + box["width"] <= width and box["y"] + box["height"] <= height, (what, box, size)


def tile(page: Page, trial: str) -> Locator:
    """The innermost block holding the trial's heading: its tile."""
    heading = page.get_by_role("heading").filter(has_text=re.compile(rf"^\s*{re.escape(trial)}(?![-\w])"))
    return page.locator('[data-testid="stVerticalBlock"]').filter(has=heading).last


def numbers(page: Page, trial: dict) -> dict[str, dict | None]:
    """Where a trial's enrolled/target, status, finish and chance are, in the viewport's coordinates."""
    box = tile(page, trial["trial"])
    f = trial["forecast"]
    badge = {"green": "On track", "amber": "At risk", "red": "Off track"}[trial["status"]]
    return {
        "enrolled/target": box.locator('[data-testid="stMetricValue"]').bounding_box(),
        "status": box.get_by_text(badge, exact=True).first.bounding_box(),
        "finish": box.evaluate(TEXT_BOX, [f"{month(f['median'])} (90%: {month(f['p05'])} – {month(f['p95'])})", None]),
        "chance": box.evaluate(TEXT_BOX, [None, f"Chance by {month(trial['planned_end_on'])}"]),
    }


@pytest.mark.parametrize("size", [LAPTOP, PROJECTOR], ids=["1280x720", "1920x1080"])
def test_overview_shows_every_trials_numbers_on_the_first_screen(sized, server, size):
    page = sized(size)
    open_page(page, server)
    trials = summary(server)
    for trial in trials.values():
        boxes = numbers(page, trial)
        for what, box in boxes.items():
            within(box, size, f"{trial['trial']} {what}")
    assert page.get_by_text("Data as of", exact=False).first.bounding_box()["y"] < size[1]
    assert_no_error_shown(page)


def test_on_a_phone_the_first_trial_is_on_the_first_screen_and_the_rest_a_short_scroll_away(sized, server):
    page = sized(PHONE)
    open_page(page, server)
    trials = list(summary(server).values())
    for what, box in numbers(page, trials[0]).items():
        within(box, PHONE, f"{trials[0]['trial']} {what}")
    # Nothing runs off the side, and every trial's chance is within three screens.
    for trial in trials:
        for what, box in numbers(page, trial).items():
            assert box["x"] + box["width"] <= PHONE[0], (trial["trial"], what, box)
        assert numbers(page, trial)["chance"]["y"] < 3 * PHONE[1], trial["trial"]
    # The sidebar (menu and view controls) is folded away, not over the page.
    sidebar = page.get_by_test_id("stSidebar")
    assert sidebar.get_attribute("data-collapsed") == "true"
    assert_no_error_shown(page)


def test_on_a_phone_the_first_screen_answers_for_every_trial(sized, server):
    page = sized(PHONE)
    open_page(page, server)
    lines = page.locator(".st-key-phone-lines")
    expect(lines).to_be_visible()
    for trial in summary(server).values():
        # One compact line each: code, enrolled / target, status and finish, all before any scroll.
        f = trial["forecast"]
        text = f"{trial['enrolled']} / {trial['target']}"
        within(lines.evaluate(TEXT_BOX, [text, None]), PHONE, f"{trial['trial']} enrolled/target")
        within(lines.get_by_text(f"finish {month(f['median'])}").first.bounding_box(), PHONE, f"{trial['trial']} finish")
    wide = sized(LAPTOP)
    open_page(wide, server)
    expect(wide.locator(".st-key-phone-lines")).to_be_hidden()  # a laptop has the tiles side by side instead


def test_on_a_phone_the_menu_folds_away_after_a_tap(sized, server):
    page = sized(PHONE)
    open_page(page, server)
    sidebar = page.get_by_test_id("stSidebar")
    page.get_by_test_id("stExpandSidebarButton").click()
    expect(sidebar).to_have_attribute("data-collapsed", "false")
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Trial status").click()
    wait_for_app(page)
    expect(sidebar).to_have_attribute("data-collapsed", "true")  # the page is in view, not under the menu
    values = page.locator('[data-testid="stMetricValue"]')
    within(values.first.bounding_box(), PHONE, "enrolled / target after the tap")


@pytest.mark.parametrize("size", [LAPTOP, PROJECTOR], ids=["1280x720", "1920x1080"])
def test_trial_page_shows_its_main_chart_and_numbers_on_the_first_screen(sized, server, size):
    page = sized(size)
    open_page(page, server, "trial")
    pump = summary(server)["PUMP"]
    chart = page.locator(".js-plotly-plot").first
    chart.locator(".main-svg").first.wait_for()
    within(chart.bounding_box(), size, "the accrual chart")
    within(page.locator('[data-testid="stMetricValue"]').first.bounding_box(), size, "enrolled / target")
    assert page.locator('[data-testid="stMetricValue"]').first.inner_text() == f"{pump['enrolled']} / {pump['target']}"
    assert_no_error_shown(page)


def test_trial_page_on_a_phone_starts_with_the_numbers(sized, server):
    page = sized(PHONE)
    open_page(page, server, "trial")
    pump = summary(server)["PUMP"]
    values = page.locator('[data-testid="stMetricValue"]')
    within(values.first.bounding_box(), PHONE, "enrolled / target")
    within(values.nth(1).bounding_box(), PHONE, "forecast finish")
    assert values.nth(1).inner_text() == month(pump["forecast"]["median"])
    assert_no_error_shown(page)

"""The explorer page in a real browser: headless Chromium, driven by Playwright.

Skipped, with a message naming the missing package, without Debian's
``chromium`` or the ``playwright`` Python package (``pip install
'tapegrad[browser]'``; Playwright's own browser download is never used).
The page is opened from a file with every request routed through the test,
which fails on any request for something other than that file.

What the page shows after each click is compared with numbers computed here:
the tape's values, the tables' adjoints, and running sums of the adjoints
built from the closed-form partial derivatives of
f(x1, x2) = ln(x1) + x1 x2 - sin(x2), independently of tapegrad's rules.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

import tapegrad as tg
from tapegrad.core.records import Lit, Record, Var
from tapegrad.tables import output_adjoints

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def f(x1: tg.Scalar, x2: tg.Scalar) -> tg.Scalar:
    return tg.log(x1) + x1 * x2 - tg.sin(x2)


def six(x: float) -> str:
    return format(x, ".6g")


def closed_form_partials(r: Record) -> list[tuple[int, float]]:
    """(argument record, ∂r/∂argument) by hand, for the primitives f uses."""
    vals = [a.value if isinstance(a, Lit) else None for a in r.args]
    name = r.primitive.name
    out: list[tuple[int, float]] = []
    for k, a in enumerate(r.args):
        if not isinstance(a, Var):
            continue
        if name == "add":
            d = 1.0
        elif name == "mul":
            other = r.args[1 - k]
            d = other.value if isinstance(other, Lit) else float(RECORDS[other.index].value)
        elif name == "log":
            d = 1.0 / float(RECORDS[a.index].value)
        elif name == "sin":
            d = math.cos(float(RECORDS[a.index].value))
        else:  # pragma: no cover - f uses only these
            raise AssertionError(f"no closed form for {name} ({vals})")
        out.append((a.index, d))
    return out


TAPE = tg.trace(f)(2.0, 5.0)
RECORDS = TAPE.records


def expected_states() -> Iterator[tuple[str, Optional[int], str, list[str]]]:
    """For each state after a click: phase, current record, the shown quantity, and every adjoint cell."""
    n = len(RECORDS)
    final = output_adjoints(TAPE)
    blank = [""] * n
    for r in RECORDS:
        yield "forward", r.index, f"v{r.index} = {six(float(r.value))}", blank
    out = n - 1
    running: list[Optional[float]] = [None] * n
    running[out] = 1.0
    yield "seed", out, f"v\u0304{out} = 1", [six(1.0) if i == out else "" for i in range(n)]
    for r in reversed(RECORDS):
        g = running[r.index]
        assert g is not None and math.isclose(g, final[r.index] or 0.0, rel_tol=1e-12)
        for a, d in closed_form_partials(r):
            running[a] = g * d if running[a] is None else running[a] + g * d  # type: ignore[operator]
        # The page shows the tables' number for the record being swept.
        yield "reverse", r.index, f"v\u0304{r.index} = {six(final[r.index] or 0.0)}", ["" if v is None else six(v) for v in running]


def _browser() -> Any:
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs the playwright package: pip install 'tapegrad[browser]'")
    if CHROMIUM is None:
        pytest.skip("the browser test needs Chromium: install Debian's chromium package (apt-get install chromium)")
    return sync_api


def test_the_page_steps_through_both_sweeps_in_chromium(tmp_path: Path) -> None:
    sync_api = _browser()
    title = "f(x1, x2) = ln(x1) + x1 x2 − sin(x2) at (2, 5)"
    page_file = tg.explore(f, title=title)(2.0, 5.0).save(tmp_path / "explorer.html")
    url = page_file.resolve().as_uri()
    requests: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> None:
        requests.append(r.request.url)
        if r.request.url == url:
            r.continue_()
        else:
            r.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 760})
            page.route("**/*", route)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.goto(url)

            def cells(column: int) -> list[str]:
                return [t.strip() for t in page.locator(f"#table-box tbody tr td:nth-child({column})").all_inner_texts()]

            # The summary shows the table's numbers: f = 11.652, and the gradient (5.5, 1.716).
            summary = page.inner_text("#summary")
            assert "output v7 = 11.6521" in summary and "∂y/∂x1 = 5.5" in summary and "∂y/∂x2 = 1.71634" in summary
            states = list(expected_states())
            assert int(page.get_attribute("#slider", "max") or 0) == len(states)
            for k, (phase, record, shown, adjoints) in enumerate(states, start=1):
                if k == 3:  # one step back and forward again, and the arrow key instead of the button
                    page.click("#back")
                    assert page.get_attribute("#now", "data-record") == str(states[0][1])
                    page.keyboard.press("ArrowRight")
                    assert page.get_attribute("#now", "data-record") == str(states[1][1])
                    page.keyboard.press("ArrowRight")
                else:
                    page.click("#next")
                where = f"after click {k} ({phase} at v{record})"
                assert page.get_attribute("#now", "data-phase") == phase, where
                assert page.get_attribute("#now", "data-record") == str(record), where
                assert page.inner_text("#now") == shown, where
                assert page.get_attribute("tr.current", "data-record") == str(record), where
                assert page.locator(".node.current").get_attribute("id") == f"n{record}", where
                assert cells(5) == adjoints, where
                values = cells(3)
                assert record is not None
                evaluated = record + 1 if phase == "forward" else len(RECORDS)
                assert values == [six(float(r.value)) if r.index < evaluated else "" for r in RECORDS], where
            assert page.is_disabled("#next")
            # At the end every adjoint is the table's, and the numbers are f's.
            final = cells(5)
            assert [final[0], final[1], cells(3)[7]] == ["5.5", "1.71634", "11.6521"]
            assert math.isclose(float(final[1]), 2.0 - math.cos(5.0), rel_tol=1e-5)
            assert math.isclose(float(cells(3)[7]), math.log(2.0) + 10.0 - math.sin(5.0), rel_tol=1e-5)
            page.click("#first")
            page.keyboard.press("End")
            assert page.get_attribute("#now", "data-record") == "0"
            page.click("#reverse")
            assert page.get_attribute("#now", "data-phase") == "seed"
            for _ in range(4):
                page.click("#next")
            shot = tmp_path / "explorer.png"
            page.set_viewport_size({"width": 1280, "height": 480})
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of the explorer: {shot}")
            copy_to = os.environ.get("TAPEGRAD_EXPLORER_SCREENSHOT")
            if copy_to:
                shutil.copyfile(shot, copy_to)
        finally:
            browser.close()
    assert errors == []
    assert requests == [url], f"the page asked for more than its own file: {requests}"

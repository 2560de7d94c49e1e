"""The page at GET / as a person uses it: headless Chromium (Debian's), a phone-wide viewport, a photo uploaded
through the file input, the label shown compared with `predict`'s; plus schemathesis against /openapi.json."""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from serve_support import (FIXTURES, HOSTILE_LABEL, Server, extract_run, predict, require_binaries,
                           scratch_folder)

APPLE = os.path.join(FIXTURES, "images", "Apple", "0_100.jpg")
SCREENSHOT = os.environ.get("FRUITFEATURES_SERVE_SCREENSHOT", os.path.join(tempfile.gettempdir(), "fruitfeatures-serve-page.png"))


@pytest.fixture(scope="module")
def hostile_run():
    require_binaries()
    # Apple's folder carries markup: the page must show it as text.
    scratch = scratch_folder()
    yield extract_run(scratch, "run-hostile", {"Apple": HOSTILE_LABEL})
    shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="module")
def page_server(hostile_run):
    process = Server(hostile_run)
    yield process
    process.stop()


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, url):
        import websocket  # websocket-client
        self.socket = websocket.create_connection(url, timeout=60)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    def wait_for(self, expression, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression}")


@pytest.fixture(scope="module")
def chromium():
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("Chromium is needed (Scripts/setup.sh --test installs Debian's chromium)")
    profile = tempfile.mkdtemp(prefix="ff-chromium-")
    process = subprocess.Popen([binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}",
                                "--remote-debugging-port=0", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    endpoint = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and endpoint is None:
        line = process.stderr.readline()
        if not line:
            break
        if "DevTools listening on ws://" in line:
            endpoint = line.strip().split("ws://", 1)[1].split("/", 1)[0]
    if endpoint is None:
        process.kill()
        pytest.fail("headless Chromium did not start")
    yield endpoint
    process.kill()
    process.wait()
    shutil.rmtree(profile, ignore_errors=True)


def open_page(endpoint):
    targets = json.load(urllib.request.urlopen(f"http://{endpoint}/json/list", timeout=30))
    page = next(target for target in targets if target.get("type") == "page")
    return DevTools(page["webSocketDebuggerUrl"])


def test_page_recognises_an_uploaded_photo_at_phone_width(page_server, hostile_run, chromium):
    expected = predict(hostile_run, APPLE)["labels"][0]["label"]
    assert expected == HOSTILE_LABEL
    tools = open_page(chromium)
    tools.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=1, mobile=True)
    tools.call("Page.enable")
    tools.call("Page.navigate", url=f"http://127.0.0.1:{page_server.port}/")
    tools.wait_for("document.readyState === 'complete' && !!document.getElementById('photo')")
    assert tools.evaluate("document.getElementById('photo').getAttribute('capture')") == "environment"
    assert tools.evaluate("document.getElementById('photo').getAttribute('accept')") == "image/*"
    document = tools.call("DOM.getDocument")
    node = tools.call("DOM.querySelector", nodeId=document["root"]["nodeId"], selector="#photo")
    tools.call("DOM.setFileInputFiles", nodeId=node["nodeId"], files=[APPLE])
    shown = tools.wait_for("document.getElementById('label').textContent")
    # The label shown is predict's, character for character: the markup in it is text.
    assert shown == expected
    assert tools.evaluate("document.querySelectorAll('#answer img, #bars img, #neighbours img').length") == 0
    assert tools.evaluate("document.title") != "pwned"
    bars = tools.evaluate("[...document.querySelectorAll('#bars .bar .name span:first-child')].map(e => e.textContent)")
    assert bars[0] == expected
    widths = tools.evaluate("[...document.querySelectorAll('#bars .fill')].map(e => e.getBoundingClientRect().width)")
    assert widths[0] > 0 and widths == sorted(widths, reverse=True)
    assert tools.evaluate("document.querySelectorAll('#neighbours tr').length") == 5
    # Fits the phone: nothing wider than the viewport.
    assert tools.evaluate("document.documentElement.scrollWidth") <= 390
    shot = tools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    with open(SCREENSHOT, "wb") as file:
        file.write(base64.b64decode(shot["data"]))
    from PIL import Image
    image = Image.open(SCREENSHOT).convert("RGB")
    assert image.width == 390
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50  # the photo, the text, the bars: not a blank page
    # The first bar's colour (#2271b1) is painted.
    assert any(colour == (0x22, 0x71, 0xb1) and count > 100 for count, colour in colours)


def test_openapi_document_holds_against_the_running_server(page_server):
    # schemathesis generates requests from /openapi.json and checks every answer against it (statuses, content
    # types, JSON schemas), including that the server never answers 5xx. Left out: positive_data_acceptance, which
    # expects every schema-valid body to be accepted; a schema cannot say "a JPEG", so random bytes are refused
    # (400) as they must be. 100 examples (≈ 7 s more than 25): at 25 a server-killing multipart form (a non-ASCII
    # header name, fixed in RecognitionService) came up only now and then; 300 found it with two seeds of three.
    schemathesis = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    if not os.path.exists(schemathesis):
        schemathesis = shutil.which("schemathesis") or "schemathesis"
    done = subprocess.run(
        [schemathesis, "run", f"http://127.0.0.1:{page_server.port}/openapi.json",
         "--checks", "all", "--exclude-checks", "positive_data_acceptance", "--max-examples", "100", "--workers", "1", "--seed", "1"],
        capture_output=True, text=True, timeout=600, cwd=tempfile.gettempdir())  # its cache stays out of the repository
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]

"""Starts the real `fruitfeatures-server` binary on a free port and talks HTTP to it over real sockets."""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "Fixtures")
WEIGHTS = os.path.join(FIXTURES, "weights", "mobilenet_v2_1.0_224_random.h5")
BUILD = os.path.join(ROOT, ".build", "release")
CLI = os.path.join(BUILD, "fruitfeatures")
SERVER = os.path.join(BUILD, "fruitfeatures-server")
# A label a page must show as text: markup and a script hook in a folder name.
HOSTILE_LABEL = '<img src=x onerror="document.title=\'pwned\'">Apple&amp;'


def require_binaries():
    for path in (CLI, SERVER):
        if not os.access(path, os.X_OK):
            raise RuntimeError(f"{path} is missing: build with `swift build -c release -Xswiftc -enable-testing --build-tests` first")


def extract_run(scratch, name, renaming=None):
    """Extracts copies of Fixtures/images (label folders renamed by `renaming`) into scratch/name; returns the run."""
    photos = os.path.join(scratch, name + "-photos")
    for label in ("Apple", "Banana", "Lemon"):
        shutil.copytree(os.path.join(FIXTURES, "images", label),
                        os.path.join(photos, (renaming or {}).get(label, label)))
    out = os.path.join(scratch, name)
    subprocess.run([CLI, "extract", photos, "--weights", WEIGHTS, "--output", out, "--components", "4",
                    "--no-progress"], check=True, capture_output=True, timeout=300)
    return out


def predict(run, photo):
    """`fruitfeatures predict --json` for one photo: the reference answer."""
    done = subprocess.run([CLI, "predict", photo, "--model", run, "--weights", WEIGHTS, "--json"],
                          check=True, capture_output=True, timeout=120)
    return json.loads(done.stdout)


class Server:
    """A running fruitfeatures-server; `port` is the one it printed."""

    def __init__(self, model, *options, command=(SERVER,)):
        self.stderr_lines = []
        self.process = subprocess.Popen([*command, "--model", model, "--port", "0", "--weights", WEIGHTS, *options],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.port = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            self.stderr_lines.append(line)
            if line.startswith("listening on http://"):
                self.port = int(line.strip().rsplit(":", 1)[1])
                break
        if self.port is None:
            self.process.kill()
            raise RuntimeError("fruitfeatures-server did not start: " + "".join(self.stderr_lines)[-2000:])
        # Keep reading stderr (the access log) so the pipe never fills.
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self):
        for line in self.process.stderr:
            self.stderr_lines.append(line)

    def request(self, method, path, body=None, headers=None, timeout=60):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def recognize(self, photo_bytes, headers=None, path="/v1/recognize", content_type="image/jpeg"):
        return self.request("POST", path, photo_bytes, {"Content-Type": content_type, **(headers or {})})

    def metrics(self):
        return self.request("GET", "/metrics")[2].decode()

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=30)

    def signal(self, number):
        self.process.send_signal(number)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def read_response(sock):
    """Reads one HTTP response from a raw socket: (status, headers, body)."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, dict(response.getheaders()), response.read()


def metric(text, name):
    """The value of one sample line `name value` in Prometheus text, or None."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def scratch_folder():
    return tempfile.mkdtemp(prefix="ff-serve-")

"""`fruitfeatures-server` over real sockets: hostile requests, a stalled client, load, SIGHUP reload, SIGTERM."""

import concurrent.futures
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from serve_support import (CLI, FIXTURES, SERVER, WEIGHTS, Server, extract_run, metric, predict, read_response,
                           require_binaries, scratch_folder)

KEY = "test-key-6f1c2a"
AUTH = {"Authorization": "Bearer " + KEY}
APPLE = os.path.join(FIXTURES, "images", "Apple", "0_100.jpg")
BAD = os.path.join(FIXTURES, "resize", "bad")


def read(path):
    with open(path, "rb") as file:
        return file.read()


@pytest.fixture(scope="module")
def runs():
    require_binaries()
    scratch = scratch_folder()
    first = extract_run(scratch, "run-a")
    second = extract_run(scratch, "run-b", {"Apple": "Apfel", "Banana": "Banane"})
    current = os.path.join(scratch, "current")
    os.symlink(first, current)
    key_file = os.path.join(scratch, "key")
    with open(key_file, "w") as file:
        file.write(KEY + "\n")
    yield {"scratch": scratch, "first": first, "second": second, "current": current, "key": key_file}
    shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="module")
def server(runs):
    process = Server(runs["current"], "--api-key-file", runs["key"], "--concurrency", "1", "--queue-depth", "8",
                     "--request-timeout", "2", "--max-body-bytes", "300000")
    yield process
    process.stop()


def test_prints_the_port_it_got_and_answers_as_predict(server, runs):
    assert server.stderr_lines[-1].strip() == f"listening on http://127.0.0.1:{server.port}"
    status, headers, body = server.recognize(read(APPLE), AUTH)
    assert status == 200, body
    answer = json.loads(body)
    expected = predict(runs["first"], APPLE)
    assert [label["label"] for label in answer["labels"]] == [label["label"] for label in expected["labels"]]
    assert [label["votes"] for label in answer["labels"]] == [label["votes"] for label in expected["labels"]]
    assert [n["distance"] for n in answer["neighbours"]] == pytest.approx([n["distance"] for n in expected["neighbours"]])
    assert answer["neighbours"][0]["path"] == "Apple/0_100.jpg"
    assert answer["model"]["sha256"] == json.load(open(os.path.join(runs["first"], "summary.json")))["weights"]["sha256"]


def test_hostile_requests_get_their_status_while_a_good_one_succeeds(server):
    cases = [
        ("garbage", read(os.path.join(BAD, "random.jpg")), "image/jpeg", AUTH, 400),
        ("truncated", read(os.path.join(BAD, "truncated_half.jpg")), "image/jpeg", AUTH, 400),
        ("PNG", read(os.path.join(BAD, "png_named.jpg")), "image/jpeg", AUTH, 400),
        ("60000x60000 header", read(os.path.join(BAD, "huge_60000x60000.jpg")), "image/jpeg", AUTH, 422),
        ("empty body", b"", "image/jpeg", AUTH, 400),
        ("wrong content type", read(APPLE), "text/plain", AUTH, 415),
        ("missing key", read(APPLE), "image/jpeg", {}, 401),
        ("wrong key", read(APPLE), "image/jpeg", {"Authorization": "Bearer nope"}, 401),
    ]
    for name, body, content_type, headers, expected in cases:
        status, response_headers, answer = server.recognize(body, headers, content_type=content_type)
        assert status == expected, (name, answer)
        assert "error" in json.loads(answer), name
    # Over the limit: refused from Content-Length before the body is read, Connection: close, and the client
    # that goes on sending still gets its 413.
    with server.connect() as sock:
        sock.sendall(b"POST /v1/recognize HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                     b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Length: 5000000\r\n\r\n")
        try:
            for _ in range(20):
                sock.sendall(b"\xff" * 65536)
        except OSError:
            pass  # the server may close first: the answer is already in the socket
        status, headers, answer = read_response(sock)
        assert status == 413
        assert headers.get("Connection", "").lower() == "close"
    assert server.recognize(read(APPLE), AUTH)[0] == 200
    assert server.request("GET", "/nope")[0] == 404
    assert server.request("GET", "/v1/recognize", headers=AUTH)[0] == 405


def test_a_stalled_client_is_closed_by_the_timeout_and_holds_no_work_slot(server):
    photo = read(APPLE)
    with server.connect() as stalled:
        stalled.sendall(b"POST /v1/recognize HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                        b"Authorization: Bearer " + KEY.encode() + b"\r\n"
                        + f"Content-Length: {len(photo)}\r\n\r\n".encode() + photo[:1000])
        time.sleep(0.3)
        # --concurrency 1: the only work thread is free while the stalled body has not arrived.
        started = time.monotonic()
        assert server.recognize(photo, AUTH)[0] == 200
        assert time.monotonic() - started < 2
        status, headers, _ = read_response(stalled)
        assert status == 408
        stalled.settimeout(10)
        assert stalled.recv(1) == b""  # closed by the server
    assert metric(server.metrics(), "fruitfeatures_requests_holding_place") == 0


def test_many_concurrent_connections_get_answers_or_503_with_retry_after(server):
    photo = read(APPLE)
    # 200 connections that send nothing hold no place and no thread: a good request is still answered.
    idle = [server.connect() for _ in range(200)]
    try:
        assert server.recognize(photo, AUTH)[0] == 200
    finally:
        for sock in idle:
            sock.close()

    def one(_):
        status, headers, _ = server.recognize(photo, AUTH)
        return status, headers.get("Retry-After")

    with concurrent.futures.ThreadPoolExecutor(max_workers=48) as pool:
        results = list(pool.map(one, range(96)))
    statuses = {status for status, _ in results}
    assert statuses <= {200, 503}, statuses
    assert 200 in statuses
    assert all(retry == "1" for status, retry in results if status == 503)
    assert server.recognize(photo, AUTH)[0] == 200


def test_sighup_switches_to_another_run_under_load_without_losing_a_request(server, runs):
    photo = read(APPLE)
    before = metric(server.metrics(), 'fruitfeatures_model_reloads_total{result="success"}') or 0
    stop = time.monotonic() + 60
    labels = []

    def client():
        seen = []
        while time.monotonic() < stop:
            status, _, body = server.recognize(photo, AUTH)
            assert status == 200, body
            seen.append(json.loads(body)["labels"][0]["label"])
            if seen[-1] == "Apfel" and len(seen) > 3 and seen[-3:] == ["Apfel"] * 3:
                break
        return seen

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(client) for _ in range(4)]
        time.sleep(0.5)
        os.remove(runs["current"])
        os.symlink(runs["second"], runs["current"])
        server.signal(signal.SIGHUP)
        for future in futures:
            labels.append(future.result())
    for seen in labels:
        assert seen[0] == "Apple"
        assert seen[-1] == "Apfel"
        # Once the new run answers, the old one never does again (the swap is atomic).
        assert "Apple" not in seen[seen.index("Apfel"):]
    after = metric(server.metrics(), 'fruitfeatures_model_reloads_total{result="success"}')
    assert after == before + 1
    status, _, body = server.request("GET", "/v1/model", headers=AUTH)
    assert "Apfel" in [entry["label"] for entry in json.loads(body)["labels"]]
    # A reload that fails (not a run) keeps the model and counts a failure.
    os.remove(runs["current"])
    os.symlink(runs["scratch"], runs["current"])
    server.signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while metric(server.metrics(), 'fruitfeatures_model_reloads_total{result="failure"}') is None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert json.loads(server.recognize(photo, AUTH)[2])["labels"][0]["label"] == "Apfel"
    assert any("reload failed" in line for line in server.stderr_lines)


def test_access_log_has_one_line_per_request(server):
    marks = [f"/healthz?probe={i}-{time.monotonic_ns()}" for i in range(3)]
    for mark in marks:
        server.request("GET", mark)
    server.recognize(b"not a photo", AUTH)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(any(m in line for line in server.stderr_lines) for m in marks):
        time.sleep(0.05)
    for mark in marks:
        lines = [line for line in server.stderr_lines if mark in line]
        assert len(lines) == 1 and f"GET {mark} 200" in lines[0], lines


def test_sigterm_answers_in_flight_requests_and_exits_0(runs):
    process = Server(runs["first"])
    photo = read(APPLE)
    with process.connect() as sock:
        sock.sendall(b"POST /v1/recognize HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                     + f"Content-Length: {len(photo)}\r\n\r\n".encode() + photo[:2000])
        time.sleep(0.3)
        process.signal(signal.SIGTERM)
        time.sleep(0.5)
        # No new connections once stopping.
        try:
            with socket.create_connection(("127.0.0.1", process.port), timeout=2) as probe:
                assert probe.recv(1) == b""  # accepted by the kernel before the listener closed: closed at once
        except ConnectionRefusedError:
            pass
        sock.sendall(photo[2000:])
        status, _, body = read_response(sock)
        assert status == 200
        assert json.loads(body)["labels"][0]["label"] == "Apple"
    assert process.process.wait(timeout=30) == 0


def test_fruitfeatures_serve_runs_the_server(runs):
    process = Server(runs["first"], command=(CLI, "serve"))
    assert process.request("GET", "/readyz")[0] == 200
    process.signal(signal.SIGINT)
    assert process.process.wait(timeout=30) == 0


@pytest.mark.parametrize("kind", ["fifo", "huge", "folder"])
def test_an_api_key_file_that_is_not_a_small_regular_file_is_refused_at_once(runs, kind):
    # A FIFO with no writer would block a plain read forever: the server must refuse it without opening it.
    path = os.path.join(runs["scratch"], "key-" + kind)
    if kind == "fifo":
        os.mkfifo(path)
        expected = "not a regular file (a FIFO)"
    elif kind == "huge":
        with open(path, "w") as file:
            file.write(KEY + "\n" + "x" * (1 << 20))
        expected = f"file is {os.path.getsize(path)} bytes, larger than the 65536 bytes limit"
    else:
        os.mkdir(path)
        expected = "is a folder, not a file"
    started = time.monotonic()
    done = subprocess.run([SERVER, "--model", runs["first"], "--port", "0", "--weights", WEIGHTS,
                           "--api-key-file", path], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert f"{path}: cannot read the API key file: {expected}" in done.stderr, done.stderr
    # Refused before the model is opened or a port bound: no "listening on" line.
    assert "listening on" not in done.stderr
    assert time.monotonic() - started < 60

#!/usr/bin/env python3
"""`resin serve` against a real Open Inference Protocol client (tritonclient.http), ONNX Runtime and `resin run`.

Starts one server on a free local port with three models (a fixture as .onnx and as .resin, and a model whose
batch is symbolic), then checks health, readiness, metadata, inference with JSON and with binary tensor data
(ONNX Runtime within rtol 1e-4 / atol 1e-4, `resin run` of the same file bit for bit), a batch of several
images, every fault case (status code, the error naming what is wrong, and the server still serving after it),
/metrics, and SIGTERM while requests are in flight (they complete, the process exits 0).

    tools/check_serve.py --resin .build/release/resin [--work DIR]
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import toolenv

toolenv.ensure_venv(__file__)

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import tritonclient.http as triton  # noqa: E402
from onnx import numpy_helper  # noqa: E402

from checksupport import compare  # noqa: E402
from ortsupport import ort_session  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RTOL = ATOL = 1e-4
MAX_REQUEST_BYTES = 8 << 20
IDLE_TIMEOUT = 2


class Server:
    """A `resin serve` process on a port the system chose, read from its "listening on" line."""

    def __init__(self, resin, models, extra=()):
        self.process = subprocess.Popen(
            [resin, "serve", *models, "--port", "0", "--max-request-bytes", str(MAX_REQUEST_BYTES),
             "--idle-timeout", str(IDLE_TIMEOUT), "--threads", "2", *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log = []
        self.port = None
        ready = threading.Event()

        def read():
            for line in self.process.stderr:
                self.log.append(line.rstrip())
                found = re.search(r"listening on http://[^:]+:(\d+)", line)
                if found:
                    self.port = int(found.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(120) or self.port is None:
            self.process.kill()
            raise RuntimeError("resin serve did not start: " + " | ".join(self.log[-5:]))
        self.url = f"127.0.0.1:{self.port}"

    def stop(self, timeout=60):
        """SIGTERM, then the exit code (None if it had to be killed)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return None


def request(port, method, path, body=None, headers=None):
    """(status, headers, body bytes) of one request on a new connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def error_of(body):
    try:
        return json.loads(body).get("error", "")
    except ValueError:
        return f"<not JSON: {body[:80]!r}>"


class Checks:
    def __init__(self):
        self.failed = []
        self.count = 0

    def check(self, name, ok, detail=""):
        self.count += 1
        print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail and not ok else ""))
        if not ok:
            self.failed.append(name)
        return ok


def served_shape(value_info):
    return [d.dim_value if d.HasField("dim_value") else -1 for d in value_info.type.tensor_type.shape.dim]


def resin_run(resin, model, array, work, tag):
    """`resin run` of `model` on `array`: its one output as written to .npy."""
    source = os.path.join(work, f"{tag}-in.npy")
    target = os.path.join(work, f"{tag}-out.npy")
    np.save(source, array)
    subprocess.run([resin, "run", model, "--input", source, "--output", target, "--threads", "2"],
                   check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return np.load(target)


def infer(client, model, array, binary, input_name, output_name):
    tensor = triton.InferInput(input_name, list(array.shape), "FP32")
    tensor.set_data_from_numpy(array, binary_data=binary)
    output = triton.InferRequestedOutput(output_name, binary_data=binary)
    result = client.infer(model, [tensor], outputs=[output], request_id=f"check-{model}-{binary}")
    return result.as_numpy(output_name), result.get_response()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resin", default=os.path.join(ROOT, ".build/release/resin"))
    parser.add_argument("--work", default=os.path.join(ROOT, ".generated/serve-check"))
    args = parser.parse_args()
    resin = os.path.abspath(args.resin)
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    work = args.work

    # Three models, named by their files: a fixture as .onnx and as .resin, and a symbolic-batch model.
    bottleneck = os.path.join(ROOT, "Fixtures/resnet-bottleneck-v1.5")
    symbolic = os.path.join(ROOT, "Fixtures/quirk-symbolic-batch")
    files = {"bottleneck": os.path.join(work, "bottleneck.onnx"),
             "bottleneck-native": os.path.join(work, "bottleneck-native.resin"),
             "symbatch": os.path.join(work, "symbatch.onnx")}
    shutil.copy(os.path.join(bottleneck, "model.onnx"), files["bottleneck"])
    shutil.copy(os.path.join(symbolic, "model.onnx"), files["symbatch"])
    subprocess.run([resin, "convert", files["bottleneck"], files["bottleneck-native"]], check=True, stdin=subprocess.DEVNULL)
    sources = {"bottleneck": bottleneck, "bottleneck-native": bottleneck, "symbatch": symbolic}

    checks = Checks()
    server = Server(resin, list(files.values()))
    port = server.port
    client = triton.InferenceServerClient(server.url)
    try:
        checks.check("server live and ready", client.is_server_live() and client.is_server_ready())
        metadata = client.get_server_metadata()
        checks.check("server metadata names the binary tensor data extension",
                     "binary_tensor_data" in metadata.get("extensions", []), json.dumps(metadata))
        for name, path in files.items():
            graph = onnx.load(os.path.join(sources[name], "model.onnx")).graph
            model_meta = client.get_model_metadata(name)
            want_inputs = [{"name": i.name, "datatype": "FP32", "shape": served_shape(i)} for i in graph.input
                           if i.name not in {t.name for t in graph.initializer}]
            want_outputs = [{"name": o.name, "datatype": "FP32", "shape": served_shape(o)} for o in graph.output]
            checks.check(f"{name}: ready", client.is_model_ready(name))
            checks.check(f"{name}: metadata lists the ONNX graph's inputs and outputs",
                         model_meta["inputs"] == want_inputs and model_meta["outputs"] == want_outputs
                         and model_meta["platform"] == ("resin" if path.endswith(".resin") else "onnx"),
                         f"{model_meta} vs {want_inputs} {want_outputs}")

        # Inference, JSON and binary, against ONNX Runtime and `resin run` of the same file.
        for name, path in files.items():
            case = sources[name]
            graph = onnx.load(os.path.join(case, "model.onnx")).graph
            input_name, output_name = graph.input[0].name, graph.output[0].name
            array = numpy_helper.to_array(onnx.load_tensor(os.path.join(case, "test_data_set_0/input_0.pb")))
            reference = ort_session(os.path.join(case, "model.onnx"), 2).run([output_name], {input_name: array})[0]
            # The server runs a symbolic batch image by image: `resin run` of each image is its bit-exact reference.
            own = np.concatenate([resin_run(resin, path, array[i:i + 1], work, f"{name}{i}") for i in range(len(array))])
            for binary in (False, True):
                label = f"{name}: infer with {'binary' if binary else 'JSON'} data"
                try:
                    output, response = infer(client, name, array, binary, input_name, output_name)
                except Exception as e:  # noqa: BLE001 (reported as the check's failure)
                    checks.check(label, False, str(e))
                    continue
                checks.check(f"{label}, id echoed", response.get("id") == f"check-{name}-{binary}", str(response.get("id")))
                mismatch = compare(reference, output, RTOL, ATOL, "served")
                checks.check(f"{label} matches ONNX Runtime (rtol {RTOL:g}, atol {ATOL:g})", mismatch is None, str(mismatch))
                checks.check(f"{label} is bit-equal to `resin run`",
                             output.dtype == own.dtype and output.shape == own.shape and output.tobytes() == own.tobytes())

        # A batch of distinct images on the symbolic-batch model, each image against its own `resin run`.
        graph = onnx.load(os.path.join(symbolic, "model.onnx")).graph
        rng = np.random.default_rng(11)
        batch = rng.standard_normal((3, 3, 32, 32), dtype=np.float32)
        output, _ = infer(client, "symbatch", batch, True, graph.input[0].name, graph.output[0].name)
        reference = ort_session(os.path.join(symbolic, "model.onnx"), 2).run(None, {graph.input[0].name: batch})[0]
        checks.check("symbatch: a batch of 3 matches ONNX Runtime", compare(reference, output, RTOL, ATOL, "served") is None,
                     str(compare(reference, output, RTOL, ATOL, "served")))
        singles = np.concatenate([resin_run(resin, files["symbatch"], batch[i:i + 1], work, f"single{i}") for i in range(3)])
        checks.check("symbatch: a batch of 3 is bit-equal to `resin run` image by image", output.tobytes() == singles.tobytes())

        fault_cases(checks, port, client, work)
        metrics_check(checks, port)
        drain_check(checks, server, graph)
    finally:
        code = server.stop()
    checks.check("the server exits 0 on SIGTERM", code == 0, f"exit {code}; log: {server.log[-3:]}")
    print(f"{checks.count - len(checks.failed)} passed, {len(checks.failed)} failed")
    return 1 if checks.failed else 0


def still_serves(port):
    """A small valid JSON inference answered 200."""
    x = np.zeros((1, 3, 32, 32), dtype=np.float32)
    body = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 32, 32],
                                   "data": x.ravel().tolist()}]})
    status, _, _ = request(port, "POST", "/v2/models/symbatch/infer", body)
    return status == 200


def fault_cases(checks, port, client, work):
    """Each refused request: its status, an error naming the problem, and a working server afterwards."""
    good = {"name": "input", "datatype": "FP32", "shape": [1, 3, 32, 32], "data": [0.0] * 3072}
    cases = [
        ("unknown model", "/v2/models/nosuch/infer", {"inputs": [good]}, 404, "unknown model 'nosuch'"),
        ("missing input", "/v2/models/symbatch/infer", {"inputs": []}, 400, "needs input 'input'"),
        ("extra input", "/v2/models/symbatch/infer", {"inputs": [good, dict(good, name="other")]}, 400, "no input 'other'"),
        ("wrong datatype", "/v2/models/symbatch/infer", {"inputs": [dict(good, datatype="FP64")]}, 400, "is FP64, but the model takes FP32"),
        ("wrong shape", "/v2/models/symbatch/infer", {"inputs": [dict(good, shape=[1, 3, 31, 32])]}, 400, "has shape [1, 3, 31, 32]"),
        ("data not filling the shape", "/v2/models/symbatch/infer", {"inputs": [dict(good, data=[0.0] * 5)]}, 400, "has 5 data elements"),
        ("unknown output", "/v2/models/symbatch/infer", {"inputs": [good], "outputs": [{"name": "nope"}]}, 400, "no output 'nope'"),
    ]
    for label, path, body, status, message in cases:
        got, _, reply = request(port, "POST", path, json.dumps(body))
        checks.check(f"fault: {label} -> {status}", got == status and message in error_of(reply), f"{got} {error_of(reply)}")
        checks.check(f"fault: {label}, then the server still serves", still_serves(port))

    got, _, reply = request(port, "POST", "/v2/models/symbatch/infer", b'{"inputs": [{"name": "input",')
    checks.check("fault: malformed JSON -> 400", got == 400 and "malformed JSON" in error_of(reply), f"{got} {error_of(reply)}")
    header = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 32, 32],
                                     "parameters": {"binary_data_size": 12288}}]}).encode()
    got, _, reply = request(port, "POST", "/v2/models/symbatch/infer", header + bytes(100),
                            {"Inference-Header-Content-Length": str(len(header))})
    checks.check("fault: binary data shorter than binary_data_size -> 400", got == 400 and "12288 bytes" in error_of(reply),
                 f"{got} {error_of(reply)}")
    got, _, reply = request(port, "GET", "/v2/models/nosuch")
    checks.check("fault: metadata of an unknown model -> 404", got == 404 and "nosuch" in error_of(reply))

    # A body over --max-request-bytes: 413, answered without the server reading it all.
    status = oversized_request(port)
    checks.check("fault: a body over --max-request-bytes -> 413", status == 413, f"status {status}")
    checks.check("fault: oversized body, then the server still serves", still_serves(port))

    # A body that never finishes: the server closes the connection after its idle timeout.
    with socket.create_connection(("127.0.0.1", port), timeout=60) as stalled:
        stalled.sendall(b"POST /v2/models/symbatch/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"inp")
        try:
            closed = stalled.recv(4096) is not None  # b"" (closed) or a response; a timeout raises
        except (socket.timeout, ConnectionResetError) as e:
            closed = isinstance(e, ConnectionResetError)
    checks.check(f"fault: a body that never finishes is closed after the idle timeout ({IDLE_TIMEOUT} s)", closed)
    checks.check("fault: stalled body, then the server still serves", still_serves(port))

    # Clients that disconnect mid-body and while their inference runs.
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", port), timeout=60) as gone:
            gone.sendall(b"POST /v2/models/symbatch/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{\"inputs\": [")
        body = json.dumps({"inputs": [good]}).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=60) as gone:
            gone.sendall(b"POST /v2/models/symbatch/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    checks.check("fault: clients that disconnect mid-request, then the server still serves", still_serves(port))
    checks.check("fault: and it is still live", client.is_server_live())


def oversized_request(port):
    """Sends a body of --max-request-bytes + 1 bytes; the status the server answers (None if none)."""
    size = MAX_REQUEST_BYTES + 1
    with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
        connection.sendall(b"POST /v2/models/symbatch/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        chunk = bytes(1 << 16)
        sent = 0
        try:
            while sent < size:
                sent += connection.send(chunk[:min(len(chunk), size - sent)])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before taking the rest
        reply = b""
        try:
            while b"\r\n" not in reply:
                part = connection.recv(4096)
                if not part:
                    break
                reply += part
        except ConnectionResetError:
            pass
    found = re.match(rb"HTTP/1\.1 (\d+)", reply)
    return int(found.group(1)) if found else None


def scrape_metrics(port):
    """The status, text and samples (series -> value) of one GET /metrics."""
    status, _, body = request(port, "GET", "/metrics")
    text = body.decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            values[key] = float(value)
    return status, text, values


def metrics_check(checks, port):
    status, text, values = scrape_metrics(port)
    checks.check("metrics: Prometheus text", status == 200 and "# TYPE resin_inference_duration_seconds histogram" in text)
    checks.check("metrics: requests and failures counted per model",
                 values.get('resin_inference_requests_total{model="symbatch"}', 0) >= 10
                 and values.get('resin_inference_failures_total{model="symbatch",status="400"}', 0) >= 6, text[:400])

    # The clients that hung up above can leave requests the server is still finishing when the scrape above
    # ran: a run whose client is gone, a body read that ends only at the idle timeout. The books balance once
    # those end, so wait for that, up to a bound. A request counted but never finished, or a run never ended,
    # still fails here.
    def balanced(values):
        return (values.get('resin_inference_duration_seconds_count{model="symbatch"}')
                == values.get('resin_inference_requests_total{model="symbatch"}')
                and values.get('resin_inference_runs_in_flight{model="symbatch"}') == 0)
    deadline = time.monotonic() + 30
    while not balanced(values) and time.monotonic() < deadline:
        time.sleep(0.1)
        _, _, values = scrape_metrics(port)
    label = '{model="symbatch"}'
    series = ("resin_inference_requests_total", "resin_inference_duration_seconds_count", "resin_inference_runs_in_flight")
    checks.check("metrics: every request in the latency histogram, none left in flight (within 30 s)", balanced(values),
                 ", ".join(f"{name} {values.get(name + label)}" for name in series))


def drain_check(checks, server, graph):
    """SIGTERM while large requests run or wait: each completes with its own correct output, then exit 0."""
    port = server.port
    rng = np.random.default_rng(5)
    batches = [rng.standard_normal((512, 3, 32, 32), dtype=np.float32) for _ in range(3)]
    results = [None] * len(batches)

    def send(index):
        try:
            client = triton.InferenceServerClient(server.url, network_timeout=300)
            output, _ = infer(client, "symbatch", batches[index], True, graph.input[0].name, graph.output[0].name)
            results[index] = output
        except Exception as e:  # noqa: BLE001 (reported below)
            results[index] = e

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    in_flight = 0
    for _ in range(5000):
        _, _, body = request(port, "GET", "/metrics")
        found = re.search(rb'resin_inference_runs_in_flight\{model="symbatch"\} (\d+)', body)
        in_flight = int(found.group(1)) if found else 0
        # All of them received (one running, the others waiting for the session): none may be lost.
        if in_flight == len(batches):
            break
    server.process.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(300)
    checks.check("drain: every request was in flight when SIGTERM arrived", in_flight == len(batches), f"{in_flight}")
    session = ort_session(os.path.join(ROOT, "Fixtures/quirk-symbolic-batch/model.onnx"), 2)
    for index, output in enumerate(results):
        if isinstance(output, np.ndarray):
            reference = session.run(None, {graph.input[0].name: batches[index]})[0]
            mismatch = compare(reference, output, RTOL, ATOL, "served")
            checks.check(f"drain: request {index} completed after SIGTERM with its own output", mismatch is None, str(mismatch))
        else:
            checks.check(f"drain: request {index} completed after SIGTERM", False, str(output))


if __name__ == "__main__":
    sys.exit(main())

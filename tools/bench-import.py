#!/usr/bin/env python3
"""Compares ONNX import time: onnx.load (Python, in-process) vs Resin's importer.

Invocation (the script re-executes itself with the pinned venv python from tools/venv.sh,
so both forms are equivalent):

    "$(tools/venv.sh)" tools/bench-import.py --resin PATH_TO_RESIN MODEL.onnx [--repeat 5]
    python3 tools/bench-import.py --resin .build/release/resin .generated/full/resnet50/model.onnx

For the same file it measures, `--repeat` times each after one unmeasured warm-up run (so the
file is in the page cache for both):
  - onnx.load(MODEL) in this process (external data included);
  - `RESIN inspect --json MODEL`: the `importMs` key of its JSON output (searched at any
    depth), and the wall time of the whole process;
and prints medians (with min/max) and the ratios as a small aligned table.
"""
import os
import sys


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from toolenv import ensure_venv  # noqa: E402

ensure_venv(__file__)

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import onnx  # noqa: E402


def find_key(obj, key):
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for v in obj.values():
            r = find_key(v, key)
            if r is not None:
                return r
    elif isinstance(obj, list):
        for v in obj:
            r = find_key(v, key)
            if r is not None:
                return r
    return None


def parse_json(text):
    try:
        return json.loads(text)
    except ValueError:
        a, b = text.find("{"), text.rfind("}")
        if a >= 0 and b > a:
            return json.loads(text[a:b + 1])
        raise


def external_size(path):
    """Bytes of the external data files the model refers to."""
    from onnx.external_data_helper import _get_all_tensors, uses_external_data
    m = onnx.load(path, load_external_data=False)
    base = os.path.dirname(os.path.abspath(path))
    files = set()
    for t in _get_all_tensors(m):
        if uses_external_data(t):
            loc = next((e.value for e in t.external_data if e.key == "location"), None)
            if loc:
                files.add(os.path.normpath(os.path.join(base, loc)))
    return sum(os.path.getsize(f) for f in files if os.path.isfile(f))


def time_onnx_load(path):
    gc.collect()
    t0 = time.perf_counter()
    m = onnx.load(path)
    dt = (time.perf_counter() - t0) * 1000.0
    del m
    return dt


def time_resin(resin, path, timeout):
    t0 = time.perf_counter()
    r = subprocess.run([resin, "inspect", "--json", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    wall = (time.perf_counter() - t0) * 1000.0
    if r.returncode != 0:
        first = (r.stderr.decode(errors="replace").strip().splitlines() or [""])[0]
        sys.exit(f"error: `resin inspect --json` exited with {r.returncode}: {first}")
    try:
        doc = parse_json(r.stdout.decode(errors="replace"))
    except ValueError:
        sys.exit("error: `resin inspect --json` did not print JSON")
    ms = find_key(doc, "importMs")
    if not isinstance(ms, (int, float)):
        sys.exit("error: no numeric `importMs` key in the JSON of `resin inspect --json`")
    return float(ms), wall


def main():
    ap = argparse.ArgumentParser(description="onnx.load vs Resin import time")
    ap.add_argument("--resin", required=True, help="path to the resin binary")
    ap.add_argument("model", metavar="MODEL.onnx")
    ap.add_argument("--repeat", type=int, default=5, help="measured runs of each (default 5)")
    ap.add_argument("--timeout", type=float, default=600, help="per resin run, seconds")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")
    resin = os.path.abspath(args.resin) if os.sep in args.resin else args.resin
    path = args.model

    # Warm-up (page cache, lazy imports), not measured.
    time_onnx_load(path)
    time_resin(resin, path, args.timeout)

    py, imp, wall = [], [], []
    for _ in range(args.repeat):
        py.append(time_onnx_load(path))
        ms, w = time_resin(resin, path, args.timeout)
        imp.append(ms)
        wall.append(w)

    size = os.path.getsize(path)
    ext = external_size(path)
    med = statistics.median
    def fmt(n):
        return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.1f} KiB"
    print(f"model  {path}  ({fmt(size)}" + (f" + {fmt(ext)} external data" if ext else "")
          + f"), {args.repeat} runs after 1 warm-up")
    rows = [
        ("onnx.load (in-process)", py),
        ("resin importMs", imp),
        ("resin inspect process wall", wall),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"{'measure':{w}s}  {'median ms':>10s}  {'min ms':>10s}  {'max ms':>10s}")
    for name, xs in rows:
        print(f"{name:{w}s}  {med(xs):10.2f}  {min(xs):10.2f}  {max(xs):10.2f}")

    def ratio(a, b):
        return f"{a / b:10.2f}x" if b > 0 else f"{'n/a':>11s}"
    print(f"{'onnx.load / resin importMs':{w}s}  {ratio(med(py), med(imp))}")
    print(f"{'onnx.load / resin wall':{w}s}  {ratio(med(py), med(wall))}")


if __name__ == "__main__":
    main()

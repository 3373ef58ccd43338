#!/usr/bin/env python3
"""Checks Resin's native `.resin` files: writing, reading, exporting back, fp16, compression and
the rejection of corrupt or truncated files.

Invocation (the script re-executes itself with the pinned venv python from tools/venv.sh,
so both forms are equivalent):

    "$(tools/venv.sh)" tools/check_native.py --resin PATH_TO_RESIN [--quick] DIR...
    python3 tools/check_native.py --resin .build/release/resin Fixtures/ .generated/full/resnet50

Each DIR is a test-case folder: model.onnx (+ external data) and test_data_set_*/{input,output}_*.pb
(a DIR without model.onnx whose sub-folders have one, like Fixtures/, is expanded to them).
Tensor files are bound to the model's inputs and outputs by their TensorProto names when these all
name graph inputs (those that are not initializers) / graph outputs, else by order. For each DIR,
with one conversion of each kind reused by every step:
  (1) `RESIN convert DIR/model.onnx TMP/m.resin` succeeds; `RESIN inspect --json TMP/m.resin` says
      "format": "resin" and has the original's input and output names; for every test_data_set,
      `RESIN verify TMP/m.resin --input NAME=FILE... --expected NAME=FILE... --rtol 1e-4 --atol 1e-4`
      passes, and so does the same with --verify-weights.
  (2) `RESIN convert TMP/m.resin TMP/back.onnx` succeeds; onnx.checker.check_model (path form,
      full_check=True) accepts it; its nodes are all in the default domain and its opset_import
      names no domain the original does not; its graph inputs and outputs have the original's
      names; ONNX Runtime (CPUExecutionProvider, graph optimizations disabled) on back.onnx matches
      ORT on the original for every test_data_set within rtol 1e-4, atol 1e-4
      (|a - e| <= atol + rtol * |e|, NaN only matching NaN).
  (3) `RESIN convert --fp16 DIR/model.onnx TMP/h.resin` succeeds; when the fp32 .resin is at least
      64 KiB (so that its weights dominate) h.resin is 0.4 to 0.65 times its size; `RESIN verify`
      on h.resin passes at rtol 1e-2, atol 1e-2; `RESIN run h.resin` gives, for every image, the
      expected output's top-1 class (argmax over the last axis of the first output). An image whose
      expected scores for the two classes are equal within that tolerance (a near-tie, which
      verify already accepts either way) is counted as a near-tie, not a failure.
  (4) `RESIN convert --compress DIR/model.onnx TMP/c.resin` verifies as in (1), plain and with
      --verify-weights.
  (5) Corruption (skipped with --quick). First `RESIN inspect` and `RESIN inspect --verify-weights`
      must accept the intact TMP/m.resin. Its layout is read from its own header and section table
      as Docs/FORMAT.md (version 1) gives them: header H bytes, table, graph section (entry 0), blobs
      (entries 1..n, named by the initializers whose external_data points at them); the intact file
      must read that way. `inspect --json`'s "native" object, {"headerBytes": H, "sectionTable":
      {"offset", "length"}, "graph": {"offset", "length"}, "blobs": [{"offset", "length"}, ...]},
      must agree with it when present, and serves as the layout when the header cannot be read;
      with neither, the first 4096 bytes (or the whole file, if smaller) count as structural, and
      the graph and blob flips are skipped (a note says so).
      Each corrupt copy is one change to the intact file:
        - every byte of the header and the section table XOR 0xFF, and 64 evenly spaced bytes of
          the graph section: `RESIN inspect COPY` must exit 2 with a message on stderr naming the
          file;
        - one byte in the middle of each of the first 8 weight blobs: `RESIN inspect
          --verify-weights COPY` must exit 2 naming the file and the blob (as "section K" or
          "blob K", K its table index, or by its initializer's name); plain `RESIN inspect COPY`
          may pass or exit 2, nothing else;
        - the file truncated at 50 lengths spread over it (0, 1, H-1, H, inside the table, inside
          the graph, inside blobs, size-1 and evenly spaced ones): `RESIN inspect COPY` must exit 2
          naming the file.
      No copy may crash resin (signal) or hang it (30 s timeout each). The copies run on 2 worker
      threads, each with its own copy of the file that it changes in place and restores (and
      truncates from the longest length down), so a big model is copied twice, not once per case.
With --export-only, only the two conversions and the checks on back.onnx of (2) run (the node tests
use it: tools/conformance/run_node_tests.py --native verifies their .resin at Docs/CLI.md's
tolerances).
Prints one PASS/FAIL line per model with the reasons and figures (sizes, how many corrupt copies
were checked), then `N passed, M failed`; exit status 1 if any failed.
"""
import os
import sys


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from toolenv import ensure_venv  # noqa: E402

ensure_venv(__file__)

from ortsupport import case_file_index as _index, compare_sessions  # noqa: E402
from checksupport import (default_domain as _default_domain, describe_exit, display_name, expand,  # noqa: E402
                          first_line as _first_line, how_it_ended, run_resin)

import argparse  # noqa: E402
import collections  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import queue  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import struct  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402

RTOL = 1e-4
ATOL = 1e-4
FP16_TOL = 1e-2
FP16_RATIO = (0.4, 0.65)
FP16_SIZE_MIN = 64 * 1024
STRUCTURAL_FALLBACK = 4096
GRAPH_FLIPS = 64
BLOB_FLIPS = 8
TRUNCATIONS = 50
CORRUPT_TIMEOUT = 30.0
MAGIC = b"RESIN\x00\x1a\n"


# --------------------------------------------------------------------------------------------
# The test case


class Case:
    """The original model's interface and its test data sets, bound to input and output names."""

    def __init__(self, case_dir):
        self.dir = case_dir
        self.model = os.path.join(case_dir, "model.onnx")
        m = onnx.load(self.model, load_external_data=False)
        g = m.graph
        initializers = {t.name for t in g.initializer} | {t.values.name for t in g.sparse_initializer}
        self.input_names = [v.name for v in g.input if v.name not in initializers]
        self.output_names = [v.name for v in g.output]
        self.opset_domains = {"" if _default_domain(o.domain) else o.domain for o in m.opset_import}
        # [(set name, [(input name, path, tensor)], [(output name, path, tensor)])]
        self.sets = []
        self.binding_errors = []
        for ds in sorted(glob.glob(os.path.join(case_dir, "test_data_set_*")), key=_index):
            name = os.path.basename(ds)
            try:
                ins = self._bind(sorted(glob.glob(os.path.join(ds, "input_*.pb")), key=_index),
                                 self.input_names, "input")
                outs = self._bind(sorted(glob.glob(os.path.join(ds, "output_*.pb")), key=_index),
                                  self.output_names, "output")
            except ValueError as e:
                self.binding_errors.append(f"{name}: {e}")
                continue
            if not outs:
                self.binding_errors.append(f"{name}: no output_*.pb")
                continue
            self.sets.append((name, ins, outs))

    @staticmethod
    def _bind(paths, graph_names, what):
        tensors = [onnx.load_tensor(p) for p in paths]
        names = [t.name for t in tensors]
        if names and all(n in graph_names for n in names) and len(set(names)) == len(names):
            return [(t.name, p, t) for p, t in zip(paths, tensors)]
        if len(tensors) > len(graph_names):
            raise ValueError(f"{len(tensors)} {what} files for {len(graph_names)} graph {what}s")
        return [(graph_names[k], p, t) for k, (p, t) in enumerate(zip(paths, tensors))]


# --------------------------------------------------------------------------------------------
# Running resin


def tolerance_args(rtol, atol):
    return ["--rtol", repr(rtol), "--atol", repr(atol)]


def binding_args(ins, outs):
    args = []
    for name, path, _ in ins:
        args += ["--input", f"{name}={path}"]
    for name, path, _ in outs:
        args += ["--expected", f"{name}={path}"]
    return args


def convert(resin, args, src, dst, label, reasons):
    """`resin convert [args] src dst`; True when it succeeded and wrote dst."""
    code, so, se = run_resin(resin, ["convert"] + args + [src, dst], ARGS.timeout)
    if code != 0:
        reasons.append(f"{label} " + describe_exit(code, so, se))
        return False
    if not os.path.isfile(dst):
        reasons.append(f"{label} exited 0 but wrote no {os.path.basename(dst)}")
        return False
    return True


def verify_all(resin, case, model, rtol, atol, extra, label, reasons):
    """`resin verify model` on every test data set; True when all passed."""
    ok = True
    for ds, ins, outs in case.sets:
        args = ["verify", model] + binding_args(ins, outs) + tolerance_args(rtol, atol) \
            + ["--threads", str(ARGS.threads)] + extra
        code, so, se = run_resin(resin, args, ARGS.timeout)
        if code != 0:
            ok = False
            reasons.append(f"{label} ({ds}, rtol {rtol:g} atol {atol:g}) " + describe_exit(code, so, se))
    return ok


# --------------------------------------------------------------------------------------------
# Comparisons


# --------------------------------------------------------------------------------------------
# (1) inspect --json on the .resin


def check_inspect_json(resin, case, path, reasons):
    """The report of `inspect --json path`, or None."""
    code, so, se = run_resin(resin, ["inspect", "--json", path], ARGS.timeout)
    if code != 0:
        reasons.append("inspect --json m.resin " + describe_exit(code, so, se))
        return None
    try:
        report = json.loads(so)
    except ValueError as e:
        reasons.append(f"inspect --json m.resin printed no JSON object: {_first_line(e)}")
        return None
    if not isinstance(report, dict):
        reasons.append("inspect --json m.resin printed no JSON object")
        return None
    if report.get("format") != "resin":
        reasons.append(f"inspect --json m.resin: format {report.get('format')!r}, not 'resin'")

    def names(key):
        v = report.get(key)
        if not isinstance(v, list):
            return None
        return [x.get("name") if isinstance(x, dict) else None for x in v]

    ins, outs = names("inputs"), names("outputs")
    if ins is None or sorted(map(str, ins)) != sorted(case.input_names):
        reasons.append(f"inspect --json m.resin: inputs {ins}, original {case.input_names}")
    if outs != case.output_names:
        reasons.append(f"inspect --json m.resin: outputs {outs}, original {case.output_names}")
    return report


# --------------------------------------------------------------------------------------------
# (2) the exported ONNX file


def check_exported(case, back, reasons, notes):
    try:
        onnx.checker.check_model(back, full_check=True)
    except Exception as e:  # ValidationError, InferenceError and others
        reasons.append("checker on back.onnx: " + _first_line(e))
    try:
        m = onnx.load(back, load_external_data=False)
    except Exception as e:
        reasons.append(f"onnx cannot load back.onnx: {_first_line(e)}")
        return
    domains = collections.Counter(n.domain for n in m.graph.node if not _default_domain(n.domain))
    if domains:
        reasons.append("back.onnx has nodes outside the default domain: "
                       + ", ".join(f"{d} ({c})" for d, c in sorted(domains.items())))
    extra = sorted({o.domain for o in m.opset_import if not _default_domain(o.domain)} - case.opset_domains)
    if extra:
        reasons.append(f"back.onnx opset_import has domain(s) the original does not: {extra}")
    if not any(_default_domain(o.domain) for o in m.opset_import):
        reasons.append("back.onnx imports no default-domain opset")
    initializers = {t.name for t in m.graph.initializer}
    ins = [v.name for v in m.graph.input if v.name not in initializers]
    outs = [v.name for v in m.graph.output]
    if sorted(ins) != sorted(case.input_names):
        reasons.append(f"back.onnx graph inputs {ins}, original {case.input_names}")
    if outs != case.output_names:
        reasons.append(f"back.onnx graph outputs {outs}, original {case.output_names}")
        return

    feed_sets = [(ds, {name: numpy_helper.to_array(t) for name, _, t in ins}) for ds, ins, _ in case.sets]
    worst = compare_sessions(case.model, back, "back.onnx", "exported", case.output_names, feed_sets, RTOL, ATOL,
                             ARGS.threads, reasons)
    if worst is None:
        return
    notes.append(f"back.onnx ORT max diff {worst:.2g} ({len(m.graph.node)} nodes)")


# --------------------------------------------------------------------------------------------
# (3) fp16


def check_top1(resin, case, half, tmp, reasons, notes):
    first = case.output_names[0] if case.output_names else None
    images = near_ties = 0
    for ds, ins, outs in case.sets:
        exp = [t for name, _, t in outs if name == first]
        if not exp:
            reasons.append(f"fp16 top-1 ({ds}): no expected tensor for the first output {first}")
            continue
        expected = numpy_helper.to_array(exp[0])
        out = os.path.join(tmp, f"h-{ds}.npy")
        args = ["run", half] + [a for name, path, _ in ins for a in ("--input", f"{name}={path}")] \
            + ["--output", f"{first}={out}", "--threads", str(ARGS.threads)]
        code, so, se = run_resin(resin, args, ARGS.timeout)
        if code != 0:
            reasons.append(f"fp16 run ({ds}) " + describe_exit(code, so, se))
            continue
        try:
            actual = np.load(out, allow_pickle=False)
        except Exception as e:
            reasons.append(f"fp16 run ({ds}) wrote no readable {os.path.basename(out)}: {_first_line(e)}")
            continue
        if actual.shape != expected.shape or expected.ndim == 0 or expected.shape[-1] == 0:
            reasons.append(f"fp16 run ({ds}): {first} has shape {list(actual.shape)}, "
                           f"expected {list(expected.shape)}")
            continue
        e2 = expected.reshape(-1, expected.shape[-1]).astype(np.float64)
        a2 = actual.reshape(-1, actual.shape[-1]).astype(np.float64)
        want, got = e2.argmax(axis=1), a2.argmax(axis=1)
        wrong = []
        for i in range(e2.shape[0]):
            images += 1
            if want[i] == got[i]:
                continue
            top, other = e2[i, want[i]], e2[i, got[i]]
            if abs(top - other) <= FP16_TOL + FP16_TOL * abs(top):
                near_ties += 1
            else:
                wrong.append(f"image {i}: class {got[i]}, expected {want[i]} "
                             f"(expected scores {top:.4g} vs {other:.4g})")
        if wrong:
            reasons.append(f"fp16 top-1 ({ds}): {len(wrong)} of {e2.shape[0]} image(s) differ: "
                           + "; ".join(wrong[:3]))
    if images:
        notes.append(f"fp16 top-1 on {images} image(s)" + (f", {near_ties} near-tie(s)" if near_ties else ""))


# --------------------------------------------------------------------------------------------
# (5) corruption


def _region(obj, size, what, problems):
    if not isinstance(obj, dict):
        problems.append(f"{what} is not an object")
        return None
    off, ln = obj.get("offset"), obj.get("length")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (off, ln)):
        problems.append(f"{what} lacks integer offset/length")
        return None
    if off < 0 or ln < 0 or off + ln > size:
        problems.append(f"{what} [{off}, +{ln}) is outside the {size}-byte file")
        return None
    return off, ln


def native_layout(report, size):
    """(layout, problems) from `inspect --json`'s "native" object; layout is None when there is none."""
    native = report.get("native") if isinstance(report, dict) else None
    if native is None:
        return None, []
    problems = []
    if not isinstance(native, dict):
        return None, ["`native` is not an object"]
    h = native.get("headerBytes")
    if not isinstance(h, int) or isinstance(h, bool) or not 0 < h <= size:
        problems.append(f"headerBytes {h!r} is not within the {size}-byte file")
    table = _region(native.get("sectionTable"), size, "sectionTable", problems)
    graph = _region(native.get("graph"), size, "graph", problems)
    blobs = []
    raw = native.get("blobs")
    if not isinstance(raw, list):
        problems.append("blobs is not a list")
    else:
        for k, b in enumerate(raw):
            r = _region(b, size, f"blobs[{k}]", problems)
            if r:
                name = b.get("name") if isinstance(b.get("name"), str) and b.get("name") else None
                blobs.append((r[0], r[1], name, k + 1))  # the graph is section 0
    if problems:
        return None, problems
    return {"header": h, "table": table, "graph": graph, "blobs": blobs}, []


def header_layout(data):
    """(layout, problems) read from the file's own header and section table as Docs/FORMAT.md
    (version 1) lays them out: header 64 bytes (magic, u16 major, u16 minor, u32 header size,
    u64 file size, u64 table offset, u32 section count, ...), 48-byte entries (u32 kind, u32
    encoding, u64 offset, u64 stored size, ...), entry 0 the graph (an ONNX ModelProto whose
    initializers point at their blob by external_data section = index)."""
    size = len(data)
    if size < 64:
        return None, [f"the file is {size} bytes, shorter than the 64-byte header"]
    if data[:8] != MAGIC:
        return None, [f"magic {data[:8].hex(' ')}, Docs/FORMAT.md says {MAGIC.hex(' ')}"]
    major, minor, hsize, fsize, toff, count = struct.unpack_from("<HHIQQI", data, 8)
    if major != 1:
        return None, [f"format version {major}.{minor}; this check reads version 1 (Docs/FORMAT.md)"]
    problems = []
    if fsize != size:
        problems.append(f"the header records {fsize} bytes, the file has {size}")
    if not 0 < hsize <= size:
        problems.append(f"header size {hsize}")
    if count < 1 or toff < hsize or toff + 48 * count > size:
        problems.append(f"section table at {toff}, {count} entries, does not fit the {size}-byte file")
    if problems:
        return None, problems
    sections = []
    for k in range(count):
        kind, _, off, ln = struct.unpack_from("<IIQQ", data, toff + 48 * k)
        if off + ln > size:
            problems.append(f"section {k} [{off}, +{ln}) is outside the file")
        if (kind == 1) != (k == 0):
            problems.append(f"section {k} has kind {kind}")
        sections.append((off, ln))
    if problems:
        return None, problems
    names = {}
    try:
        model = onnx.ModelProto.FromString(data[sections[0][0]:sections[0][0] + sections[0][1]])
        for t in model.graph.initializer:
            where = {e.key: e.value for e in t.external_data}
            if where.get("location") == "resin:section" and where.get("section", "").isdigit():
                names[int(where["section"])] = t.name
    except Exception as e:  # a graph this check cannot decode still has its extent
        problems.append(f"the graph section does not decode as a ModelProto: {_first_line(e)}")
    blobs = [(off, ln, names.get(k), k) for k, (off, ln) in enumerate(sections) if k > 0]
    return {"header": hsize, "table": (toff, 48 * count), "graph": sections[0], "blobs": blobs}, problems


def compare_layouts(from_header, from_inspect):
    """Differences between the header's layout and the one `inspect --json` reports."""
    diffs = []
    for key in ("header", "table", "graph"):
        if from_header[key] != from_inspect[key]:
            diffs.append(f"{key} {from_inspect[key]} (header: {from_header[key]})")
    a = [(off, ln) for off, ln, _, _ in from_header["blobs"]]
    b = [(off, ln) for off, ln, _, _ in from_inspect["blobs"]]
    if a != b:
        first = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
        diffs.append(f"{len(b)} blobs (header: {len(a)}), first difference at blob {first + 1}")
    return diffs


def spread(lo, hi, count):
    """count positions evenly spaced over [lo, hi), first and last included."""
    n = hi - lo
    if n <= 0:
        return []
    if n <= count:
        return list(range(lo, hi))
    return sorted({lo + (i * (n - 1)) // (count - 1) for i in range(count)})


def truncation_lengths(size, layout):
    must = {0, 1, size - 1}
    if layout:
        h = layout["header"]
        must |= {h - 1, h}
        for off, ln in (layout["table"], layout["graph"]):
            if ln:
                must |= {off, off + ln // 2, off + ln - 1}
        blobs = layout["blobs"]
        if blobs:
            picks = [blobs[i] for i in sorted({0, len(blobs) // 2, len(blobs) - 1})]
            for off, ln, _, _ in picks:
                if ln:
                    must.add(off + ln // 2)
    else:
        s = min(size, STRUCTURAL_FALLBACK)
        must |= {s // 2, s - 1}
    must = {k for k in must if 0 <= k < size}
    lengths = set(must)
    want = min(TRUNCATIONS, size)
    need = want - len(lengths)
    for i in range(max(need, 0)):
        k = int((i + 0.5) * size / need)
        while k in lengths and k < size - 1:
            k += 1
        while k in lengths and k > 0:
            k -= 1
        lengths.add(k)
    return sorted(lengths)


class Outcome:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.failures = collections.defaultdict(list)

    def record(self, kind, failure):
        with self.lock:
            self.counts[kind] += 1
            if failure:
                self.failures[kind].append(failure)


def judge(kind, where, code, stderr, copy, must_fail, blob=None):
    """None when resin reacted as it must to this corrupt copy, else what went wrong."""
    if code is None:  # timed out (a hang), or resin could not be started at all
        return f"{where}: {stderr}"
    if code < 0:
        return f"{where}: {how_it_ended(code)}"
    if code == 0 and not must_fail:
        return None
    msg = stderr.strip()
    first = msg.splitlines()[0][:160] if msg else ""
    if code != 2:
        return f"{where}: {how_it_ended(code)}" + (f" ({first})" if first else "")
    if not msg:
        return f"{where}: exit 2 with nothing on stderr"
    if os.path.basename(copy) not in msg:
        return f"{where}: exit 2, the message does not name the file: {first}"
    if kind == "blob-verify":
        name, index, _ = blob
        if not ((name and name in msg) or re.search(rf"\b(?:section|blob)\s*#?{index}\b", msg, re.IGNORECASE)):
            return (f"{where}: exit 2, the message does not name section {index}"
                    + (f" or {name!r}" if name else "") + f": {first}")
    return None


def check_corruption(resin, path, report, tmp, reasons, notes):
    size = os.path.getsize(path)
    for extra in ([], ["--verify-weights"]):
        code, so, se = run_resin(resin, ["inspect"] + extra + [path], ARGS.timeout)
        if code != 0:
            reasons.append(f"inspect {' '.join(extra + ['m.resin'])} on the intact file "
                           + describe_exit(code, so, se) + "; corruption checks skipped")
            return
    with open(path, "rb") as f:
        original = f.read()
    layout, problems = header_layout(original)
    source = "header"
    if problems:
        reasons.append("the intact m.resin does not read as Docs/FORMAT.md says: " + "; ".join(problems))
    reported, problems = native_layout(report, size)
    if problems:
        reasons.append("inspect --json `native` is unusable: " + "; ".join(problems))
    if layout and reported:
        diffs = compare_layouts(layout, reported)
        if diffs:
            reasons.append("inspect --json `native` disagrees with the file's header: " + "; ".join(diffs))
    elif reported:
        layout, source = reported, "inspect --json"

    flips = []  # (kind, position, blob name)
    if layout:
        structural = set(range(0, layout["header"]))
        t_off, t_len = layout["table"]
        structural |= set(range(t_off, t_off + t_len))
        g_off, g_len = layout["graph"]
        graph = [p for p in spread(g_off, g_off + g_len, GRAPH_FLIPS) if p not in structural]
        blobs = [(off + ln // 2, name, k) for off, ln, name, k in layout["blobs"] if ln][:BLOB_FLIPS]
        layout_note = (f"layout from the {source}: header {layout['header']} B, table {t_len} B, "
                       f"graph {g_len} B, {len(layout['blobs'])} blobs")
    else:
        structural = set(range(0, min(size, STRUCTURAL_FALLBACK)))
        graph, blobs = [], []
        layout_note = (f"no usable layout: first {len(structural)} B taken as structural, graph and "
                       "blob flips skipped")
    flips += [("structural", p, None) for p in sorted(structural)]
    flips += [("graph", p, None) for p in graph]
    for p, name, k in blobs:
        label = f"section {k}" + (f" {name}" if name else "")
        flips.append(("blob-verify", p, (name, k, label)))
        flips.append(("blob-plain", p, (name, k, label)))
    truncs = truncation_lengths(size, layout)

    outcome = Outcome()
    flip_q = queue.Queue()
    for f in flips:
        flip_q.put(f)
    trunc_q = queue.Queue()
    for k in sorted(truncs, reverse=True):  # every worker then truncates its own copy downwards
        trunc_q.put(k)
    errors = []

    def worker(w):
        copy = os.path.join(tmp, f"corrupt-{w}.resin")
        try:
            shutil.copyfile(path, copy)
            fd = os.open(copy, os.O_RDWR)
            try:
                while True:
                    try:
                        kind, pos, blob = flip_q.get_nowait()
                    except queue.Empty:
                        break
                    byte = original[pos]
                    os.pwrite(fd, bytes([byte ^ 0xFF]), pos)
                    try:
                        args = ["inspect", "--verify-weights", copy] if kind == "blob-verify" else ["inspect", copy]
                        code, _, se = run_resin(resin, args, CORRUPT_TIMEOUT)
                    finally:
                        os.pwrite(fd, bytes([byte]), pos)
                    where = f"byte {pos}" + (f" ({blob[2]})" if blob else "")
                    if kind == "blob-verify":
                        where += " with --verify-weights"
                    outcome.record(kind, judge(kind, where, code, se, copy, kind != "blob-plain", blob))
            finally:
                os.close(fd)
            while True:
                try:
                    k = trunc_q.get_nowait()
                except queue.Empty:
                    break
                os.truncate(copy, k)
                code, _, se = run_resin(resin, ["inspect", copy], CORRUPT_TIMEOUT)
                outcome.record("truncated", judge("truncated", f"length {k}", code, se, copy, True))
        except Exception as e:  # I/O trouble of this script, not resin's
            errors.append(f"worker {w}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(max(1, ARGS.workers))]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in errors:
        reasons.append("corruption checks: " + e)

    labels = (("structural", "header+table flips" if layout else f"flips of the first {len(structural)} B"),
              ("graph", "graph flips"),
              ("blob-verify", "blob flips with --verify-weights"), ("blob-plain", "blob flips without"),
              ("truncated", "truncations"))
    total = sum(outcome.counts.values())
    for kind, label in labels:
        bad = outcome.failures.get(kind)
        if bad:
            reasons.append(f"{label}: {len(bad)} of {outcome.counts[kind]} wrong: " + "; ".join(bad[:3])
                           + (" ..." if len(bad) > 3 else ""))
    counts = ", ".join(f"{outcome.counts[k]} {label}" for k, label in labels if outcome.counts[k])
    notes.append(f"corruption: {total} corrupt copies checked ({counts}) in "
                 f"{time.perf_counter() - t0:.0f}s; {layout_note}")


# --------------------------------------------------------------------------------------------
# One model


def run_checks(case_dir, resin):
    reasons, notes = [], []
    case = Case(case_dir)
    reasons += case.binding_errors
    if not case.sets:
        reasons.append("no usable test_data_set_* folder")
        return reasons, notes
    t0 = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="resin-native-")
    m = os.path.join(tmp, "m.resin")
    try:
        if ARGS.export_only:
            back = os.path.join(tmp, "back.onnx")
            if convert(resin, [], case.model, m, "convert to .resin", reasons) and \
                    convert(resin, [], m, back, "convert .resin to .onnx", reasons):
                check_exported(case, back, reasons, notes)
            return merge_same_errors(reasons, tmp), notes
        # (1)
        report = None
        have_m = convert(resin, [], case.model, m, "convert to .resin", reasons)
        if have_m:
            notes.append(f"m.resin {os.path.getsize(m)} B")
            report = check_inspect_json(resin, case, m, reasons)
            verify_all(resin, case, m, RTOL, ATOL, [], "verify m.resin", reasons)
            verify_all(resin, case, m, RTOL, ATOL, ["--verify-weights"], "verify --verify-weights m.resin",
                       reasons)

            # (2)
            back = os.path.join(tmp, "back.onnx")
            if convert(resin, [], m, back, "convert .resin to .onnx", reasons):
                check_exported(case, back, reasons, notes)

        # (3)
        h = os.path.join(tmp, "h.resin")
        if convert(resin, ["--fp16"], case.model, h, "convert --fp16", reasons):
            if have_m:
                full, half = os.path.getsize(m), os.path.getsize(h)
                ratio = half / full if full else float("inf")
                if full < FP16_SIZE_MIN:
                    notes.append(f"fp16 size {ratio:.2f}x (not checked: m.resin < {FP16_SIZE_MIN // 1024} KiB)")
                elif not FP16_RATIO[0] <= ratio <= FP16_RATIO[1]:
                    reasons.append(f"h.resin (fp16) is {half} B, {ratio:.3f} times m.resin's {full} B "
                                   f"(wanted {FP16_RATIO[0]} to {FP16_RATIO[1]})")
                else:
                    notes.append(f"fp16 size {ratio:.2f}x")
            verify_all(resin, case, h, FP16_TOL, FP16_TOL, [], "verify h.resin (fp16)", reasons)
            check_top1(resin, case, h, tmp, reasons, notes)

        # (4)
        c = os.path.join(tmp, "c.resin")
        if convert(resin, ["--compress"], case.model, c, "convert --compress", reasons):
            if have_m and os.path.getsize(m):
                notes.append(f"compressed size {os.path.getsize(c) / os.path.getsize(m):.2f}x")
            verify_all(resin, case, c, RTOL, ATOL, [], "verify c.resin (compressed)", reasons)
            verify_all(resin, case, c, RTOL, ATOL, ["--verify-weights"],
                       "verify --verify-weights c.resin (compressed)", reasons)

        # (5)
        if ARGS.quick:
            notes.append("corruption skipped (--quick)")
        elif not have_m:
            notes.append("corruption skipped (no m.resin)")
        else:
            check_corruption(resin, m, report, tmp, reasons, notes)
        notes.append(f"{time.perf_counter() - t0:.0f}s")
        return merge_same_errors(reasons, tmp), notes
    finally:
        if ARGS.keep:
            notes.append(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


ENDING = re.compile(r"^(.*?) ((?:exited with -?\d+|killed by signal [^:]*)(?:: .*)?)$", re.DOTALL)


def merge_same_errors(reasons, tmp):
    """Shortens the temporary folder out of the messages and merges the steps that failed with the
    same error (a .resin that cannot be read fails every step that reads it) into one reason."""
    out, where = [], {}
    for r in reasons:
        r = r.replace(tmp + os.sep, "")
        m = ENDING.match(r)
        if not m:
            out.append(r)
            continue
        label, ending = m.group(1), m.group(2)
        # The file name differs between m.resin, h.resin and c.resin: merge on the rest.
        key = re.sub(r"\b[mhc]\.resin\b", "X.resin", ending)
        if key in where:
            out[where[key]][0].append(label)
        else:
            where[key] = len(out)
            out.append(([label], ending))
    return [r if isinstance(r, str) else f"{', '.join(r[0])} {r[1]}" for r in out]


ARGS = None


def main():
    global ARGS
    ap = argparse.ArgumentParser(description="Checks Resin's native .resin files (see the module docstring).")
    ap.add_argument("--resin", required=True, help="path to the resin binary")
    ap.add_argument("dirs", nargs="+", metavar="DIR", help="ONNX test-case folders")
    ap.add_argument("--quick", action="store_true", help="skip the corruption checks (5)")
    ap.add_argument("--export-only", action="store_true",
                    help="only convert to .resin and back to .onnx and check the export as in (2) "
                         "(for cases verified from .resin elsewhere, like the node tests)")
    ap.add_argument("--threads", type=int, default=2,
                    help="ORT intra-op threads and resin verify/run --threads (default 2)")
    ap.add_argument("--workers", type=int, default=2, help="threads running corrupt copies (default 2)")
    ap.add_argument("--timeout", type=float, default=600,
                    help="timeout of each convert/verify/run, seconds (corrupt copies: 30)")
    ap.add_argument("--keep", action="store_true", help="keep the converted files")
    ARGS = ap.parse_args()
    resin = os.path.abspath(ARGS.resin) if os.sep in ARGS.resin else ARGS.resin
    found = resin if os.sep in resin else shutil.which(resin)
    if not found or not os.path.isfile(found) or not os.access(found, os.X_OK):
        sys.exit(f"error: resin binary not found or not executable: {ARGS.resin}")
    passed = failed = 0
    for case in expand(ARGS.dirs):
        name = display_name(case)
        if not os.path.isfile(os.path.join(case, "model.onnx")):
            reasons, notes = [f"no model.onnx in {case}"], []
        else:
            try:
                reasons, notes = run_checks(case, found)
            except Exception as e:
                reasons, notes = [f"internal error: {type(e).__name__}: {e}"], []
        tail = f" ({'; '.join(notes)})" if notes else ""
        if reasons:
            failed += 1
            print(f"FAIL {name}: " + "; ".join(reasons) + tail, flush=True)
        else:
            passed += 1
            print(f"PASS {name}{tail}", flush=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

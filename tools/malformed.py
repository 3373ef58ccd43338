#!/usr/bin/env python3
"""Feeds Resin malformed ONNX files and checks that it refuses them cleanly.

Invocation (the script re-executes itself with the pinned venv python from tools/venv.sh,
so both forms are equivalent):

    "$(tools/venv.sh)" tools/malformed.py --resin PATH_TO_RESIN --out DIR [--model MODEL.onnx] [--only SUBSTR]
    python3 tools/malformed.py --resin .build/release/resin --out /tmp/resin-malformed

Writes the malformed files (derived from a fixture model, default
Fixtures/resnet-basic-v1.5/model.onnx) into DIR/cases/, then runs `RESIN inspect FILE` and
`RESIN convert FILE DIR/out/out.onnx` on each, with a 30 s timeout. Expectations (CASES table
below, column `expect`):

  fail     both commands exit with exactly 2, print a non-empty message on stderr that contains
           the file's name (basename), and convert creates no file in DIR/out/ (for some cases
           DIR/out/out.onnx is pre-created and must stay byte-identical);
  nocrash  (random bit flips: the file may still be valid) exit code 0 or 2;
  lists    (unknown operators) `inspect` exits 0 and its output names every unknown op;
           convert is not run.
For every case: no hang, no signal (return code < 0 or >= 128), and no "Fatal error",
"Illegal instruction" or "Segmentation" on stdout/stderr.
Prints one line per case (name, result, first line of stderr), then `N passed, M failed`;
exit status 1 if any failed.
"""
import os
import sys


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from toolenv import ensure_venv  # noqa: E402

ensure_venv(__file__)

import argparse  # noqa: E402
import copy  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import AttributeProto, TensorProto, external_data_helper, helper  # noqa: E402

TOOLS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TOOLS_DIR)
DEFAULT_MODEL = os.path.join(REPO_ROOT, "Fixtures", "resnet-basic-v1.5", "model.onnx")
TIMEOUT = 30
CRASH_TEXT = ("Fatal error", "Illegal instruction", "Segmentation")


# --------------------------------------------------------------------------------------------
# Protobuf wire helpers (to locate structure in the file and to write what python protobuf won't)


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wire):
    return varint((field << 3) | wire)


def ld(field, payload):
    return key(field, 2) + varint(len(payload)) + payload


def read_varint(buf, i):
    shift = n = 0
    while True:
        b = buf[i]
        n |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return n, i
        shift += 7


def fields(buf, start, end):
    """Yields (field, wire, key_start, value_start, value_end) of a serialized message."""
    i = start
    while i < end:
        k0 = i
        k, i = read_varint(buf, i)
        f, w = k >> 3, k & 7
        if w == 0:
            _, j = read_varint(buf, i)
        elif w == 1:
            j = i + 8
        elif w == 5:
            j = i + 4
        elif w == 2:
            n, i = read_varint(buf, i)
            j = i + n
        else:
            raise ValueError(f"wire type {w} at {k0}")
        yield f, w, k0, i, j
        i = j


class Layout:
    """Byte spans of the interesting parts of a serialized ModelProto."""

    def __init__(self, data):
        self.size = len(data)
        self.top = list(fields(data, 0, len(data)))
        g = [f for f in self.top if f[0] == 7][0]
        self.graph_start, self.graph_end = g[3], g[4]
        self.graph_key = g[2]
        self.nodes, self.inits, self.raw = [], [], []
        for f, w, k0, v0, v1 in fields(data, g[3], g[4]):
            if f == 1:
                self.nodes.append((k0, v1))
            elif f == 5:
                self.inits.append((k0, v1))
                for f2, _, _, r0, r1 in fields(data, v0, v1):
                    if f2 == 9:          # TensorProto.raw_data
                        self.raw.append((r0, r1))
        self.top_boundaries = {f[2] for f in self.top} | {self.size}


# --------------------------------------------------------------------------------------------
# Case construction


def node_index(model, pred):
    return next(i for i, n in enumerate(model.graph.node) if pred(n))


def first_conv(m):
    return m.graph.node[node_index(m, lambda n: n.op_type == "Conv")]


def init_by_name(m, name):
    return next(t for t in m.graph.initializer if t.name == name)


def serialize(m):
    return m.SerializeToString()


def mutate(fn):
    """Case builder: deep-copies the base model, applies fn, serializes."""
    def build(ctx):
        m = copy.deepcopy(ctx.model)
        fn(m, ctx)
        return serialize(m)
    return build


def _raw_short(m, ctx):
    t = init_by_name(m, first_conv(m).input[1])
    t.raw_data = t.raw_data[:-4]


def _raw_long(m, ctx):
    t = init_by_name(m, first_conv(m).input[1])
    t.raw_data = t.raw_data + b"\0\0\0\0"


def _neg_dim(m, ctx):
    init_by_name(m, first_conv(m).input[1]).dims[0] = -1


def _dims_overflow(m, ctx):
    t = init_by_name(m, first_conv(m).input[1])
    del t.dims[:]
    t.dims.extend([1 << 40, 1 << 40, 1, 1])       # 2^80 elements: product overflows int64


def _dims_bytes_overflow(m, ctx):
    t = init_by_name(m, first_conv(m).input[1])
    del t.dims[:]
    t.dims.extend([1 << 31, 1 << 31, 1, 1])       # 2^62 elements fit int64, 2^64 bytes do not


def _dangling_input(m, ctx):
    n = m.graph.node[node_index(m, lambda n: n.op_type == "Relu")]
    n.input[0] = "tensor_that_nothing_produces"


def _duplicate_output(m, ctx):
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    convs[2].output[0] = convs[1].output[0]


def _cycle(m, ctx):
    conv = first_conv(m)
    bn = next(n for n in m.graph.node if conv.output[0] in n.input)
    conv.input[0] = bn.output[0]


def _set_attr(op, name, attr):
    def fn(m, ctx):
        n = m.graph.node[node_index(m, lambda n: n.op_type == op)]
        for a in n.attribute:
            if a.name == name:
                a.CopyFrom(attr)
                return
        n.attribute.append(attr)
    return fn


def _unproduced_output(m, ctx):
    m.graph.output.append(helper.make_tensor_value_info("output_nothing_produces", TensorProto.FLOAT, [1, 10]))


def _no_graph(m, ctx):
    m.ClearField("graph")


def _dtype(v):
    def fn(m, ctx):
        init_by_name(m, first_conv(m).input[1]).data_type = v
    return fn


def _no_opset(m, ctx):
    del m.opset_import[:]


def _no_ir_version(m, ctx):
    m.ClearField("ir_version")


def _dup_initializer(m, ctx):
    t = copy.deepcopy(init_by_name(m, first_conv(m).input[1]))
    t.raw_data = bytes(len(t.raw_data))
    m.graph.initializer.append(t)


def _raw_and_typed(m, ctx):
    t = init_by_name(m, first_conv(m).input[1])
    n = int(np.prod(t.dims))
    t.float_data.extend([0.5] * n)


def _float_data_short(m, ctx):
    t = init_by_name(m, first_conv(m).input[1])
    n = int(np.prod(t.dims))
    t.ClearField("raw_data")
    t.float_data.extend([0.25] * (n - 3))


def _empty_op_type(m, ctx):
    m.graph.node[node_index(m, lambda n: n.op_type == "Relu")].op_type = ""


def _conv_no_weight(m, ctx):
    del first_conv(m).input[1:]


def _unknown_ops(m, ctx):
    relus = [n for n in m.graph.node if n.op_type == "Relu"]
    relus[0].op_type = "FrobnicateActivation"
    relus[1].op_type = "SwizzleChannels"


def _unknown_domain_op(m, ctx):
    n = m.graph.node[node_index(m, lambda n: n.op_type == "Relu")]
    n.op_type = "FancyReluExperimental"
    n.domain = "com.example.resin"
    m.opset_import.append(helper.make_opsetid("com.example.resin", 1))


def wire_deep_nesting(ctx, levels=100_000):
    """The graph input's type nested as sequence<sequence<...<tensor>...>> `levels` deep:
    a parser that recurses without a depth limit overflows its stack."""
    inner = ld(1, key(1, 0) + varint(TensorProto.FLOAT))      # TypeProto{tensor_type{elem_type}}
    prefixes = []
    length = len(inner)
    for _ in range(levels):
        seq = key(1, 2) + varint(length)           # Sequence.elem_type
        length += len(seq)
        tp = key(4, 2) + varint(length)            # TypeProto.sequence_type
        length += len(tp)
        prefixes.append(seq)
        prefixes.append(tp)
    typeproto = b"".join(reversed(prefixes)) + inner
    m = copy.deepcopy(ctx.model)
    g = m.graph
    del g.input[:]
    graph_bytes = g.SerializeToString() + ld(11, ld(1, b"input") + ld(2, typeproto))
    m.ClearField("graph")
    return m.SerializeToString() + ld(7, graph_bytes)


def wire_bad_wire_type(ctx):
    return ctx.data[:2] + bytes([(9 << 3) | 7]) + ctx.data[2:]


def wire_field_zero(ctx):
    return bytes([0x00, 0x01]) + ctx.data


def wire_long_varint(ctx):
    return key(1, 0) + b"\xff" * 10 + b"\x01" + ctx.data


def wire_huge_length(ctx):
    return ctx.data[:ctx.layout.graph_key] + key(7, 2) + varint((1 << 63) - 1) + ctx.data[ctx.layout.graph_start:]


def wire_length_negative(ctx):
    return ctx.data[:ctx.layout.graph_key] + key(7, 2) + varint(-2) + ctx.data[ctx.layout.graph_start:]


# ---- external data


def external_case(kind):
    """Builds DIR/cases/<name>/<name>.onnx with weights.bin, then breaks the entry of one
    small initializer (the stem BN's bias, 32 bytes)."""
    def build(ctx, name, case_dir):
        m = copy.deepcopy(ctx.model)
        external_data_helper.convert_model_to_external_data(
            m, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
        path = os.path.join(case_dir, name + ".onnx")
        onnx.save_model(m, path)          # writes weights.bin beside it, strips raw_data
        m = onnx.load(path, load_external_data=False)
        wsize = os.path.getsize(os.path.join(case_dir, "weights.bin"))
        bn = next(n for n in m.graph.node if n.op_type == "BatchNormalization")
        t = init_by_name(m, bn.input[2])
        info = {e.key: e.value for e in t.external_data}
        off, length = int(info.get("offset", 0)), int(info["length"])
        entries = dict(info)
        if kind == "escape":
            with open(os.path.join(case_dir, "weights.bin"), "rb") as f:
                f.seek(off)
                chunk = f.read(length)
            with open(os.path.join(os.path.dirname(case_dir), "escape.bin"), "wb") as f:
                f.write(chunk)          # a naive reader would succeed in reading it
            entries.update(location="../escape.bin", offset="0", length=str(length))
        elif kind == "absolute":
            entries.update(location="/etc/passwd", offset="0", length=str(length))
        elif kind == "offset":
            entries.update(offset=str(wsize + 4096), length=str(length))
        elif kind == "length":
            entries.update(offset=str(wsize - 8), length=str(length))
        elif kind == "missing":
            entries.update(location="missing-weights.bin")
        elif kind == "negative-offset":
            entries.update(offset="-16")
        elif kind == "location-dir":
            os.makedirs(os.path.join(case_dir, "subdir.bin"), exist_ok=True)
            entries.update(location="subdir.bin")
        del t.external_data[:]
        for k, v in entries.items():
            t.external_data.add(key=k, value=v)
        with open(path, "wb") as f:
            f.write(m.SerializeToString())
        return path
    build.needs_dir = True
    return build


# ---- byte-level (truncation / flips / not protobuf)


def truncate_at(offset):
    def build(ctx):
        return ctx.data[:offset]
    return build


def flip_bit(pos, bit):
    def build(ctx):
        b = bytearray(ctx.data)
        b[pos] ^= 1 << bit
        return bytes(b)
    return build


def const(data):
    return lambda ctx: data


PNG = (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x20\x00\x00\x00\x20\x08\x06\x00\x00\x00"
       + b"\x73\x7a\x7a\xf4" + b"\x00\x00\x00\x00IEND\xaeB`\x82")
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"archive/data.pkl" + bytes(64)
TEXT = b"ir_version: 8\nproducer_name: \"pytorch\"\n# an ONNX model in text form is not a model file\n"


class Context:
    def __init__(self, model_path):
        with open(model_path, "rb") as f:
            self.data = f.read()
        self.model = onnx.load_from_string(self.data)
        self.layout = Layout(self.data)


def truncation_offsets(lay):
    """15+ offsets spread through the file: header, node area, initializer data, tail. Offsets at a
    top-level field boundary after the graph are avoided (they could leave a parseable model)."""
    offs = [1, 2, 3, 5, 9, 17, lay.graph_start - 1, lay.graph_start + 3]
    n0, n1 = lay.nodes[0], lay.nodes[len(lay.nodes) // 2]
    offs += [n0[0] + 7, (n1[0] + n1[1]) // 2, lay.nodes[-1][1] - 1]
    r0 = lay.raw[0]
    big = max(lay.raw, key=lambda r: r[1] - r[0])
    offs += [(r0[0] + r0[1]) // 2, big[0] + 1, (big[0] + big[1]) // 2, big[1] - 1]
    offs += [lay.size // 4, lay.size // 2, (3 * lay.size) // 4, lay.size - 40, lay.size - 3, lay.size - 1]
    out = []
    for o in offs:
        if 0 < o < lay.size and o not in out and not (o > lay.graph_start and o in lay.top_boundaries):
            out.append(o)
    return sorted(out)


def flip_positions(lay, count=12, seed=20240):
    """Bit positions in the structural part: the header / graph start and node definitions."""
    rng = np.random.default_rng(seed)
    picks = []
    header_end = min(lay.graph_start + 24, lay.size)
    for _ in range(4):
        picks.append(int(rng.integers(0, header_end)))
    node_spans = lay.nodes
    for k in range(count - 4):
        s, e = node_spans[int(rng.integers(0, len(node_spans)))]
        picks.append(int(rng.integers(s, min(e, s + 48))))
    return [(p, int(rng.integers(0, 8))) for p in picks]


def make_cases(ctx):
    """The case table: (name, expect, what, builder). expect: fail | nocrash | lists:OP,OP."""
    lay = ctx.layout
    rng = np.random.default_rng(4242)
    cases = [
        ("not-protobuf-text", "fail", "a text file", const(TEXT)),
        ("not-protobuf-random", "fail", "4 KiB of random bytes", const(rng.bytes(4096))),
        ("empty-file", "fail", "zero bytes (parses as an empty ModelProto: no graph)", const(b"")),
        ("png-header", "fail", "a tiny PNG", const(PNG)),
        ("zip-header", "fail", "a zip (PyTorch .pt) header", const(ZIP)),
    ]
    for off in truncation_offsets(lay):
        where = ("header" if off < lay.graph_start else
                 "initializer data" if any(a <= off < b for a, b in lay.raw) else
                 "node definitions" if off <= lay.nodes[-1][1] else
                 "graph" if off < lay.graph_end else "opset_import")
        cases.append((f"truncated-at-{off}", "fail", f"file cut after {off} of {lay.size} bytes ({where})",
                      truncate_at(off)))
    for pos, bit in flip_positions(lay):
        cases.append((f"bitflip-{pos}-{bit}", "nocrash", f"bit {bit} of byte {pos} flipped", flip_bit(pos, bit)))
    cases += [
        ("raw-data-too-short", "fail", "conv weight raw_data 4 bytes shorter than dims x type", mutate(_raw_short)),
        ("raw-data-too-long", "fail", "conv weight raw_data 4 bytes longer than dims x type", mutate(_raw_long)),
        ("negative-dim", "fail", "initializer dims[0] = -1", mutate(_neg_dim)),
        ("dims-product-overflows-int64", "fail", "dims [2^40, 2^40, 1, 1]", mutate(_dims_overflow)),
        ("dims-bytes-overflow-int64", "fail", "dims [2^31, 2^31, 1, 1]: 2^62 floats = 2^64 bytes",
         mutate(_dims_bytes_overflow)),
        ("dangling-node-input", "fail", "a Relu input that nothing produces", mutate(_dangling_input)),
        ("duplicate-output-name", "fail", "two Conv nodes producing the same tensor", mutate(_duplicate_output)),
        ("cycle-two-nodes", "fail", "Conv reads the output of the BN that reads it", mutate(_cycle)),
        ("attr-strides-float", "fail", "Conv strides given as FLOAT 2.0",
         mutate(_set_attr("Conv", "strides", helper.make_attribute("strides", 2.0)))),
        ("attr-group-string", "fail", "Conv group given as STRING \"1\"",
         mutate(_set_attr("Conv", "group", helper.make_attribute("group", "1")))),
        ("attr-kernel-shape-tensor", "fail", "Conv kernel_shape given as a TENSOR",
         mutate(_set_attr("Conv", "kernel_shape", helper.make_attribute(
             "kernel_shape", helper.make_tensor("k", TensorProto.INT64, [2], [7, 7]))))),
        ("attr-type-mismatch", "fail", "Conv pads with type INTS but the value in `f` (no ints)",
         mutate(_set_attr("Conv", "pads", AttributeProto(name="pads", type=AttributeProto.INTS, f=3.0)))),
        ("ext-escape-parent", "fail", "external data location ../escape.bin (the file exists)",
         external_case("escape")),
        ("ext-absolute-path", "fail", "external data location /etc/passwd", external_case("absolute")),
        ("ext-offset-beyond-eof", "fail", "external data offset past the end of weights.bin", external_case("offset")),
        ("ext-length-beyond-eof", "fail", "external data offset+length past the end of weights.bin",
         external_case("length")),
        ("ext-missing-file", "fail", "external data file does not exist", external_case("missing")),
        ("ext-negative-offset", "fail", "external data offset -16", external_case("negative-offset")),
        ("ext-location-is-directory", "fail", "external data location names a directory",
         external_case("location-dir")),
        ("graph-output-unproduced", "fail", "a graph output that nothing produces", mutate(_unproduced_output)),
        ("no-graph", "fail", "ModelProto without a graph", mutate(_no_graph)),
        ("dtype-undefined", "fail", "conv weight data_type 0 (UNDEFINED)", mutate(_dtype(0))),
        ("dtype-99", "fail", "conv weight data_type 99", mutate(_dtype(99))),
        ("no-opset-import", "fail", "no opset_import (required for IR >= 3)", mutate(_no_opset)),
        ("no-ir-version", "fail", "ir_version missing", mutate(_no_ir_version)),
        ("duplicate-initializer", "fail", "two initializers with the same name", mutate(_dup_initializer)),
        ("raw-and-float-data", "fail", "an initializer with both raw_data and float_data", mutate(_raw_and_typed)),
        ("float-data-too-short", "fail", "float_data with 3 values fewer than dims", mutate(_float_data_short)),
        ("empty-op-type", "fail", "a node with op_type \"\"", mutate(_empty_op_type)),
        ("conv-missing-weight", "fail", "a Conv with only its data input", mutate(_conv_no_weight)),
        ("wire-invalid-wire-type", "fail", "a field with wire type 7", wire_bad_wire_type),
        ("wire-field-number-zero", "fail", "a field with number 0", wire_field_zero),
        ("wire-varint-11-bytes", "fail", "a varint longer than 10 bytes", wire_long_varint),
        ("wire-graph-length-2^63", "fail", "the graph's length prefix is 2^63-1", wire_huge_length),
        ("wire-graph-length-negative", "fail", "the graph's length prefix is -2 as a 10-byte varint",
         wire_length_negative),
        ("deep-nesting-100k", "fail", "graph input type nested 100,000 sequence levels deep",
         wire_deep_nesting),
        ("unknown-ops", "lists:FrobnicateActivation,SwizzleChannels",
         "two different unknown operators: inspect must list them and exit 0", mutate(_unknown_ops)),
        ("unknown-domain-op", "lists:FancyReluExperimental",
         "an operator of a custom domain (opset imported): inspect lists it", mutate(_unknown_domain_op)),
    ]
    return cases


# --------------------------------------------------------------------------------------------
# Running


def run(cmd):
    """-> (returncode or None on timeout, stdout, stderr)"""
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        return -1000, "", f"cannot run: {e}"
    try:
        out, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        out, err = p.communicate()
        return None, out.decode(errors="replace"), err.decode(errors="replace")
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def describe_rc(rc):
    if rc is None:
        return f"timeout>{TIMEOUT}s"
    if rc < 0:
        try:
            return f"signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"signal {-rc}"
    return str(rc)


def crash_problems(label, rc, out, err):
    probs = []
    if rc is None:
        probs.append(f"{label} hung (> {TIMEOUT}s)")
    elif rc < 0 or rc >= 128:
        probs.append(f"{label} crashed ({describe_rc(rc)})")
    for t in CRASH_TEXT:
        if t in out or t in err:
            probs.append(f"{label} printed {t!r}")
    return probs


def listing(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def check_case(resin, name, expect, path, out_dir, precreate):
    base = os.path.basename(path)
    problems = []
    rc_i, out_i, err_i = run([resin, "inspect", path])
    problems += crash_problems("inspect", rc_i, out_i, err_i)
    first = (err_i.strip().splitlines() or [""])[0]
    summary = f"inspect={describe_rc(rc_i)}"
    if expect.startswith("lists:"):
        if rc_i != 0:
            problems.append(f"inspect exited {describe_rc(rc_i)}, expected 0")
        for op in expect.split(":", 1)[1].split(","):
            if op not in out_i and op not in err_i:
                problems.append(f"inspect output does not name {op}")
        first = (out_i.strip().splitlines() or [""])[0] if not first else first
        return problems, summary, first

    out_file = os.path.join(out_dir, "out.onnx")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    sentinel = f"pre-existing output for {name}\n".encode()
    if precreate:
        with open(out_file, "wb") as f:
            f.write(sentinel)
    before = listing(out_dir)
    rc_c, out_c, err_c = run([resin, "convert", path, out_file])
    problems += crash_problems("convert", rc_c, out_c, err_c)
    summary += f" convert={describe_rc(rc_c)}"
    if not first:
        first = (err_c.strip().splitlines() or [""])[0]

    if expect == "fail":
        for label, rc, err in (("inspect", rc_i, err_i), ("convert", rc_c, err_c)):
            if rc is not None and 0 <= rc < 128 and rc != 2:
                problems.append(f"{label} exited {describe_rc(rc)}, expected 2")
            if not err.strip():
                problems.append(f"{label} printed nothing on stderr")
            elif base not in err:
                problems.append(f"{label}'s stderr does not name {base}")
        after = listing(out_dir)
        if precreate:
            with open(out_file, "rb") as f:
                if f.read() != sentinel:
                    problems.append("convert modified the pre-existing output file")
        elif os.path.exists(out_file):
            problems.append("convert left an output file")
        if after != before:
            extra = sorted(set(after) - set(before) - {"out.onnx"})
            if extra:
                problems.append(f"convert left file(s) {extra} in the output folder")
    elif expect == "nocrash":
        for label, rc in (("inspect", rc_i), ("convert", rc_c)):
            if rc is not None and rc >= 0 and rc not in (0, 2):
                problems.append(f"{label} exited {rc}, expected 0 or 2")
    else:
        raise ValueError(expect)
    return problems, summary, first


def main():
    global TIMEOUT
    ap = argparse.ArgumentParser(description="Checks that Resin refuses malformed ONNX files cleanly.")
    ap.add_argument("--resin", required=True, help="path to the resin binary")
    ap.add_argument("--out", required=True, help="work folder (malformed files in OUT/cases)")
    ap.add_argument("--model", default=DEFAULT_MODEL, help="model to derive the cases from")
    ap.add_argument("--only", help="run only cases whose name contains this")
    ap.add_argument("--timeout", type=float, default=TIMEOUT, help="per command, seconds (default 30)")
    ap.add_argument("--list", action="store_true", help="print the case table and exit")
    args = ap.parse_args()
    TIMEOUT = args.timeout
    resin = os.path.abspath(args.resin) if os.sep in args.resin else args.resin

    ctx = Context(args.model)
    cases = make_cases(ctx)
    if args.only:
        cases = [c for c in cases if args.only in c[0]]
    if args.list:
        for name, expect, what, _ in cases:
            print(f"{name:34s} {expect:10s} {what}")
        return

    out_root = os.path.abspath(args.out)
    cases_dir = os.path.join(out_root, "cases")
    shutil.rmtree(cases_dir, ignore_errors=True)
    os.makedirs(cases_dir)
    out_dir = os.path.join(out_root, "out")

    passed = failed = 0
    width = max(len(c[0]) for c in cases)
    n_files = 0
    for k, (name, expect, what, build) in enumerate(cases):
        if getattr(build, "needs_dir", False):
            case_dir = os.path.join(cases_dir, name)
            os.makedirs(case_dir)
            path = build(ctx, name, case_dir)
        else:
            path = os.path.join(cases_dir, name + ".onnx")
            with open(path, "wb") as f:
                f.write(build(ctx))
        n_files += 1
        problems, summary, first = check_case(resin, name, expect, path, out_dir, precreate=(k % 3 == 1))
        ok = not problems
        passed += ok
        failed += not ok
        verdict = "PASS" if ok else "FAIL"
        line = f"{verdict} {name:{width}s} [{expect.split(':')[0]:7s}] {summary:28s} | {first[:150]}"
        if problems:
            line += "\n       -> " + "; ".join(problems)
        print(line, flush=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    kinds = [c[1].split(":")[0] for c in cases]
    # Say what was checked: only the `fail` files must be refused; a bit flip may leave a valid model.
    print(f"({n_files} malformed files in {cases_dir}: {kinds.count('fail')} must be refused by inspect and "
          f"convert with exit 2 and a message naming the file; {kinds.count('nocrash')} random bit flips "
          f"must exit 0 or 2 without a crash; {kinds.count('lists')} with unknown operators must be listed "
          f"by inspect (exit 0); none may hang, take a signal or print a crash message)")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

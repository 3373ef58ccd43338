#!/usr/bin/env python3
"""Checks Resin's faithful ONNX -> ONNX round trip on ONNX test-case folders.

Invocation (the script re-executes itself with the pinned venv python from tools/venv.sh,
so both forms are equivalent):

    "$(tools/venv.sh)" tools/check_onnx_roundtrip.py --resin PATH_TO_RESIN DIR...
    python3 tools/check_onnx_roundtrip.py --resin .build/release/resin Fixtures/*

Each DIR is a test-case folder: model.onnx (+ external data) and test_data_set_*/{input,output}_*.pb.
(A DIR without model.onnx whose sub-folders have one, like Fixtures/, is expanded to them.)
For each, `RESIN convert DIR/model.onnx TMP/out.onnx` is run, then:
  (a) onnx.checker.check_model(TMP/out.onnx, full_check=True) (path form: external data works);
  (b) both models are loaded with onnx.load (external data inlined; data_location/external_data
      cleared, data in raw_data) and compared as ModelProto, field by field; the first
      differing field path is printed (e.g. graph.node[12].attribute[1].ints[0]); float fields
      are compared bit for bit (so -0.0 != 0.0 and NaN == same NaN), unknown fields included;
  (c) ONNX Runtime (CPUExecutionProvider, ORT_DISABLE_ALL) runs both models on every
      test_data_set's inputs: outputs must be bit-identical (np.array_equal, equal_nan); the
      original's outputs must also match the stored expected outputs (rtol 1e-4, atol 1e-5),
      as a sanity check of the fixture itself.
Prints one PASS/FAIL line per model, then `N passed, M failed`; exit status 1 if any failed.
"""
import os
import sys


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from toolenv import ensure_venv  # noqa: E402

ensure_venv(__file__)

from ortsupport import case_file_index as _index, ort_session  # noqa: E402
from checksupport import expand  # noqa: E402

import argparse  # noqa: E402
import glob  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from google.protobuf import descriptor as _pbd  # noqa: E402
from google.protobuf import unknown_fields as _unknown  # noqa: E402
from onnx import TensorProto, numpy_helper  # noqa: E402


# --------------------------------------------------------------------------------------------
# (b) proto normalization and field-by-field comparison


def _all_tensors(model):
    """Every TensorProto of a model: initializers, sparse initializers' parts, attribute tensors,
    recursively through subgraphs."""
    def graph_tensors(g):
        yield from g.initializer
        for s in g.sparse_initializer:
            yield s.values
            yield s.indices
        for n in g.node:
            for a in n.attribute:
                if a.HasField("t"):
                    yield a.t
                yield from a.tensors
                if a.HasField("sparse_tensor"):
                    yield a.sparse_tensor.values
                    yield a.sparse_tensor.indices
                for s in a.sparse_tensors:
                    yield s.values
                    yield s.indices
                if a.HasField("g"):
                    yield from graph_tensors(a.g)
                for sg in a.graphs:
                    yield from graph_tensors(sg)
    yield from graph_tensors(model.graph)
    for f in model.functions:
        for n in f.node:
            for a in n.attribute:
                if a.HasField("t"):
                    yield a.t
                yield from a.tensors


def normalize(model):
    """onnx.load already inlines external data; make sure no trace of the storage remains."""
    for t in _all_tensors(model):
        if t.data_location == TensorProto.EXTERNAL or len(t.external_data):
            raise RuntimeError(f"tensor {t.name!r} still refers to external data after onnx.load")
        t.ClearField("data_location")
        del t.external_data[:]
    return model


_FLOAT_TYPES = {_pbd.FieldDescriptor.TYPE_FLOAT: ("<f", np.float32, np.uint32),
                _pbd.FieldDescriptor.TYPE_DOUBLE: ("<d", np.float64, np.uint64)}


def _short(v):
    if isinstance(v, bytes):
        return f"<{len(v)} bytes>"
    r = repr(v)
    return r if len(r) <= 80 else r[:77] + "..."


def _bytes_diff(a, b):
    n = min(len(a), len(b))
    if a[:n] != b[:n]:
        arr = np.frombuffer(a[:n], np.uint8) != np.frombuffer(b[:n], np.uint8)
        return f"first differing byte at offset {int(np.argmax(arr))} (lengths {len(a)}, {len(b)})"
    return f"lengths {len(a)} vs {len(b)}"


def _scalar_equal(fd, a, b):
    if fd.type in _FLOAT_TYPES:
        fmt = _FLOAT_TYPES[fd.type][0]
        return struct.pack(fmt, a) == struct.pack(fmt, b)
    return a == b


def _unknown_list(m):
    """The unknown fields of one message as (number, wire type, data). A protobuf that cannot list them
    raises, and the comparison fails: an empty list there would pass any difference unseen."""
    return [(f.field_number, f.wire_type, f.data if not hasattr(f.data, "__len__") or isinstance(f.data, bytes)
             else repr(f.data)) for f in _unknown.UnknownFieldSet(m)]


def check_unknown_field_comparison():
    """Fails unless the comparison sees an unknown field that only one side has (run once per check)."""
    plain = onnx.ModelProto(ir_version=8)
    extra = onnx.ModelProto()
    # Field 999, varint 7: no ModelProto field has that number.
    extra.ParseFromString(plain.SerializeToString() + bytes([0xB8, 0x3E, 0x07]))
    found = first_difference(plain, extra, "")
    if not found or "unknown fields differ" not in found:
        raise RuntimeError(f"the unknown-field comparison did not see field 999 (it found {found!r})")


def first_difference(a, b, path):
    """Returns a description of the first differing field under messages a and b, or None."""
    for fd in sorted(a.DESCRIPTOR.fields, key=lambda f: f.number):
        name = fd.name
        p = f"{path}.{name}" if path else name
        is_msg = fd.type in (fd.TYPE_MESSAGE, fd.TYPE_GROUP)
        if fd.is_repeated:
            la, lb = getattr(a, name), getattr(b, name)
            if is_msg:
                for i in range(min(len(la), len(lb))):
                    d = first_difference(la[i], lb[i], f"{p}[{i}]")
                    if d:
                        return d
            elif fd.type in _FLOAT_TYPES:
                _, ft, it = _FLOAT_TYPES[fd.type]
                n = min(len(la), len(lb))
                va = np.asarray(la[:n], dtype=ft).view(it)
                vb = np.asarray(lb[:n], dtype=ft).view(it)
                ne = np.nonzero(va != vb)[0]
                if len(ne):
                    i = int(ne[0])
                    return f"{p}[{i}]: original {la[i]!r}, output {lb[i]!r}"
            else:
                n = min(len(la), len(lb))
                if list(la[:n]) != list(lb[:n]):
                    i = next(k for k in range(n) if la[k] != lb[k])
                    return f"{p}[{i}]: original {_short(la[i])}, output {_short(lb[i])}"
            if len(la) != len(lb):
                return f"{p}: original has {len(la)} element(s), output {len(lb)}"
            continue
        if fd.has_presence:
            ha, hb = a.HasField(name), b.HasField(name)
            if ha != hb:
                where = "original only" if ha else "output only"
                val = getattr(a if ha else b, name)
                shown = "" if is_msg else f" (value {_short(val)})"
                return f"{p}: set in {where}{shown}"
            if not ha:
                continue
        va, vb = getattr(a, name), getattr(b, name)
        if is_msg:
            d = first_difference(va, vb, p)
            if d:
                return d
        elif not _scalar_equal(fd, va, vb):
            if isinstance(va, bytes) and isinstance(vb, bytes):
                return f"{p}: {_bytes_diff(va, vb)}"
            return f"{p}: original {_short(va)}, output {_short(vb)}"
    ua, ub = _unknown_list(a), _unknown_list(b)
    if ua != ub:
        return (f"{path or '<model>'}: unknown fields differ (original numbers {[u[0] for u in ua]}, "
                f"output {[u[0] for u in ub]})")
    return None


def compare_models(original_path, output_path):
    a = normalize(onnx.load(original_path))
    b = normalize(onnx.load(output_path))
    d = first_difference(a, b, "")
    if d:
        return d
    if a != b or a.SerializeToString(deterministic=True) != b.SerializeToString(deterministic=True):
        return "models differ but no field difference was found (protobuf equality)"
    return None


# --------------------------------------------------------------------------------------------
# (c) ONNX Runtime


def load_data_sets(case_dir):
    sets = []
    for ds in sorted(glob.glob(os.path.join(case_dir, "test_data_set_*")), key=_index):
        ins = [onnx.load_tensor(p) for p in sorted(glob.glob(os.path.join(ds, "input_*.pb")), key=_index)]
        outs = [onnx.load_tensor(p) for p in sorted(glob.glob(os.path.join(ds, "output_*.pb")), key=_index)]
        sets.append((os.path.basename(ds), ins, outs))
    return sets


def feeds_for(session, inputs):
    names = [i.name for i in session.get_inputs()]
    feeds = {}
    for k, t in enumerate(inputs):
        name = t.name if t.name in names else (names[k] if k < len(names) else t.name)
        feeds[name] = numpy_helper.to_array(t)
    return feeds


def run_checks(case_dir, resin, threads, timeout, keep):
    model = os.path.join(case_dir, "model.onnx")
    reasons = []
    notes = []
    tmp = tempfile.mkdtemp(prefix="resin-roundtrip-")
    out = os.path.join(tmp, "out.onnx")
    try:
        t0 = time.perf_counter()
        try:
            r = subprocess.run([resin, "convert", model, out], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=timeout)
        except subprocess.TimeoutExpired:
            return [f"convert timed out after {timeout}s"], notes
        except OSError as e:
            return [f"cannot run {resin}: {e}"], notes
        notes.append(f"convert {time.perf_counter() - t0:.2f}s")
        if r.returncode != 0:
            first = (r.stderr.decode(errors="replace").strip().splitlines() or [""])[0]
            how = f"exited with {r.returncode}"
            if r.returncode < 0:
                try:
                    how = f"killed by signal {-r.returncode} ({signal.Signals(-r.returncode).name})"
                except ValueError:
                    how = f"killed by signal {-r.returncode}"
            return [f"convert {how}: {first}".rstrip(": ")], notes
        if not os.path.exists(out):
            return ["convert exited 0 but wrote no output file"], notes

        # (a)
        try:
            onnx.checker.check_model(out, full_check=True)
        except Exception as e:  # checker raises ValidationError / InferenceError / others
            reasons.append("checker: " + (str(e).strip().splitlines() or [type(e).__name__])[0])

        # (b)
        try:
            d = compare_models(model, out)
            if d:
                reasons.append("proto differs at " + d)
        except Exception as e:
            reasons.append(f"cannot compare protos: {type(e).__name__}: {str(e).strip()[:200]}")

        # (c)
        sets = load_data_sets(case_dir)
        if not sets:
            reasons.append("no test_data_set_* folder")
            return reasons, notes
        try:
            s_orig = ort_session(model, threads)
        except Exception as e:
            reasons.append(f"ORT cannot load the original: {str(e).strip()[:200]}")
            return reasons, notes
        try:
            s_out = ort_session(out, threads)
        except Exception as e:
            reasons.append(f"ORT cannot load the output: {str(e).strip()[:200]}")
            s_out = None
        worst = 0.0
        for ds, ins, expected in sets:
            feeds = feeds_for(s_orig, ins)
            res_orig = s_orig.run(None, feeds)
            out_names = [o.name for o in s_orig.get_outputs()]
            for k, e in enumerate(expected):
                want = numpy_helper.to_array(e)
                idx = out_names.index(e.name) if e.name in out_names else k
                if idx >= len(res_orig):
                    reasons.append(f"{ds}: expected output {k} ({e.name}) not produced by the original")
                    continue
                got = res_orig[idx]
                if got.shape != want.shape:
                    reasons.append(f"{ds}: original output {e.name} has shape {got.shape}, stored {want.shape}")
                    continue
                if not np.allclose(got, want, rtol=1e-4, atol=1e-5, equal_nan=True):
                    err = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
                    reasons.append(f"{ds}: original vs stored expected output {e.name}: max abs error {err:.3g}")
                elif got.size:
                    worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))))
            if s_out is None:
                continue
            try:
                res_out = s_out.run(out_names, feeds_for(s_out, ins))
            except Exception as e:
                reasons.append(f"{ds}: ORT fails on the output model: {str(e).strip()[:200]}")
                continue
            for name, x, y in zip(out_names, res_orig, res_out):
                if x.shape != y.shape or x.dtype != y.dtype:
                    reasons.append(f"{ds}: output {name}: {x.dtype}{list(x.shape)} vs {y.dtype}{list(y.shape)}")
                elif not np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"):
                    err = float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64))))
                    reasons.append(f"{ds}: output {name} not bit-identical (max abs diff {err:.3g})")
        notes.append(f"{len(sets)} data set(s), |orig-expected| <= {worst:.2g}")
        return reasons, notes
    finally:
        if keep:
            notes.append(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description="Checks `resin convert` ONNX -> ONNX round trips.")
    ap.add_argument("--resin", required=True, help="path to the resin binary")
    ap.add_argument("dirs", nargs="+", metavar="DIR", help="ONNX test-case folders")
    ap.add_argument("--threads", type=int, default=1, help="ORT intra-op threads (default 1)")
    ap.add_argument("--timeout", type=float, default=600, help="timeout of each convert, seconds")
    ap.add_argument("--keep", action="store_true", help="keep the converted models")
    args = ap.parse_args()
    resin = os.path.abspath(args.resin) if os.sep in args.resin else args.resin
    try:
        check_unknown_field_comparison()
    except Exception as e:
        sys.exit(f"error: cannot compare unknown fields with this protobuf ({type(e).__name__}: {e})")
    passed = failed = 0
    for case in expand(args.dirs):
        name = os.path.basename(os.path.normpath(case))
        if not os.path.isfile(os.path.join(case, "model.onnx")):
            reasons, notes = [f"no model.onnx in {case}"], []
        else:
            try:
                reasons, notes = run_checks(case, resin, args.threads, args.timeout, args.keep)
            except Exception as e:
                reasons, notes = [f"internal error: {type(e).__name__}: {e}"], []
        if reasons:
            failed += 1
            print(f"FAIL {name}: " + "; ".join(reasons), flush=True)
        else:
            passed += 1
            print(f"PASS {name}: checker ok, protos equal, outputs bit-identical ({', '.join(notes)})", flush=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

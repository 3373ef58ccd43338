#!/usr/bin/env python3
"""Runs the nine light models that ship inside the onnx package through `resin verify`.

    tools/conformance/light_models.py [--resin PATH] [--out DIR] [--only SUBSTR] [--jobs 1]
                                      [--timeout 300] [--prepare-only] [--recheck]

The onnx wheel carries onnx/backend/test/data/light/light_<model>.onnx with an expected
light_<model>_output_0.pb (AlexNet, DenseNet-121, Inception v1/v2, ResNet-50, ShuffleNet,
SqueezeNet, VGG-19, ZFNet-512: the ONNX model zoo graphs at opset 9, IR 3, with every weight
replaced by a ConstantOfShape of 0.02 so that the files stay small). This script lays each out
as an ONNX test case,

    DIR/<model>/model.onnx                 (the shipped file, copied)
    DIR/<model>/test_data_set_0/input_0.pb
    DIR/<model>/test_data_set_0/output_0.pb (the shipped light_<model>_output_0.pb, copied)

with DIR defaulting to .generated/light, then runs `RESIN verify DIR/<model> --rtol R --atol A`
on each and prints PASS/FAIL per model and `N passed, M failed` (exit 1 on any failure).

The input, as onnx's backend test runner makes it (onnx/backend/test/runner/__init__.py,
`Runner._add_model_test.run` with `use_dummy` for urls under onnx/backend/test/data/light/):
for each graph input that is not an initializer, `Runner.generate_dummy_data(x, seed=0,
random=False)`, which is NOT random: shape = the declared dims (a symbolic dim becomes 1),
value = (np.arange(n).reshape(shape) / n).astype(np.float32) with n the element count, i.e. a
ramp from 0 to (n-1)/n. The runner writes it with `numpy_helper.from_array(value)`, so the
TensorProto has no name: `verify` binds input_0.pb to the first graph input that is not an
initializer. This script calls the runner's own function and writes the same bytes.

Tolerances, from the loader (onnx/backend/test/loader/__init__.py reads
onnx/backend/test/data/real/test_<model>/data.json): rtol 1e-3 and atol 1e-7 for every model
except densenet121 (rtol 2e-3); the runner compares with np.testing.assert_allclose, i.e.
|actual - expected| <= atol + rtol * |expected|, the same rule as `resin verify`.

When a case is (re)made, ONNX Runtime runs it and must match the shipped output within those
tolerances; the result is kept in DIR/<model>/prepared.json (--recheck repeats it).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import DEFAULT_LIGHT_DIR, DEFAULT_RESIN, check_resin, ensure_venv, resin_path, run_verify  # noqa: E402

ensure_venv(__file__)

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402

LIGHT_PREFIX = "onnx/backend/test/data/light/"
STAMP = "prepared.json"


def light_cases():
    """(model_name, model path, expected output path, rtol, atol) from onnx's own test loader."""
    from onnx.backend.test.loader import load_model_tests
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(onnx.__file__)))
    cases = []
    for case in load_model_tests(kind="real"):
        if not (case.url or "").startswith(LIGHT_PREFIX):
            continue
        model = os.path.normpath(os.path.join(package_parent, case.url))
        expected = os.path.splitext(model)[0] + "_output_0.pb"
        cases.append((case.model_name, model, expected, float(case.rtol), float(case.atol)))
    return sorted(cases)


def runner_inputs(model):
    """The inputs onnx's runner feeds a light model: {graph input: array}, in graph order."""
    from onnx.backend.test.runner import Runner
    initializers = {t.name for t in model.graph.initializer}
    feeds = {}
    for x in model.graph.input:
        if x.name in initializers:
            continue
        feeds[x.name] = Runner.generate_dummy_data(x, seed=0, name="", random=False)
    return feeds


def ort_check(model_path, feeds, expected_paths, rtol, atol):
    """Runs ONNX Runtime on the inputs; returns (ok, text)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    outputs = session.run(None, feeds)
    lines, ok = [], True
    for i, path in enumerate(expected_paths):
        expected = numpy_helper.to_array(onnx.load_tensor(path))
        actual = outputs[i]
        same_shape = actual.shape == expected.shape
        good = same_shape and bool(np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True))
        err = float(np.max(np.abs(actual.astype(np.float64) - expected), initial=0)) if same_shape else float("inf")
        ok &= good
        lines.append(f"output {i}: shape {list(expected.shape)} max abs err {err:.3g} "
                     f"{'matches' if good else 'DIFFERS'}")
    return ok, "; ".join(lines)


def prepare(name, model_path, expected_path, rtol, atol, out, recheck=False):
    """Writes DIR/name as a test case; returns the stamp dict (with the ORT check)."""
    case_dir = os.path.join(out, name)
    stamp_path = os.path.join(case_dir, STAMP)
    want = {"onnx": onnx.__version__, "model": os.path.basename(model_path), "rtol": rtol, "atol": atol}
    if not recheck and os.path.isfile(stamp_path):
        try:
            with open(stamp_path, encoding="utf-8") as f:
                stamp = json.load(f)
            if all(stamp.get(k) == v for k, v in want.items()) and stamp.get("ortMatches"):
                return stamp
        except (OSError, ValueError):
            pass
    model = onnx.load(model_path)
    feeds = runner_inputs(model)
    data_dir = os.path.join(case_dir, "test_data_set_0")
    shutil.rmtree(case_dir, ignore_errors=True)
    os.makedirs(data_dir)
    shutil.copyfile(model_path, os.path.join(case_dir, "model.onnx"))
    for i, value in enumerate(feeds.values()):
        with open(os.path.join(data_dir, f"input_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(value).SerializeToString())
    shutil.copyfile(expected_path, os.path.join(data_dir, "output_0.pb"))
    ok, text = ort_check(os.path.join(case_dir, "model.onnx"), feeds,
                         [os.path.join(data_dir, "output_0.pb")], rtol, atol)
    stamp = dict(want, inputs={k: list(v.shape) for k, v in feeds.items()}, ortMatches=ok, ort=text)
    with open(stamp_path, "w", encoding="utf-8") as f:
        json.dump(stamp, f, indent=1)
        f.write("\n")
    return stamp


def main():
    ap = argparse.ArgumentParser(description="Run onnx's bundled light models through `resin verify`.")
    ap.add_argument("--resin", default=DEFAULT_RESIN, help="resin binary (default .build/release/resin)")
    ap.add_argument("--out", default=DEFAULT_LIGHT_DIR, help="case folder (default .generated/light)")
    ap.add_argument("--only", metavar="SUBSTR", help="only models whose name contains SUBSTR")
    ap.add_argument("--jobs", type=int, default=1, help="models verified at once (default 1)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per model (default 300)")
    ap.add_argument("--threads", type=int, help="pass --threads N to resin verify")
    ap.add_argument("--prepare-only", action="store_true", help="make the cases, run no resin")
    ap.add_argument("--recheck", action="store_true", help="remake the cases and the ONNX Runtime check")
    args = ap.parse_args()

    cases = [c for c in light_cases() if not args.only or args.only in c[0]]
    if not cases:
        sys.exit("error: no light models found in the onnx package" + (" matching --only" if args.only else ""))
    resin = resin_path(args.resin)
    if not args.prepare_only:
        check_resin(resin)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)

    bad_reference = []
    for name, model_path, expected_path, rtol, atol in cases:
        stamp = prepare(name, model_path, expected_path, rtol, atol, out, recheck=args.recheck)
        if not stamp["ortMatches"]:
            bad_reference.append(name)
        if args.prepare_only or args.recheck:
            print(f"{name:14s} input {stamp['inputs']}  rtol {rtol:g} atol {atol:g}  "
                  f"onnxruntime: {stamp['ort']}")
    if bad_reference:
        sys.exit("error: ONNX Runtime does not reproduce the shipped output for "
                 + ", ".join(bad_reference) + " (input generation differs from onnx's runner?)")
    if args.prepare_only:
        print(f"{len(cases)} light models prepared in {out}")
        return

    def run(case):
        name, _, _, rtol, atol = case
        extra = ["--rtol", repr(rtol), "--atol", repr(atol)]
        if args.threads is not None:
            extra += ["--threads", str(args.threads)]
        return run_verify(resin, os.path.join(out, name), extra, timeout=args.timeout, name=name)

    passed = failed = 0
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for case, outcome in zip(cases, pool.map(run, cases)):
            name, _, _, rtol, atol = case
            if outcome.passed:
                passed += 1
                print(f"PASS  {name:14s} rtol {rtol:g} atol {atol:g}  ({outcome.seconds:.1f} s)", flush=True)
            else:
                failed += 1
                print(f"FAIL  {name:14s} rtol {rtol:g} atol {atol:g}  {outcome.describe()}", flush=True)
                for line in outcome.head(8):
                    print(f"    {line}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Runs the nine light models that ship inside the onnx package through `resin verify`, twice:
as shipped (every weight 0.02) and with seeded random weights.

    tools/conformance/light_models.py [--resin PATH] [--out DIR] [--random-out DIR] [--only SUBSTR]
                                      [--jobs 1] [--timeout 300] [--threads N] [--prepare-only] [--recheck]

The onnx wheel carries onnx/backend/test/data/light/light_<model>.onnx (AlexNet, DenseNet-121,
Inception v1/v2, ResNet-50, ShuffleNet, SqueezeNet, VGG-19, ZFNet-512: the ONNX model zoo graphs at
opset 9, IR 3, with every weight replaced by a ConstantOfShape of 0.02 so that the files stay small).

What is compared, and why. With constant weights the logits reach about 1e10 and are all nearly
equal, so the final Softmax turns a relative rounding difference of 3e-7 (a different summation
order: another thread count, another instruction set) into a different output; comparing that output
tests the processor, not the implementation. The check therefore compares the tensor that feeds the
final Softmax (DenseNet-121 has none: its output), where the model is well conditioned, against
ONNX Runtime run on the same machine on the same input, scaled by the tensor's magnitude:

    max |resin - onnxruntime| <= TOL * max |onnxruntime|        (TOL = 1e-4)

which is `resin verify --rtol 0 --atol TOL*max|onnxruntime|`. Any correct fp32 implementation passes
that on any processor: a different summation order moves the result by about 1e-6 of its magnitude (the
largest seen, 1.7e-5, is constant-weight AlexNet, the same at one and two threads and without the
optimizer), while a wrong result is off by a sizeable fraction of it (the negative control below: 1.6e-2). Constant weights also hide every filter-layout bug
(every element of a filter is the same), so each architecture runs a second time with seeded random
weights (light_weights.randomize_weights: He-normal filters so activations stay of order one). As a
negative control, SqueezeNet with random weights and one 3x3 filter transposed in its spatial axes (the
result a kh/kw layout bug gives) must FAIL the same comparison; the check fails if it passes.

Each case is laid out as an ONNX test case,

    DIR/<model>/model.onnx                 (the model cut before its final Softmax)
    DIR/<model>/test_data_set_0/input_0.pb
    DIR/<model>/test_data_set_0/output_0.pb (ONNX Runtime's output on this machine)
    DIR/<model>/prepared.json               (what is compared, the tolerance as rtol/atol)

with DIR .generated/light for the shipped weights (tools/check_optimized.py reads these too) and
.generated/light-random for <model>-random. The random-weight cases stay out of check_optimized's
folder: their logits mix signs, so its element-wise rtol comparison of two ONNX Runtime runs is
ill-conditioned on them near zero. The input of a shipped model is the one onnx's backend test
runner feeds it (`Runner.generate_dummy_data(x, seed=0, random=False)`: a ramp from 0 to (n-1)/n in the
declared shape, written without a name, so `verify` binds it to the first graph input that is not an
initializer); a random-weight model gets seeded standard-normal input. Prepared cases are kept (the
stamp records what made them; --recheck remakes them).
Prints PASS/FAIL per case with the compared tensor and the error relative to its magnitude, then
`N passed, M failed` (exit 1 on any failure).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import DEFAULT_LIGHT_DIR, DEFAULT_RESIN, check_resin, ensure_venv, resin_path, run_verify  # noqa: E402

ensure_venv(__file__)

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import zlib  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402

from light_weights import cut_before_final_softmax, randomize_weights, transpose_first_filter  # noqa: E402

LIGHT_PREFIX = "onnx/backend/test/data/light/"
STAMP = "prepared.json"
TOL = 1e-4
# Bumped when what a prepared case holds changes, so older folders are remade.
LAYOUT = 2
RANDOM_SUFFIX = "-random"
CONTROL_MODEL = "squeezenet"


def light_models():
    """(model_name, model path) from onnx's own test loader."""
    from onnx.backend.test.loader import load_model_tests
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(onnx.__file__)))
    found = []
    for case in load_model_tests(kind="real"):
        if (case.url or "").startswith(LIGHT_PREFIX):
            found.append((case.model_name, os.path.normpath(os.path.join(package_parent, case.url))))
    return sorted(found)


def seed_of(name):
    """A seed that depends only on the model's name, the same on every machine and Python."""
    return zlib.crc32(name.encode())


def runner_inputs(model):
    """The inputs onnx's runner feeds a light model: {graph input: array}, in graph order."""
    from onnx.backend.test.runner import Runner
    initializers = {t.name for t in model.graph.initializer}
    return {x.name: Runner.generate_dummy_data(x, seed=0, name="", random=False)
            for x in model.graph.input if x.name not in initializers}


def normal_inputs(model, seed):
    """Seeded N(0, 1) inputs of the declared shapes (a symbolic dim becomes 1)."""
    rng = np.random.default_rng(seed)
    initializers = {t.name for t in model.graph.initializer}
    feeds = {}
    for x in model.graph.input:
        if x.name in initializers:
            continue
        shape = [d.dim_value if d.HasField("dim_value") else 1 for d in x.type.tensor_type.shape.dim]
        feeds[x.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def ort_run(model_path, feeds):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def write_case(case_dir, model, feeds, outputs):
    data_dir = os.path.join(case_dir, "test_data_set_0")
    shutil.rmtree(case_dir, ignore_errors=True)
    os.makedirs(data_dir)
    onnx.save(model, os.path.join(case_dir, "model.onnx"))
    for i, value in enumerate(feeds.values()):
        with open(os.path.join(data_dir, f"input_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(value).SerializeToString())
    for i, value in enumerate(outputs):
        with open(os.path.join(data_dir, f"output_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(value).SerializeToString())


def build(name, model_path, random_weights):
    """(model cut before its final Softmax, feeds, what is compared, weights replaced)."""
    model = onnx.load(model_path)
    replaced = 0
    if random_weights:
        model, replaced = randomize_weights(model, seed_of(name))
        if replaced == 0:
            raise ValueError(f"{name}: no ConstantOfShape weight was replaced")
    cut, compared = cut_before_final_softmax(model)
    feeds = normal_inputs(cut, seed_of(name) + 1) if random_weights else runner_inputs(cut)
    return cut, feeds, compared, replaced


def prepare(name, model_path, random_weights, out, recheck=False):
    """Writes DIR/<case> as a test case with ONNX Runtime's output; returns its stamp."""
    case = name + (RANDOM_SUFFIX if random_weights else "")
    case_dir = os.path.join(out, case)
    stamp_path = os.path.join(case_dir, STAMP)
    import onnxruntime as ort
    want = {"layout": LAYOUT, "onnx": onnx.__version__, "onnxruntime": ort.__version__,
            "model": os.path.basename(model_path), "randomWeights": random_weights, "tolerance": TOL}
    if not recheck and os.path.isfile(stamp_path):
        try:
            with open(stamp_path, encoding="utf-8") as f:
                stamp = json.load(f)
            if all(stamp.get(k) == v for k, v in want.items()):
                return case, stamp
        except (OSError, ValueError):
            pass
    model, feeds, compared, replaced = build(name, model_path, random_weights)
    # ONNX Runtime reads the file written, so the reference is for exactly what resin verifies.
    write_case(case_dir, model, feeds, [])
    outputs = ort_run(os.path.join(case_dir, "model.onnx"), feeds)
    write_case(case_dir, model, feeds, outputs)
    reference = outputs[0].astype(np.float64)
    scale = float(np.max(np.abs(reference)))
    if not np.all(np.isfinite(reference)) or scale == 0:
        raise ValueError(f"{case}: ONNX Runtime's output is not finite and non-zero (max |x| {scale})")
    stamp = dict(want, compared=compared, shape=list(outputs[0].shape), scale=scale,
                 rtol=0.0, atol=TOL * scale, weightsReplaced=replaced,
                 inputs={k: list(v.shape) for k, v in feeds.items()})
    with open(stamp_path, "w", encoding="utf-8") as f:
        json.dump(stamp, f, indent=1)
        f.write("\n")
    return case, stamp


def measured_error(output):
    """The largest `max abs err` that `resin verify` printed, or None."""
    found = [float(m) for m in re.findall(r"max abs err ([-+0-9.eEinfa]+)", output)]
    return max(found) if found else None


def negative_control(resin, models, threads, timeout):
    """A filter-layout bug must fail the comparison: (ok, text)."""
    path = dict(models).get(CONTROL_MODEL)
    if path is None:
        return False, f"no {CONTROL_MODEL} light model for the negative control"
    model, feeds, _, _ = build(CONTROL_MODEL, path, random_weights=True)
    broken, weight = transpose_first_filter(model)
    folder = tempfile.mkdtemp(prefix="resin-light-control-")
    try:
        write_case(folder, broken, feeds, [])
        reference = ort_run(os.path.join(folder, "model.onnx"), feeds)
        write_case(folder, model, feeds, [])
        correct = ort_run(os.path.join(folder, "model.onnx"), feeds)
        # The case holds the broken model and the correct model's reference: what verify sees when
        # Resin reads that filter transposed.
        write_case(folder, broken, feeds, correct)
        scale = float(np.max(np.abs(correct[0])))
        gap = float(np.max(np.abs(reference[0] - correct[0]))) / scale
        extra = ["--rtol", "0", "--atol", repr(TOL * scale)] + (["--threads", str(threads)] if threads else [])
        outcome = run_verify(resin, folder, extra, timeout=timeout, name="control")
        text = (f"{CONTROL_MODEL}{RANDOM_SUFFIX} with filter '{weight}' transposed in kh/kw: the wrong result "
                f"is off by {gap:.2g} of max|ref|; verify {outcome.describe()}")
        return outcome.code == 1, text
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description="Run onnx's bundled light models through `resin verify`.")
    ap.add_argument("--resin", default=DEFAULT_RESIN, help="resin binary (default .build/release/resin)")
    ap.add_argument("--out", default=DEFAULT_LIGHT_DIR, help="shipped-weight cases (default .generated/light)")
    ap.add_argument("--random-out", default=DEFAULT_LIGHT_DIR + "-random",
                    help="random-weight cases (default .generated/light-random)")
    ap.add_argument("--only", metavar="SUBSTR", help="only cases whose name contains SUBSTR")
    ap.add_argument("--jobs", type=int, default=1, help="cases verified at once (default 1)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per case (default 300)")
    ap.add_argument("--threads", type=int, help="pass --threads N to resin verify")
    ap.add_argument("--prepare-only", action="store_true", help="make the cases, run no resin")
    ap.add_argument("--recheck", action="store_true", help="remake the cases and their ONNX Runtime references")
    args = ap.parse_args()

    models = light_models()
    variants = [(name, path, random) for name, path in models for random in (False, True)
                if not args.only or args.only in name + (RANDOM_SUFFIX if random else "")]
    if not variants:
        sys.exit("error: no light models found in the onnx package" + (" matching --only" if args.only else ""))
    resin = resin_path(args.resin)
    if not args.prepare_only:
        check_resin(resin)
    folders = {False: os.path.abspath(args.out), True: os.path.abspath(args.random_out)}
    for folder in folders.values():
        os.makedirs(folder, exist_ok=True)

    cases = [(folders[random],) + prepare(name, path, random, folders[random], recheck=args.recheck)
             for name, path, random in variants]
    print(f"Compared: the tensor before each model's final Softmax, resin against ONNX Runtime on this machine, "
          f"passing when max|resin - onnxruntime| <= {TOL:g} * max|onnxruntime|.", flush=True)
    if args.prepare_only:
        for _, case, stamp in cases:
            print(f"{case:20s} {stamp['compared']} {stamp['shape']}, max|ref| {stamp['scale']:.3g}")
        print(f"{len(cases)} light-model cases prepared in {' and '.join(sorted(set(folders.values())))}")
        return

    def run(item):
        folder, case, stamp = item
        extra = ["--rtol", "0", "--atol", repr(stamp["atol"])]
        if args.threads is not None:
            extra += ["--threads", str(args.threads)]
        return run_verify(resin, os.path.join(folder, case), extra, timeout=args.timeout, name=case)

    passed = failed = 0
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for (_, case, stamp), outcome in zip(cases, pool.map(run, cases)):
            error = measured_error(outcome.output)
            relative = f"max|diff| = {error / stamp['scale']:.2g} of max|ref| {stamp['scale']:.3g}" \
                if error is not None else "no error figure printed"
            what = f"{case:20s} {stamp['compared']} {stamp['shape']}: {relative}"
            if outcome.passed:
                passed += 1
                print(f"PASS  {what}  ({outcome.seconds:.1f} s)", flush=True)
            else:
                failed += 1
                print(f"FAIL  {what}  {outcome.describe()}", flush=True)
                for line in outcome.head(8):
                    print(f"    {line}")
    if not args.only or CONTROL_MODEL in args.only:
        ok, text = negative_control(resin, models, args.threads, args.timeout)
        if ok:
            passed += 1
            print(f"PASS  negative control: {text} (a mismatch, as it must be)", flush=True)
        else:
            failed += 1
            print(f"FAIL  negative control: {text}; the comparison must catch this", flush=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Runs the allowlisted ONNX node test cases through `resin verify`.

    tools/conformance/run_node_tests.py [--resin PATH] [--dir DIR] [--filter SUBSTR] [--jobs 2]
                                        [--timeout 60] [--all] [--verbose]

For every case in tools/conformance/allowlist.txt (whose name contains SUBSTR, if given) it runs

    RESIN verify DIR/CASE

with Docs/CLI.md's default tolerances (rtol 1e-3, atol 1e-5), a 60 s timeout per case and
`--jobs` cases at a time. It prints one `FAILED` line per failing case (exit status, or timeout
or signal) followed by the first lines of Resin's output, then a final line exactly
`N passed, M failed`; the exit status is 1 when any case failed.

RESIN defaults to .build/release/resin; DIR to .generated/node-tests, which is (re)exported
first when missing or made by another onnx version (export_node_tests.py).

--all also runs every case of excluded.txt and reports, without failing the run, which of them
pass (candidates for the allowlist) and which make Resin crash, hang or exit outside
Docs/CLI.md's codes (a bug even for an unsupported case). The final line still counts the
allowlisted cases only.

Tolerances. ONNX's own runner compares node tests with rtol 1e-3 and atol 1e-7
(onnx.backend.test.case.node.expect). Resin is checked with Docs/CLI.md's defaults instead
(rtol 1e-3, atol 1e-5): the relative part is the same, and the absolute floor of 1e-5 absorbs the
rounding of fp32 results that are near zero after cancellation (Conv, Gemm, LRN or Softmax
sums computed in another order than NumPy's float64-then-rounded references), which carries
no information about correctness. A case that needs other tolerances gets an entry in
CASE_TOLERANCES below with the reason; none does today (ONNX Runtime, run through a stand-in
verify, passes every allowlisted case at the defaults, and also at ONNX's rtol 1e-3 / atol 1e-7).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (Outcome, ALLOWLIST, DEFAULT_NODE_DIR, DEFAULT_RESIN, EXCLUDED, check_resin,  # noqa: E402
                     ensure_venv, read_list, resin_path, run_verify)

ensure_venv(__file__)

import argparse  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

# case name -> (rtol, atol, why). Only for cases whose reference cannot be met at the defaults.
CASE_TOLERANCES = {}


def verify_args(name, rtol, atol, threads):
    args = []
    if name in CASE_TOLERANCES:
        rtol, atol, _ = CASE_TOLERANCES[name]
    if rtol is not None:
        args += ["--rtol", repr(rtol)]
    if atol is not None:
        args += ["--atol", repr(atol)]
    if threads is not None:
        args += ["--threads", str(threads)]
    return args


def main():
    ap = argparse.ArgumentParser(description="Run allowlisted ONNX node tests with `resin verify`.")
    ap.add_argument("--resin", default=DEFAULT_RESIN, help="resin binary (default .build/release/resin)")
    ap.add_argument("--dir", default=DEFAULT_NODE_DIR, help="exported node tests (default .generated/node-tests)")
    ap.add_argument("--filter", metavar="SUBSTR", help="only cases whose name contains SUBSTR")
    ap.add_argument("--jobs", type=int, default=2, help="cases run at once (default 2)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per case (default 60)")
    ap.add_argument("--all", action="store_true",
                    help="also run the excluded cases and report which of them pass")
    ap.add_argument("--rtol", type=float, help="override the tolerance for every case")
    ap.add_argument("--atol", type=float, help="override the tolerance for every case")
    ap.add_argument("--threads", type=int, help="pass --threads N to resin verify")
    ap.add_argument("--lines", type=int, default=8, help="output lines shown per failure (default 8)")
    ap.add_argument("--verbose", action="store_true", help="also print a line per passing case")
    ap.add_argument("--native", action="store_true",
                    help="convert each case's model to .resin first and verify that (the native round trip)")
    args = ap.parse_args()
    if args.jobs < 1:
        ap.error("--jobs must be >= 1")

    resin = resin_path(args.resin)
    check_resin(resin)
    case_root = os.path.abspath(args.dir)
    from export_node_tests import export
    export(case_root, quiet=True)

    allow = read_list(ALLOWLIST)
    excluded = read_list(EXCLUDED) if args.all else {}
    if not allow:
        sys.exit(f"error: {ALLOWLIST} lists no cases (run tools/conformance/make_lists.py)")
    both = set(allow) & set(excluded)
    if both:
        sys.exit(f"error: in both allowlist.txt and excluded.txt: {', '.join(sorted(both))}")

    def selected(names):
        return [n for n in names if not args.filter or args.filter in n]

    allow_names = selected(allow)
    excl_names = selected(excluded)
    missing = [n for n in allow_names + excl_names if not os.path.isdir(os.path.join(case_root, n))]
    if missing:
        sys.exit(f"error: {len(missing)} listed cases are not in {case_root} (first: {missing[0]}); "
                 "the lists may be from another onnx version: run tools/conformance/make_lists.py")

    jobs = [(n, True) for n in allow_names] + [(n, False) for n in excl_names]

    native_root = tempfile.mkdtemp(prefix="resin-native-cases-") if args.native else None

    def run(job):
        name, _ = job
        case_dir = os.path.join(case_root, name)
        if native_root:
            # A case folder holding model.resin (converted here) and the original test data.
            native_dir = os.path.join(native_root, name)
            os.makedirs(native_dir)
            for entry in os.listdir(case_dir):
                if entry.startswith("test_data_set_"):
                    os.symlink(os.path.join(case_dir, entry), os.path.join(native_dir, entry))
            convert = subprocess.run([resin, "convert", os.path.join(case_dir, "model.onnx"),
                                      os.path.join(native_dir, "model.resin")],
                                     capture_output=True, text=True, timeout=args.timeout)
            if convert.returncode != 0:
                return Outcome(name, convert.returncode, "convert to .resin failed: " + convert.stderr, 0.0)
            case_dir = native_dir
        return run_verify(resin, case_dir, verify_args(name, args.rtol, args.atol, args.threads),
                          timeout=args.timeout, name=name)

    passed = failed = 0
    would_pass, crashed, excl_failed = [], [], 0
    if native_root:
        import atexit
        import shutil
        atexit.register(shutil.rmtree, native_root, True)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for (name, listed), outcome in zip(jobs, pool.map(run, jobs)):
            if listed:
                if outcome.passed:
                    passed += 1
                    if args.verbose:
                        print(f"ok      {name} ({outcome.seconds:.1f} s)")
                else:
                    failed += 1
                    print(f"FAILED  {name}: {outcome.describe()}", flush=True)
                    for line in outcome.head(args.lines):
                        print(f"    {line}")
            else:
                if outcome.passed:
                    would_pass.append(name)
                else:
                    excl_failed += 1
                    if outcome.crashed:
                        crashed.append((name, outcome))

    if args.all:
        print(f"\nexcluded cases run: {len(excl_names)}: {len(would_pass)} pass, {excl_failed} do not")
        if would_pass:
            print("excluded cases that pass (candidates for allowlist.txt):")
            for name in would_pass:
                print(f"    {name}  # {excluded[name]}")
        if crashed:
            print("excluded cases where resin crashed, hung or used an undocumented exit status "
                  "(Docs/CLI.md wants exit 2 and a message for unsupported input):")
            for name, outcome in crashed:
                print(f"    {name}: {outcome.describe()}")
                for line in outcome.head(3):
                    print(f"        {line}")
        print("allowlisted cases:")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

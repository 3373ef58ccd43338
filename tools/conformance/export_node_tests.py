#!/usr/bin/env python3
"""Exports the onnx package's own node test cases in the ONNX test-case layout.

    tools/conformance/export_node_tests.py [--out DIR] [--force]

DIR (default .generated/node-tests) gets one folder per case of
`onnx.backend.test.case.node.collect_testcases()`:

    DIR/test_conv_with_strides_padding/model.onnx
    DIR/test_conv_with_strides_padding/test_data_set_0/input_0.pb ... output_0.pb

The cases and their files come from the package itself: the collection runs every `expect(...)`
call of onnx/backend/test/case/node/*.py (the `_expanded` function-body variants included), and
the files are written by `onnx.backend.test.cmd_tools.generate_data`, the function behind
`backend-test-tools generate-data`, pointed at the node collection instead of the model one.
Tensor inputs and outputs are therefore `TensorProto`s named after the graph input / output at
the same position, as in the data directory onnx ships for other backends.

Idempotent: DIR/.export.json records the onnx version and case names; when it matches and every
case folder is there, nothing is written (about 0.1 s). Otherwise the whole set is rebuilt in a
temporary sibling folder and swapped in, so an interrupted export never leaves a half-written DIR.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import DEFAULT_NODE_DIR, ensure_venv  # noqa: E402

ensure_venv(__file__)

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402

STAMP = ".export.json"


def collect_node_cases():
    """The package's node test cases (numpy warnings from cases that divide by zero silenced)."""
    import warnings

    import numpy as np
    import onnx.backend.test.case.node as node_cases
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return list(node_cases.collect_testcases())


def read_stamp(out):
    try:
        with open(os.path.join(out, STAMP), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def up_to_date(out):
    import onnx
    stamp = read_stamp(out)
    if not stamp or stamp.get("onnx") != onnx.__version__ or not isinstance(stamp.get("cases"), list):
        return False
    return all(os.path.isfile(os.path.join(out, name, "model.onnx")) for name in stamp["cases"])


def export(out, force=False, quiet=False):
    """Makes sure `out` holds every node test case of the installed onnx; returns the case count."""
    import dataclasses
    import types

    import onnx
    from onnx.backend.test import cmd_tools

    out = os.path.abspath(out)
    if not force and up_to_date(out):
        count = len(read_stamp(out)["cases"])
        if not quiet:
            print(f"{out}: {count} node test cases of onnx {onnx.__version__} already exported")
        return count

    start = time.monotonic()
    cases = collect_node_cases()
    names = [case.name for case in cases]
    if len(set(names)) != len(names):
        sys.exit("error: the onnx node test collection has duplicate case names")
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    staging = f"{out}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    try:
        # generate_data writes ARGS.output/CASE.kind/CASE.name; an empty kind puts each case
        # straight under the staging folder.
        flat = [dataclasses.replace(case, kind="") for case in cases]
        saved = cmd_tools.model_test
        cmd_tools.model_test = types.SimpleNamespace(collect_testcases=lambda: flat)
        try:
            cmd_tools.generate_data(argparse.Namespace(output=staging))
        finally:
            cmd_tools.model_test = saved
        with open(os.path.join(staging, STAMP), "w", encoding="utf-8") as f:
            json.dump({"onnx": onnx.__version__, "cases": sorted(names)}, f, indent=0)
            f.write("\n")
        old = None
        if os.path.exists(out):
            old = f"{out}.old-{os.getpid()}"
            os.rename(out, old)
        os.rename(staging, out)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not quiet:
        print(f"{out}: exported {len(names)} node test cases of onnx {onnx.__version__} "
              f"in {time.monotonic() - start:.1f} s")
    return len(names)


def main():
    ap = argparse.ArgumentParser(description="Export the onnx package's node test cases "
                                             "(model.onnx + test_data_set_0/*.pb per case).")
    ap.add_argument("--out", default=DEFAULT_NODE_DIR,
                    help="destination folder (default: .generated/node-tests)")
    ap.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = ap.parse_args()
    export(args.out, force=args.force)


if __name__ == "__main__":
    main()

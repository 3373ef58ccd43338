"""Checks `resin inspect --json` against figures computed independently with the onnx package.

Usage: tools/.venv/bin/python tools/check_inspect.py --resin PATH [--expect-resnet50] DIR_OR_MODEL...

For each model: the parameter count and bytes (sum over initializers), the multiply-accumulates of
Conv, Gemm and MatMul for one image (shapes from onnx.shape_inference with the batch bound to 1), the
inputs, outputs, opset and operator histogram must match what Resin reports. With --expect-resnet50 the
models must also be within 1% of ResNet-50's published 25.6 M parameters and 4.1 G MACs.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference


def model_path(entry):
    return os.path.join(entry, "model.onnx") if os.path.isdir(entry) else entry


def reference_figures(path):
    model = onnx.load(path)
    graph = model.graph
    parameters = sum(int(np.prod(t.dims)) for t in graph.initializer)
    def tensor_bytes(t):
        if t.data_type == onnx.TensorProto.STRING:
            return sum(len(s) for s in t.string_data)
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
        return int(np.prod(t.dims)) * itemsize

    parameter_bytes = sum(tensor_bytes(t) for t in graph.initializer)
    initializer_names = {t.name for t in graph.initializer}
    # Bind a symbolic batch to one image, as Resin does for macsPerImage.
    batch = 1
    for value in graph.input:
        if value.name in initializer_names:
            continue
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_param"):
            dims[0].ClearField("dim_param")
            dims[0].dim_value = 1
        elif dims and dims[0].dim_value > 1:
            batch = dims[0].dim_value
    inferred = shape_inference.infer_shapes(model, data_prop=True)
    shapes = {}
    for value in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    for t in graph.initializer:
        shapes[t.name] = list(t.dims)
    macs = 0
    for node in graph.node:
        out = shapes.get(node.output[0])
        if node.op_type == "Conv":
            w = shapes[node.input[1]]
            macs += int(np.prod(out)) * int(np.prod(w[1:]))
        elif node.op_type == "Gemm":
            # M x K times K x N: M rows (one per image when onnx cannot infer them) times B's K * N.
            rows = out[0] if out and out[0] else 1
            macs += rows * int(np.prod(shapes[node.input[1]]))
        elif node.op_type == "MatMul":
            a = shapes[node.input[0]]
            macs += int(np.prod(out)) * a[-1]
    ops = {}
    for node in graph.node:
        # Operators of other domains are counted under their qualified name, as Resin reports them.
        name = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        ops[name] = ops.get(name, 0) + 1
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    inputs = [v.name for v in graph.input if v.name not in initializer_names]
    outputs = [v.name for v in graph.output]
    return dict(parameters=parameters, parameterBytes=parameter_bytes, macsPerImage=macs // batch,
                operators=ops, opsetVersion=opset, inputs=inputs, outputs=outputs, nodeCount=len(graph.node))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--resin", required=True)
    parser.add_argument("--expect-resnet50", action="store_true")
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()
    passed = failed = 0
    for entry in args.models:
        path = model_path(entry)
        problems = []
        run = subprocess.run([args.resin, "inspect", "--json", path], capture_output=True, text=True, timeout=600)
        if run.returncode != 0:
            problems.append(f"exit {run.returncode}: {run.stderr.strip()}")
        else:
            report = json.loads(run.stdout)
            expected = reference_figures(path)
            for key in ("parameters", "parameterBytes", "macsPerImage", "operators", "opsetVersion", "nodeCount"):
                if report.get(key) != expected[key]:
                    problems.append(f"{key}: resin {report.get(key)} vs onnx {expected[key]}")
            if [v["name"] for v in report["inputs"]] != expected["inputs"]:
                problems.append(f"inputs: {report['inputs']} vs {expected['inputs']}")
            if [v["name"] for v in report["outputs"]] != expected["outputs"]:
                problems.append(f"outputs: {report['outputs']} vs {expected['outputs']}")
            if report.get("format") != "onnx":
                problems.append(f"format: {report.get('format')}")
            if args.expect_resnet50:
                for key, target in (("parameters", 25.6e6), ("macsPerImage", 4.1e9)):
                    if abs(report[key] - target) > 0.01 * target:
                        problems.append(f"{key} {report[key]} is not within 1% of {target:g}")
            detail = f"parameters {report['parameters']}, MACs {report['macsPerImage']}" if not problems else "; ".join(problems)
        name = os.path.basename(os.path.dirname(path)) if os.path.isdir(entry) else path
        print(f"{'PASS' if not problems else 'FAIL'}  {name}: {detail if not problems else '; '.join(problems)}")
        if problems:
            failed += 1
        else:
            passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

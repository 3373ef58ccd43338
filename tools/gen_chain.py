#!/usr/bin/env python3
"""Writes long ONNX graphs for measuring how Resin's cost grows with the node count.

    "$(tools/venv.sh)" tools/gen_chain.py relu N OUT.onnx
    "$(tools/venv.sh)" tools/gen_chain.py blocks N OUT.onnx

`relu` is a chain of N Relu nodes on a [1, 4] input: nothing fuses, so every stage sees all N nodes.
`blocks` repeats Conv, BatchNormalization, Add (a residual from the block's input), Relu on a
[1, 4, 2, 2] input until about N nodes: each block gives the optimizer a BatchNormalization to fold, a
residual Add and a Relu to fuse, so the rules fire N / 4 times each. Weights are seeded and tiny
(4x4 1x1 filters) so that a million nodes stay small on disk. Both graphs run, so `resin verify` can
check them against ONNX Runtime (`--reference` writes an input and ONNX Runtime's output in the test-case layout beside OUT).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from toolenv import ensure_venv  # noqa: E402

ensure_venv(__file__)

import argparse  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

CHANNELS = 4


def relu_chain(count):
    nodes = [helper.make_node("Relu", [f"v{i}"], [f"v{i + 1}"], name=f"relu{i}") for i in range(count)]
    graph = helper.make_graph(
        nodes, f"relu_chain_{count}",
        [helper.make_tensor_value_info("v0", TensorProto.FLOAT, [1, CHANNELS])],
        [helper.make_tensor_value_info(f"v{count}", TensorProto.FLOAT, [1, CHANNELS])])
    return graph


def residual_blocks(count):
    rng = np.random.default_rng(9)
    blocks = max(1, count // 4)
    nodes, initializers = [], []
    value = "x"
    for b in range(blocks):
        # Filters near minus half the identity make each block contract (x + BN(conv(x)) is about x / 2 plus
        # a shift), so activations stay O(0.1) however long the chain is instead of overflowing to NaN.
        weight = (np.eye(CHANNELS) * -0.5 + rng.normal(0, 0.05, (CHANNELS, CHANNELS))).astype(np.float32)
        gamma = rng.uniform(0.5, 1.0, CHANNELS).astype(np.float32)
        beta = rng.normal(0, 0.1, CHANNELS).astype(np.float32)
        mean = rng.normal(0, 0.1, CHANNELS).astype(np.float32)
        var = rng.uniform(0.5, 1.5, CHANNELS).astype(np.float32)
        for name, array in [("w", weight.reshape(CHANNELS, CHANNELS, 1, 1)), ("g", gamma), ("b", beta),
                            ("m", mean), ("v", var)]:
            initializers.append(numpy_helper.from_array(array, f"{name}{b}"))
        nodes += [
            helper.make_node("Conv", [value, f"w{b}"], [f"c{b}"], name=f"conv{b}"),
            helper.make_node("BatchNormalization", [f"c{b}", f"g{b}", f"b{b}", f"m{b}", f"v{b}"], [f"n{b}"],
                             name=f"bn{b}"),
            helper.make_node("Add", [f"n{b}", value], [f"a{b}"], name=f"add{b}"),
            helper.make_node("Relu", [f"a{b}"], [f"r{b}"], name=f"relu{b}"),
        ]
        value = f"r{b}"
    graph = helper.make_graph(
        nodes, f"residual_blocks_{blocks}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, CHANNELS, 2, 2])],
        [helper.make_tensor_value_info(value, TensorProto.FLOAT, [1, CHANNELS, 2, 2])],
        initializer=initializers)
    return graph


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["relu", "blocks"])
    parser.add_argument("nodes", type=int)
    parser.add_argument("out")
    parser.add_argument("--reference", action="store_true",
                        help="also write test_data_set_0/input_0.pb and output_0.pb (ONNX Runtime) beside OUT")
    args = parser.parse_args()
    graph = relu_chain(args.nodes) if args.kind == "relu" else residual_blocks(args.nodes)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="gen_chain")
    model.ir_version = 8
    onnx.save(model, args.out)
    if args.reference:
        import onnxruntime as ort
        folder = os.path.join(os.path.dirname(os.path.abspath(args.out)), "test_data_set_0")
        os.makedirs(folder, exist_ok=True)
        shape = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
        feed = np.random.default_rng(1).normal(0, 1, shape).astype(np.float32)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(args.out, options, providers=["CPUExecutionProvider"])
        (result,) = session.run(None, {graph.input[0].name: feed})
        for name, array, tensor_name in [("input_0.pb", feed, graph.input[0].name),
                                         ("output_0.pb", result, graph.output[0].name)]:
            with open(os.path.join(folder, name), "wb") as file:
                file.write(numpy_helper.from_array(array, tensor_name).SerializeToString())
    print(f"{args.out}: {len(graph.node)} nodes")


if __name__ == "__main__":
    main()

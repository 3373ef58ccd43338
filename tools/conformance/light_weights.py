"""Rewrites of onnx's light models for tools/conformance/light_models.py.

The shipped light models build every weight with a ConstantOfShape of 0.02. Two things follow:
the logits grow to about 1e10, so their final Softmax amplifies a relative rounding difference of
3e-7 into a different answer (the output is ill-conditioned), and a filter read with the wrong
layout gives the same numbers as the right one (every element is equal). The functions here cut a
model before its final Softmax and give it seeded random weights in place of the constants.
"""
import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference


def cut_before_final_softmax(model):
    """Makes the tensor that feeds the graph output's Softmax the only graph output.

    Returns (model, description of what the output now is). A model whose output is not made by a
    Softmax (DenseNet-121 ends in a Conv) is returned unchanged.
    """
    graph = model.graph
    if len(graph.output) != 1:
        raise ValueError(f"expected one graph output, found {len(graph.output)}")
    name = graph.output[0].name
    producer = next((n for n in graph.node if name in n.output), None)
    if producer is None or producer.op_type != "Softmax":
        return model, f"graph output '{name}' (no final Softmax)"
    logits = producer.input[0]
    cut = onnx.ModelProto()
    cut.CopyFrom(model)
    kept = [n for n in cut.graph.node if n.output[0] != name]
    del cut.graph.node[:]
    cut.graph.node.extend(kept)
    del cut.graph.output[:]
    inferred = shape_inference.infer_shapes(cut)
    info = next((v for v in inferred.graph.value_info if v.name == logits), None)
    if info is None:
        info = helper.make_tensor_value_info(logits, onnx.TensorProto.FLOAT, None)
    cut.graph.output.append(info)
    return cut, f"tensor '{logits}' that feeds the final Softmax"


def _consumers(graph):
    uses = {}
    for node in graph.node:
        for position, name in enumerate(node.input):
            uses.setdefault(name, []).append((node, position))
    return uses


def _constant_shape(graph, node):
    """The shape a ConstantOfShape node makes, from its initializer input."""
    initializers = {t.name: t for t in graph.initializer}
    source = initializers.get(node.input[0])
    if source is None:
        return None
    return [int(d) for d in numpy_helper.to_array(source)]


def _role(uses, name, depth=0):
    """What a weight feeds, as (operator, input position); an Unsqueeze is looked through."""
    found = uses.get(name, [])
    if len(found) != 1:
        return None
    node, position = found[0]
    if node.op_type == "Unsqueeze" and position == 0 and depth == 0:
        return _role(uses, node.output[0], depth + 1)
    return node.op_type, position, node


def _fan_in(op, node, shape):
    if op == "Conv":
        return int(np.prod(shape[1:]))
    trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
    return shape[1] if trans_b else shape[0]


def randomize_weights(model, seed):
    """Replaces each weight-making ConstantOfShape with a seeded random initializer.

    Conv and Gemm weights are He-normal (standard deviation sqrt(2 / fan-in)), so that activations
    stay of order one through ReLU networks without batch statistics; biases and the additive
    per-channel terms are N(0, 0.1); BatchNormalization scales and variances and the multiplicative
    per-channel terms are uniform in [0.5, 1.5]. Returns (model, number of weights replaced).
    """
    rng = np.random.default_rng(seed)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    uses = _consumers(graph)
    kept, made = [], []
    for node in graph.node:
        role = _role(uses, node.output[0]) if node.op_type == "ConstantOfShape" else None
        shape = _constant_shape(graph, node) if role else None
        value = None
        if role and shape is not None:
            op, position, consumer = role
            if op in ("Conv", "Gemm") and position == 1:
                value = rng.normal(0.0, np.sqrt(2.0 / _fan_in(op, consumer, shape)), shape)
            elif (op in ("Conv", "Gemm") and position == 2) or (op == "BatchNormalization" and position in (2, 3)) \
                    or op == "Add":
                value = rng.normal(0.0, 0.1, shape)
            elif (op == "BatchNormalization" and position in (1, 4)) or op == "Mul":
                value = rng.uniform(0.5, 1.5, shape)
        if value is None:
            kept.append(node)
            continue
        tensor = numpy_helper.from_array(value.astype(np.float32), node.output[0])
        made.append(tensor)
    del graph.node[:]
    graph.node.extend(kept)
    graph.initializer.extend(made)
    # IR 3 lists every initializer as a graph input too, as the shipped files do.
    if out.ir_version < 4:
        graph.input.extend(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in made)
    return out, len(made)


def transpose_first_filter(model):
    """The model with its first square Conv filter (2x2 or larger) transposed in its two spatial axes:
    what a filter-layout bug (kh and kw swapped) would compute. Returns (model, conv weight name)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    initializers = {t.name: t for t in out.graph.initializer}
    for node in out.graph.node:
        if node.op_type != "Conv" or node.input[1] not in initializers:
            continue
        tensor = initializers[node.input[1]]
        weight = numpy_helper.to_array(tensor)
        if weight.ndim != 4 or weight.shape[2] != weight.shape[3] or weight.shape[2] < 2:
            continue
        tensor.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(weight.transpose(0, 1, 3, 2)), tensor.name))
        return out, tensor.name
    raise ValueError("no square spatial Conv filter to transpose")

#!/usr/bin/env python3
"""Generates ResNet-family ONNX models with seeded weights, plus ONNX Runtime reference outputs.

Invocation (from anywhere; the script re-executes itself with the pinned venv python that
tools/venv.sh creates and prints, so both forms are equivalent):

    "$(tools/venv.sh)" tools/gen_fixtures.py fixtures [NAME...] [--out DIR]
    "$(tools/venv.sh)" tools/gen_fixtures.py full NAME... [--out DIR] [--batch N] [--symbolic-batch] [--force]
    "$(tools/venv.sh)" tools/gen_fixtures.py list

`fixtures` rewrites the small committed fixtures (default DIR: <repo>/Fixtures), deterministically:
running it twice gives identical bytes. `full` writes full-size 224x224, 1000-class models
(default DIR: <repo>/.generated/full, git-ignored) and skips a model whose folder was already
made by the same arguments and the same generator (stamp file `.stamp.json`).

Each model goes to DIR/NAME/ in the ONNX test-case layout:
    model.onnx, test_data_set_0/input_0.pb, test_data_set_0/output_0.pb (TensorProto files
    named after the graph's input/output), and meta.json (family, quirks, versions, shapes).
The outputs are computed by ONNX Runtime (CPUExecutionProvider, ORT_DISABLE_ALL) on seeded
random inputs. No PyTorch: graphs are built with onnx.helper and numpy, in the style of the
PyTorch 2.1 exporter (or of older PyTorch, tf2onnx and Caffe2 exporters for the quirk fixtures).
"""
import os
import sys


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from toolenv import ensure_venv  # noqa: E402

ensure_venv(__file__)

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

TOOLS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TOOLS_DIR)
F32 = np.float32


# --------------------------------------------------------------------------------------------
# Low-level graph assembly


class Graph:
    """Collects nodes and initializers. `typed` stores tensors in float_data/int64_data."""

    def __init__(self, typed=False):
        self.nodes = []
        self.inits = []
        self.init_names = set()
        self.typed = typed

    def init(self, name, array):
        if name in self.init_names:
            raise ValueError(f"duplicate initializer {name}")
        array = np.ascontiguousarray(array)
        if self.typed:
            dtype = helper.np_dtype_to_tensor_dtype(array.dtype)
            tensor = helper.make_tensor(name, dtype, array.shape, array.ravel().tolist())
        else:
            tensor = numpy_helper.from_array(array, name)
        self.inits.append(tensor)
        self.init_names.add(name)
        return name

    def node(self, op, inputs, outputs, name, **attrs):
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def const_node(self, name, output, array):
        """A `Constant` node (value attribute), as exporters write small constants."""
        tensor = numpy_helper.from_array(np.asarray(array), "")
        return self.node("Constant", [], [output], name, value=tensor)


class Namer:
    """Node/tensor naming in the style of an exporter.

    scoped (PyTorch >= 1.13): node `/layer1/layer1.0/conv1/Conv`, output `<node>_output_0`.
    legacy (PyTorch 1.x):     node `Conv_12`, outputs numeric strings like `123`.
    """

    def __init__(self, style):
        self.style = style
        self.used = set()
        self.count = 0
        self.tensor = 100

    def __call__(self, scope, op):
        if self.style == "legacy":
            name = f"{op}_{self.count}"
            self.count += 1
            self.tensor += 1
            return name, str(self.tensor)
        base = "/" + "/".join(list(scope) + [op]) if scope else "/" + op
        name, k = base, 0
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name, name + "_output_0"


def value_info(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def make_model(graph, inputs, outputs, *, opset, ir_version, producer, producer_version,
               graph_name="main_graph", initializers_as_inputs=False, inits_first=False,
               extra_opsets=()):
    inputs = list(inputs)
    if initializers_as_inputs:
        init_inputs = [value_info(t.name, list(t.dims), t.data_type) for t in graph.inits]
        inputs = init_inputs + inputs if inits_first else inputs + init_inputs
    g = helper.make_graph(graph.nodes, graph_name, inputs, outputs, initializer=graph.inits)
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    model = helper.make_model(g, opset_imports=opsets, producer_name=producer,
                              producer_version=producer_version)
    model.ir_version = ir_version
    return model


# --------------------------------------------------------------------------------------------
# Weights

# A BN with the statistics below multiplies the second moment by E[gamma^2] * E[1/var]
# = (1 + 1/12) * ln(3) ~ 1.19 on average; conv gains divide that back out.
BN_GAIN_COMPENSATION = float(1.0 / np.sqrt((1.0 + 1.0 / 12.0) * np.log(3.0)))


class Weights:
    """Seeded parameters. Convs: He-normal (std sqrt(2/fan_in)) times a gain; BN statistics are
    deliberately non-trivial: mean ~ N(0, 0.1), var ~ U(0.5, 1.5), gamma ~ U(0.5, 1.5),
    beta ~ N(0, 0.1)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def conv(self, cout, cin_per_group, k, gain=1.0):
        fan_in = cin_per_group * k * k
        std = gain * np.sqrt(2.0 / fan_in)
        w = self.rng.standard_normal((cout, cin_per_group, k, k), dtype=F32)
        w *= F32(std)
        return w

    def bn(self, c):
        r = self.rng
        gamma = (r.random(c, dtype=F32) + F32(0.5))
        beta = r.standard_normal(c, dtype=F32) * F32(0.1)
        mean = r.standard_normal(c, dtype=F32) * F32(0.1)
        var = (r.random(c, dtype=F32) + F32(0.5))
        return gamma, beta, mean, var

    def linear(self, cout, cin):
        bound = F32(1.0 / np.sqrt(cin))
        w = (self.rng.random((cout, cin), dtype=F32) * F32(2) - F32(1)) * bound * F32(np.sqrt(3))
        b = (self.rng.random(cout, dtype=F32) * F32(2) - F32(1)) * bound
        return w, b

    def bias(self, c):
        return self.rng.standard_normal(c, dtype=F32) * F32(0.05)


# --------------------------------------------------------------------------------------------
# The parametrized PyTorch-style ResNet builder


@dataclass
class Spec:
    block: str = "bottleneck"        # basic | bottleneck
    layers: tuple = (3, 4, 6, 3)
    variant: str = "v1.5"            # v1 (stride on first 1x1) | v1.5 (stride on 3x3) | v2 (pre-act)
    groups: int = 1                  # ResNeXt cardinality
    width_per_group: int = 0         # torchvision semantics relative to base_width (0: = base_width)
    base_width: int = 64             # stem channels = planes of layer1
    num_classes: int = 1000
    height: int = 224
    width: int = 224
    seed: int = 0
    opset: int = 13
    ir_version: int = 8
    producer: str = "pytorch"
    producer_version: str = "2.1.0"
    naming: str = "scoped"           # scoped | legacy
    pool: str = "gap"                # gap | reducemean (axes attribute < opset 18, input >= 18)
    flatten: str = "flatten"         # flatten | shape_chain | reshape_const
    head: str = "gemm"               # gemm | matmul_add
    residual: str = "add"            # add | sum
    initializers_as_inputs: bool = False
    typed_data: bool = False         # float_data / int64_data instead of raw_data
    symbolic_batch: bool = False
    batch: int = 1                   # fixed batch dimension when not symbolic
    extras: bool = False             # Dropout, Identity, Clip (Relu6), final Softmax
    output_name: str = "logits"
    quirks: list = field(default_factory=list)


def bottleneck_width(spec, planes):
    wpg = spec.width_per_group or spec.base_width
    return int(planes * (wpg / spec.base_width)) * spec.groups


def build_resnet(spec):
    """Returns (ModelProto, info dict). Structure follows torchvision's ResNet (and its v1 / v2
    variations); names follow the PyTorch exporter."""
    g = Graph(typed=spec.typed_data)
    w = Weights(spec.seed)
    nm = Namer(spec.naming)
    opset = spec.opset
    expansion = 4 if spec.block == "bottleneck" else 1
    total_blocks = sum(spec.layers)
    # Gains on top of He init keep activations O(1) through deep nets: the last conv of each
    # residual branch is scaled by 1/sqrt(#blocks); convs whose input is not a Relu output
    # (stem on raw input) or whose output is not followed by a Relu before the sum
    # (projection shortcut) use sqrt(1/2).
    branch_gain = 1.0 / np.sqrt(total_blocks)
    half = np.sqrt(0.5)
    stats = {"conv": 0, "bn": 0}

    def conv(x, scope, pname, cout, cin, k, stride, pad, groups=1, gain=1.0):
        g.init(pname + ".weight", w.conv(cout, cin // groups, k, gain * BN_GAIN_COMPENSATION))
        name, out = nm(scope, "Conv")
        stats["conv"] += 1
        return g.node("Conv", [x, pname + ".weight"], [out], name,
                      dilations=[1, 1], group=groups, kernel_shape=[k, k],
                      pads=[pad] * 4, strides=[stride, stride])

    def bn(x, scope, pname, c):
        gamma, beta, mean, var = w.bn(c)
        names = [g.init(pname + s, a) for s, a in
                 ((".weight", gamma), (".bias", beta), (".running_mean", mean), (".running_var", var))]
        name, out = nm(scope, "BatchNormalization")
        stats["bn"] += 1
        return g.node("BatchNormalization", [x] + names, [out], name, epsilon=1e-5, momentum=0.9)

    def relu(x, scope):
        name, out = nm(scope, "Relu")
        return g.node("Relu", [x], [out], name)

    def relu6(x, scope):
        lo_name, lo = nm(scope, "Constant")
        g.const_node(lo_name, lo, np.array(0.0, dtype=F32))
        hi_name, hi = nm(scope, "Constant")
        g.const_node(hi_name, hi, np.array(6.0, dtype=F32))
        name, out = nm(scope, "Clip")
        return g.node("Clip", [x, lo, hi], [out], name)

    def residual(a, b, scope):
        op = "Sum" if spec.residual == "sum" else "Add"
        name, out = nm(scope, op)
        return g.node(op, [a, b], [out], name)

    # ---- stem
    x = "input"
    bw = spec.base_width
    # With the Relu6 quirk the stem is made 3x louder so that Clip's max=6 actually clips.
    x = conv(x, ["conv1"], "conv1", bw, 3, 7, 2, 3, gain=half * (3.0 if spec.extras else 1.0))
    x = bn(x, ["bn1"], "bn1", bw)
    x = relu6(x, ["relu"]) if spec.extras else relu(x, ["relu"])
    name, out = nm(["maxpool"], "MaxPool")
    pool_attrs = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    if opset >= 10:
        pool_attrs["ceil_mode"] = 0
    x = g.node("MaxPool", [x], [out], name, **pool_attrs)
    if spec.extras:
        name, out = nm([], "Identity")
        x = g.node("Identity", [x], [out], name)

    # ---- stages
    inplanes = bw
    for li, nblocks in enumerate(spec.layers):
        planes = bw * (2 ** li)
        lname = f"layer{li + 1}"
        for bi in range(nblocks):
            stride = 2 if (li > 0 and bi == 0) else 1
            bname = f"{lname}.{bi}"
            sc = [lname, bname]
            p = bname + "."
            outc = planes * expansion
            needs_ds = stride != 1 or inplanes != outc
            if spec.variant == "v2":
                pre = relu(bn(x, sc + ["bn1"], p + "bn1", inplanes), sc + ["relu"])
                shortcut = (conv(pre, sc + ["downsample", "downsample.0"], p + "downsample.0",
                                 outc, inplanes, 1, stride, 0, gain=half) if needs_ds else x)
                if spec.block == "basic":
                    y = conv(pre, sc + ["conv1"], p + "conv1", planes, inplanes, 3, stride, 1)
                    y = relu(bn(y, sc + ["bn2"], p + "bn2", planes), sc + ["relu_1"])
                    y = conv(y, sc + ["conv2"], p + "conv2", planes, planes, 3, 1, 1, gain=branch_gain)
                else:
                    width = bottleneck_width(spec, planes)
                    y = conv(pre, sc + ["conv1"], p + "conv1", width, inplanes, 1, 1, 0)
                    y = relu(bn(y, sc + ["bn2"], p + "bn2", width), sc + ["relu_1"])
                    y = conv(y, sc + ["conv2"], p + "conv2", width, width, 3, stride, 1, groups=spec.groups)
                    y = relu(bn(y, sc + ["bn3"], p + "bn3", width), sc + ["relu_2"])
                    y = conv(y, sc + ["conv3"], p + "conv3", outc, width, 1, 1, 0, gain=branch_gain)
                x = residual(y, shortcut, sc)
            else:
                if spec.block == "basic":
                    y = conv(x, sc + ["conv1"], p + "conv1", planes, inplanes, 3, stride, 1)
                    y = relu(bn(y, sc + ["bn1"], p + "bn1", planes), sc + ["relu"])
                    y = conv(y, sc + ["conv2"], p + "conv2", planes, planes, 3, 1, 1, gain=branch_gain)
                    y = bn(y, sc + ["bn2"], p + "bn2", planes)
                    last_relu = "relu_1"
                else:
                    width = bottleneck_width(spec, planes)
                    s1, s3 = (stride, 1) if spec.variant == "v1" else (1, stride)
                    y = conv(x, sc + ["conv1"], p + "conv1", width, inplanes, 1, s1, 0)
                    y = relu(bn(y, sc + ["bn1"], p + "bn1", width), sc + ["relu"])
                    y = conv(y, sc + ["conv2"], p + "conv2", width, width, 3, s3, 1, groups=spec.groups)
                    y = relu(bn(y, sc + ["bn2"], p + "bn2", width), sc + ["relu_1"])
                    y = conv(y, sc + ["conv3"], p + "conv3", outc, width, 1, 1, 0, gain=branch_gain)
                    y = bn(y, sc + ["bn3"], p + "bn3", outc)
                    last_relu = "relu_2"
                if needs_ds:
                    shortcut = conv(x, sc + ["downsample", "downsample.0"], p + "downsample.0",
                                    outc, inplanes, 1, stride, 0, gain=half)
                    shortcut = bn(shortcut, sc + ["downsample", "downsample.1"], p + "downsample.1", outc)
                else:
                    shortcut = x
                x = relu(residual(y, shortcut, sc), sc + [last_relu])
            inplanes = outc

    if spec.variant == "v2":
        x = relu(bn(x, ["norm"], "norm", inplanes), ["relu"])

    # ---- pooling
    if spec.pool == "gap":
        name, out = nm(["avgpool"], "GlobalAveragePool")
        x = g.node("GlobalAveragePool", [x], [out], name)
    elif opset >= 18:
        cname, axes = nm([], "Constant")
        g.const_node(cname, axes, np.array([2, 3], dtype=np.int64))
        name, out = nm([], "ReduceMean")
        x = g.node("ReduceMean", [x, axes], [out], name, keepdims=1)
    else:
        name, out = nm([], "ReduceMean")
        x = g.node("ReduceMean", [x], [out], name, axes=[2, 3], keepdims=1)

    # ---- flatten
    if spec.flatten == "flatten":
        name, out = nm([], "Flatten")
        x = g.node("Flatten", [x], [out], name, axis=1)
    elif spec.flatten == "reshape_const":
        if spec.typed_data or opset < 18:
            shape = g.init("onnx::Reshape_" + str(200 + len(g.inits)), np.array([0, -1], dtype=np.int64))
        else:
            cname, shape = nm([], "Constant")
            g.const_node(cname, shape, np.array([0, -1], dtype=np.int64))
        name, out = nm([], "Reshape")
        x = g.node("Reshape", [x, shape], [out], name)
    elif spec.flatten == "shape_chain":
        # x.view(x.size(0), -1) as written by old PyTorch exporters.
        name, shp = nm([], "Shape")
        g.node("Shape", [x], [shp], name)
        cname, idx = nm([], "Constant")
        g.const_node(cname, idx, np.array(0, dtype=np.int64))
        name, n = nm([], "Gather")
        g.node("Gather", [shp, idx], [n], name, axis=0)
        name, n1 = nm([], "Unsqueeze")
        if opset >= 13:
            cname, ax = nm([], "Constant")
            g.const_node(cname, ax, np.array([0], dtype=np.int64))
            g.node("Unsqueeze", [n, ax], [n1], name)
        else:
            g.node("Unsqueeze", [n], [n1], name, axes=[0])
        cname, m1 = nm([], "Constant")
        g.const_node(cname, m1, np.array([-1], dtype=np.int64))
        name, cat = nm([], "Concat")
        g.node("Concat", [n1, m1], [cat], name, axis=0)
        name, out = nm([], "Reshape")
        x = g.node("Reshape", [x, cat], [out], name)
    else:
        raise ValueError(spec.flatten)

    if spec.extras:
        name, out = nm([], "Identity")
        x = g.node("Identity", [x], [out], name)
        cname, ratio = nm(["dropout"], "Constant")
        g.const_node(cname, ratio, np.array(0.5, dtype=F32))
        name, out = nm(["dropout"], "Dropout")
        x = g.node("Dropout", [x, ratio], [out], name)

    # ---- classifier
    fc_w, fc_b = w.linear(spec.num_classes, inplanes)
    final = spec.output_name if not spec.extras else None
    if spec.head == "gemm":
        g.init("fc.weight", fc_w)
        g.init("fc.bias", fc_b)
        name, out = nm(["fc"], "Gemm")
        x = g.node("Gemm", [x, "fc.weight", "fc.bias"], [final or out], name,
                   alpha=1.0, beta=1.0, transB=1)
    else:
        wt = g.init("onnx::MatMul_" + str(300 + len(g.inits)), np.ascontiguousarray(fc_w.T))
        g.init("fc.bias", fc_b)
        name, out = nm(["fc"], "MatMul")
        x = g.node("MatMul", [x, wt], [out], name)
        name, out = nm(["fc"], "Add")
        x = g.node("Add", [x, "fc.bias"], [final or out], name)
    if spec.extras:
        name, out = nm([], "Softmax")
        x = g.node("Softmax", [x], [spec.output_name], name, axis=1)

    batch = "N" if spec.symbolic_batch else spec.batch
    inputs = [value_info("input", [batch, 3, spec.height, spec.width])]
    outputs = [value_info(spec.output_name, [batch, spec.num_classes])]
    model = make_model(g, inputs, outputs, opset=opset, ir_version=spec.ir_version,
                       producer=spec.producer, producer_version=spec.producer_version,
                       initializers_as_inputs=spec.initializers_as_inputs)
    info = dict(convs=stats["conv"], batchnorms=stats["bn"])
    return model, info


# --------------------------------------------------------------------------------------------
# tf2onnx-style and Caffe2-style builders (their own naming and layout conventions)


def build_tf_style(seed, layers=(1, 1), base=8, hw=(32, 32), num_classes=10):
    """Keras ResNet (v1: stride on the first 1x1; convs with bias; BN epsilon 1.001e-5) as
    tf2onnx writes it: NHWC input + Transpose, explicit Pad before VALID convs/pools,
    auto_pad SAME_UPPER on 3x3 convs, head Transpose + ReduceMean + MatMul + Add + Softmax."""
    g = Graph()
    w = Weights(seed)
    H, W = hw
    counter = [0]

    def uid():
        counter[0] += 1
        return counter[0]

    def conv(x, scope, cout, cin, k, stride, auto_pad=None, gain=1.0):
        wn = g.init(f"model/{scope}/Conv2D/ReadVariableOp:0", w.conv(cout, cin, k, gain * BN_GAIN_COMPENSATION))
        bn_ = g.init(f"model/{scope}/BiasAdd/ReadVariableOp:0", w.bias(cout))
        attrs = dict(dilations=[1, 1], kernel_shape=[k, k], strides=[stride, stride])
        if auto_pad:
            attrs["auto_pad"] = auto_pad
        else:
            attrs["pads"] = [0, 0, 0, 0]
        return g.node("Conv", [x, wn, bn_], [f"model/{scope}/BiasAdd:0"], f"model/{scope}/BiasAdd", **attrs)

    def bn(x, scope, c):
        gamma, beta, mean, var = w.bn(c)
        ins = [g.init(f"model/{scope}/{s}:0", a) for s, a in
               (("gamma", gamma), ("beta", beta), ("moving_mean", mean), ("moving_variance", var))]
        return g.node("BatchNormalization", [x] + ins, [f"model/{scope}/FusedBatchNormV3:0"],
                      f"model/{scope}/FusedBatchNormV3", epsilon=1.001e-5)

    def relu(x, scope):
        return g.node("Relu", [x], [f"model/{scope}/Relu:0"], f"model/{scope}/Relu")

    def pad(x, scope, p):
        pads = g.init(f"const_fold_opt__{uid()}", np.array([0, 0, p, p, 0, 0, p, p], dtype=np.int64))
        return g.node("Pad", [x, pads], [f"model/{scope}/Pad:0"], f"model/{scope}/Pad", mode="constant")

    x = g.node("Transpose", ["input_1"], [f"Transpose__{uid()}:0"], f"Transpose__{counter[0]}", perm=[0, 3, 1, 2])
    x = pad(x, "conv1_pad", 3)
    x = conv(x, "conv1_conv", base, 3, 7, 2, auto_pad="VALID", gain=np.sqrt(0.5))
    x = relu(bn(x, "conv1_bn", base), "conv1_relu")
    x = pad(x, "pool1_pad", 1)
    x = g.node("MaxPool", [x], ["model/pool1_pool/MaxPool:0"], "model/pool1_pool/MaxPool",
               kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 0, 0])
    total = sum(layers)
    inplanes = base
    for si, n in enumerate(layers):
        planes = base * 2 ** si
        for bi in range(n):
            stride = 2 if (si > 0 and bi == 0) else 1
            s = f"conv{si + 2}_block{bi + 1}"
            outc = planes * 4
            if bi == 0:
                sc = conv(x, s + "_0_conv", outc, inplanes, 1, stride, gain=np.sqrt(0.5))
                sc = bn(sc, s + "_0_bn", outc)
            else:
                sc = x
            y = conv(x, s + "_1_conv", planes, inplanes, 1, stride)
            y = relu(bn(y, s + "_1_bn", planes), s + "_1_relu")
            y = conv(y, s + "_2_conv", planes, planes, 3, 1, auto_pad="SAME_UPPER")
            y = relu(bn(y, s + "_2_bn", planes), s + "_2_relu")
            y = conv(y, s + "_3_conv", outc, planes, 1, 1, gain=1 / np.sqrt(total))
            y = bn(y, s + "_3_bn", outc)
            x = g.node("Add", [sc, y], [f"model/{s}_add/add:0"], f"model/{s}_add/add")
            x = relu(x, s + "_out")
            inplanes = outc
    x = g.node("Transpose", [x], [f"Transpose__{uid()}:0"], f"Transpose__{counter[0]}", perm=[0, 2, 3, 1])
    x = g.node("ReduceMean", [x], ["model/avg_pool/Mean:0"], "model/avg_pool/Mean", axes=[1, 2], keepdims=0)
    fw, fb = w.linear(num_classes, inplanes)
    wn = g.init("model/predictions/MatMul/ReadVariableOp:0", np.ascontiguousarray(fw.T))
    bn_ = g.init("model/predictions/BiasAdd/ReadVariableOp:0", fb)
    x = g.node("MatMul", [x, wn], ["model/predictions/MatMul:0"], "model/predictions/MatMul")
    x = g.node("Add", [x, bn_], ["model/predictions/BiasAdd:0"], "model/predictions/BiasAdd")
    g.node("Softmax", [x], ["predictions"], "model/predictions/Softmax", axis=1)
    inputs = [value_info("input_1", [1, H, W, 3])]
    outputs = [value_info("predictions", [1, num_classes])]
    model = make_model(g, inputs, outputs, opset=13, ir_version=7, producer="tf2onnx",
                       producer_version="1.16.1 15c810", graph_name="tf2onnx")
    return model, {}


def build_caffe2_style(seed, base=8, hw=(32, 32), num_classes=10):
    """A small ResNet-ish net as Caffe2's ONNX exporter wrote them: IR 3, opset 7, empty node
    names, `gpu_0/...` tensor names, all initializers also listed in graph.input BEFORE the data
    input, BN-7 with spatial=1, MaxPool with asymmetric pads, LRN, residuals with Sum, projection
    shortcut through AveragePool(count_include_pad=1) + 1x1 conv, global pooling as a plain
    AveragePool over the full map, Reshape, Gemm, and Softmax with opset-1 semantics (coerced to
    2-D from `axis`) applied to a [N, 2, 5] view of the logits."""
    g = Graph()
    w = Weights(seed)
    H, W = hw
    t = [0]

    def out(stem):
        t[0] += 1
        return f"gpu_0/{stem}_{t[0]}"

    def conv(x, nm, cout, cin, k, stride, pad, gain=1.0):
        wn = g.init(f"gpu_0/{nm}_w_0", w.conv(cout, cin, k, gain * BN_GAIN_COMPENSATION))
        return g.node("Conv", [x, wn], [out(nm)], "", kernel_shape=[k, k], pads=[pad] * 4,
                      strides=[stride, stride], dilations=[1, 1], group=1)

    def bn(x, nm, c):
        gamma, beta, mean, var = w.bn(c)
        ins = [g.init(f"gpu_0/{nm}_{s}_0", a) for s, a in
               (("s", gamma), ("b", beta), ("rm", mean), ("riv", var))]
        return g.node("BatchNormalization", [x] + ins, [out(nm)], "", epsilon=1e-5,
                      momentum=0.9, spatial=1)

    def relu(x, nm):
        return g.node("Relu", [x], [out(nm)], "")

    x = "gpu_0/data_0"
    x = conv(x, "conv1", base, 3, 7, 2, 3, gain=np.sqrt(0.5))
    x = relu(bn(x, "res_conv1_bn", base), "res_conv1_bn_relu")
    x = g.node("MaxPool", [x], [out("pool1")], "", kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1])
    x = g.node("LRN", [x], [out("pool1_lrn")], "", size=5, alpha=1e-4, beta=0.75, bias=1.0)
    inplanes = base
    stages = 2
    for si in range(stages):
        planes = base * 2 ** si
        stride = 2 if si else 1
        p = f"res{si + 2}_0"
        outc = planes * 4
        y = conv(x, p + "_branch2a", planes, inplanes, 1, stride, 0)
        y = relu(bn(y, p + "_branch2a_bn", planes), p + "_branch2a_relu")
        y = conv(y, p + "_branch2b", planes, planes, 3, 1, 1)
        y = relu(bn(y, p + "_branch2b_bn", planes), p + "_branch2b_relu")
        y = conv(y, p + "_branch2c", outc, planes, 1, 1, 0, gain=1 / np.sqrt(stages))
        y = bn(y, p + "_branch2c_bn", outc)
        sc = x
        if stride == 2:
            sc = g.node("AveragePool", [sc], [out(p + "_branch1_pool")], "", kernel_shape=[3, 3],
                        strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)
        sc = conv(sc, p + "_branch1", outc, inplanes, 1, 1, 0, gain=np.sqrt(0.5))
        sc = bn(sc, p + "_branch1_bn", outc)
        x = g.node("Sum", [y, sc], [out(p + "_branch2c_bn")], "")
        x = relu(x, p + "_relu")
        inplanes = outc
    fh, fw_ = (H + 3) // 4, (W + 3) // 4   # after stem; then /2 once (stage 2)
    fh, fw_ = (fh + 2 - 3) // 2 + 1, (fw_ + 2 - 3) // 2 + 1
    x = g.node("AveragePool", [x], [out("pool5")], "", kernel_shape=[fh, fw_], strides=[1, 1])
    shp = g.init("gpu_0/OC2_DUMMY_0", np.array([0, -1], dtype=np.int64))
    x = g.node("Reshape", [x, shp], [out("pool5_flat")], "")
    fcw, fcb = w.linear(num_classes, inplanes)
    g.init("gpu_0/pred_w_0", fcw)
    g.init("gpu_0/pred_b_0", fcb)
    x = g.node("Gemm", [x, "gpu_0/pred_w_0", "gpu_0/pred_b_0"], [out("pred")], "", transB=1)
    s3 = g.init("gpu_0/OC2_DUMMY_1", np.array([0, 2, num_classes // 2], dtype=np.int64))
    x = g.node("Reshape", [x, s3], [out("pred_view")], "")
    x = g.node("Softmax", [x], [out("softmax")], "", axis=1)
    s2 = g.init("gpu_0/OC2_DUMMY_2", np.array([0, num_classes], dtype=np.int64))
    g.node("Reshape", [x, s2], ["gpu_0/softmax_1"], "")
    inputs = [value_info("gpu_0/data_0", [1, 3, H, W])]
    outputs = [value_info("gpu_0/softmax_1", [1, num_classes])]
    model = make_model(g, inputs, outputs, opset=7, ir_version=3, producer="caffe2",
                       producer_version="", graph_name="resnet_caffe2",
                       initializers_as_inputs=True, inits_first=True)
    return model, {}


# --------------------------------------------------------------------------------------------
# A protobuf edge-case model: valid (checker + ORT) but using the corners of onnx.proto that a
# faithful ONNX -> ONNX round trip has to carry over unchanged.


def _meta(msg, pairs):
    for k, v in pairs:
        e = msg.metadata_props.add()
        e.key = k
        e.value = v
    return msg


def _vi(name, elem, dims, denotations=None, type_denotation=None, doc=None):
    """A ValueInfoProto; dims entries: int (dim_value), str (dim_param) or None (neither)."""
    vi = onnx.ValueInfoProto()
    vi.name = name
    tt = vi.type.tensor_type
    tt.elem_type = elem
    shape = tt.shape
    shape.SetInParent()
    for k, d in enumerate(dims):
        dim = shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        elif d is not None:
            dim.dim_value = d
        if denotations and denotations[k] is not None:
            dim.denotation = denotations[k]
    if type_denotation is not None:
        vi.type.denotation = type_denotation
    if doc is not None:
        vi.doc_string = doc
    return vi


def build_proto_edge_cases(seed, c=8, hw=(8, 8), num_classes=4):
    """A tiny residual block (Conv+BN+Relu, Conv+BN, Add, Relu) followed by nodes chosen for the
    protobuf features they use, not for what they compute: explicit-but-default fields,
    zero-element tensors, every tensor data field, many attribute types (incl. a GRAPH attribute
    of an `If`, ref_attr_name in a model-local function), omitted optional inputs and outputs,
    a sparse initializer, an extra operator set domain (ai.onnx.ml), metadata and doc strings
    on every level, value_info with dim_param / dim_value / unknown dims and denotations."""
    g = Graph()
    w = Weights(seed)
    H, W = hw

    def add(t):
        g.inits.append(t)
        g.init_names.add(t.name)
        return t.name

    def node(op, inputs, outputs, name, attrs=(), domain=None, doc=None, meta=()):
        n = helper.make_node(op, inputs, outputs, name=name or None, domain=domain)
        if name == "":
            n.name = ""   # explicitly present, empty
        n.attribute.extend(attrs)
        if doc is not None:
            n.doc_string = doc
        _meta(n, meta)
        g.nodes.append(n)
        return outputs[0] if len(outputs) == 1 else outputs

    A = helper.make_attribute

    # ---- initializers: raw_data with data_location explicitly DEFAULT, doc_string, metadata
    t = numpy_helper.from_array(w.conv(c, 3, 3, np.sqrt(0.5) * BN_GAIN_COMPENSATION), "conv1.weight")
    t.data_location = TensorProto.DEFAULT
    t.doc_string = "stem conv weight, raw_data, data_location explicitly DEFAULT"
    _meta(t, [("layout", "OIHW")])
    add(t)
    # BN parameters in float_data (typed fields)
    for pname in ("bn1", "bn2"):
        for s, a in zip((".weight", ".bias", ".running_mean", ".running_var"), w.bn(c)):
            add(helper.make_tensor(pname + s, TensorProto.FLOAT, a.shape, a.tolist()))
    add(numpy_helper.from_array(w.conv(c, c, 3, BN_GAIN_COMPENSATION / np.sqrt(2.0)), "conv2.weight"))
    # int64 in int64_data (negative values included)
    add(helper.make_tensor("pad.pads", TensorProto.INT64, [4], [1, 1, 1, 1]))
    add(helper.make_tensor("pad.axes", TensorProto.INT64, [2], [-2, -1]))
    fc_w, fc_b = w.linear(num_classes, c)
    add(numpy_helper.from_array(fc_w, "fc.weight"))
    add(numpy_helper.from_array(fc_b, "fc.bias"))
    # float16 in int32_data (make_tensor stores the bit patterns), used through Cast
    h = (w.rng.random(num_classes, dtype=F32) * F32(0.5) + F32(0.75)).astype(np.float16)
    add(helper.make_tensor("fp16.scale", TensorProto.FLOAT16, [num_classes],
                           h.astype(F32).tolist()))
    # int8 in int32_data, used through DequantizeLinear (scale float_data, zero point int8 scalar)
    add(helper.make_tensor("q.values", TensorProto.INT8, [num_classes], [-128, -1, 0, 127]))
    add(helper.make_tensor("q.scale", TensorProto.FLOAT, [], [0.0078125]))
    add(helper.make_tensor("q.zero_point", TensorProto.INT8, [], [-3]))
    # strings in string_data
    add(helper.make_tensor("labels.init", TensorProto.STRING, [2], [b"bird", b"fish"]))
    # zero-element tensors: one with no data field at all, one with raw_data present but empty
    t = TensorProto()
    t.name = "empty.nodata"
    t.data_type = TensorProto.FLOAT
    t.dims.append(0)
    add(t)
    t = TensorProto()
    t.name = "empty.raw"
    t.data_type = TensorProto.FLOAT
    t.dims.append(0)
    t.raw_data = b""
    add(t)
    # unused initializers: extreme int64, double_data, uint64_data, scalar with -0.0 / NaN bits
    add(helper.make_tensor("unused.int64", TensorProto.INT64, [3], [-(2 ** 63), 2 ** 63 - 1, 2 ** 53 + 1]))
    add(helper.make_tensor("unused.double", TensorProto.DOUBLE, [2], [-0.0, 1e300]))
    add(helper.make_tensor("unused.uint64", TensorProto.UINT64, [2], [0, 2 ** 64 - 1]))
    t = helper.make_tensor("unused.float", TensorProto.FLOAT, [3], [-0.0, float("inf"), float("nan")])
    t.segment.begin, t.segment.end = 0, 3
    add(t)

    # sparse initializer (unused, see below): dense [3, 3], 2-D [nnz, rank] indices
    sp = helper.make_sparse_tensor(
        helper.make_tensor("sparse.unused", TensorProto.FLOAT, [3], [1.5, -2.0, 0.75]),
        helper.make_tensor("sparse.unused_indices", TensorProto.INT64, [3, 2], [0, 1, 1, 0, 2, 2]),
        [3, 3])

    # ---- residual block
    x = node("Conv", ["input", "conv1.weight"], ["/conv1/Conv_output_0"], "/conv1/Conv",
             attrs=[A("strides", [1, 1]), A("pads", [1, 1, 1, 1]), A("kernel_shape", [3, 3]),
                    A("group", 1), A("dilations", [1, 1]),
                    A("auto_pad", "NOTSET", doc_string="attribute doc string")],
             doc="stem convolution", meta=[("source", "conv1")])
    x = node("BatchNormalization", [x, "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"],
             ["/bn1/BatchNormalization_output_0"], "/bn1/BatchNormalization",
             attrs=[A("epsilon", 1e-5), A("momentum", 0.9)])
    r1 = node("Relu", [x], ["/relu/Relu_output_0"], "", doc="")          # name and doc "" present
    y = node("Conv", [r1, "conv2.weight"], ["/conv2/Conv_output_0"], "/conv2/Conv",
             attrs=[A("dilations", [1, 1]), A("group", 1), A("kernel_shape", [3, 3]),
                    A("pads", [1, 1, 1, 1]), A("strides", [1, 1])])
    y = node("BatchNormalization", [y, "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var"],
             ["/bn2/BatchNormalization_output_0"], None, attrs=[A("epsilon", 1e-5)])  # name unset
    x = node("Add", [y, r1], ["/Add_output_0"], "/Add", domain="")       # domain "" present
    x = node("Relu", [x], ["/relu_1/Relu_output_0"], "/relu_1/Relu")

    # ---- omitted optional inputs: Clip(x, "", max), Pad(x, pads, "", axes)
    cmax = node("Constant", [], ["/clip/max"], "/clip/Constant",
                attrs=[A("value", numpy_helper.from_array(np.array(6.0, dtype=F32), ""))])
    x = node("Clip", [x, "", cmax], ["/clip/Clip_output_0"], "/clip/Clip")
    x = node("Pad", [x, "pad.pads", "", "pad.axes"], ["/pad/Pad_output_0"], "/pad/Pad",
             attrs=[A("mode", "constant")])
    # omitted optional trailing output (Dropout mask)
    x = node("Dropout", [x], ["/dropout/Dropout_output_0", ""], "/dropout/Dropout")[0]

    # ---- If with GRAPH attributes; the condition from a bool Constant
    cond = node("Constant", [], ["/if/cond"], "/if/Constant",
                attrs=[A("value", helper.make_tensor("", TensorProto.BOOL, [], [True]))])
    pad_shape = [1, c, H + 2, W + 2]
    then_g = helper.make_graph(
        [helper.make_node("Mul", [x, "then.scale"], ["then_out"], name="/if/then/Mul")],
        "then_branch", [], [value_info("then_out", pad_shape)],
        initializer=[helper.make_tensor("then.scale", TensorProto.FLOAT, [], [0.5])],
        doc_string="then branch: scales by an initializer of the subgraph")
    else_g = helper.make_graph(
        [helper.make_node("Identity", [x], ["else_out"], name="/if/else/Identity")],
        "else_branch", [], [value_info("else_out", pad_shape)])
    else_g.doc_string = ""
    x = node("If", [cond], ["/if/If_output_0"], "/if/If",
             attrs=[A("then_branch", then_g), A("else_branch", else_g)])

    # ---- model-local function call (domain resin.test), attribute passed by ref_attr_name
    # The call also passes the attribute types no standard op has (TENSORS, GRAPHS,
    # SPARSE_TENSORS, TYPE_PROTOS) to attributes the function declares but does not use.
    x = node("ScaledAdd", [x, x], ["/scaled_add/ScaledAdd_output_0"], "/scaled_add/ScaledAdd",
             attrs=[A("alpha", 0.5),
                    A("tensors", [helper.make_tensor("t0", TensorProto.FLOAT, [2], [1.0, -0.0]),
                                  helper.make_tensor("t1", TensorProto.INT64, [], [-7])]),
                    A("graphs", [helper.make_graph([], "empty_graph", [], [])]),
                    A("sparse_tensors", [helper.make_sparse_tensor(
                        helper.make_tensor("", TensorProto.FLOAT, [1], [3.0]),
                        helper.make_tensor("", TensorProto.INT64, [1], [2]), [4])]),
                    A("types", [helper.make_tensor_type_proto(TensorProto.FLOAT16, ["n", 2])])],
             domain="resin.test", meta=[("kind", "function call")])
    g.nodes[-1].overload = "v1"

    # ---- head
    x = node("GlobalAveragePool", [x], ["/avgpool/GlobalAveragePool_output_0"], "/avgpool/GlobalAveragePool")
    x = node("Flatten", [x], ["/Flatten_output_0"], "/Flatten", attrs=[A("axis", 1)])
    x = node("Gemm", [x, "fc.weight", "fc.bias"], ["/fc/Gemm_output_0"], "/fc/Gemm",
             attrs=[A("alpha", 1.0), A("beta", 1.0), A("transB", 1)])
    # SPARSE_TENSOR attribute (a graph's sparse_initializer is typed sparse_tensor by shape
    # inference, so no standard op may consume it: the sparse initializer above stays unused)
    sb = node("Constant", [], ["/sparse/Constant_output_0"], "/sparse/Constant",
              attrs=[A("sparse_value", helper.make_sparse_tensor(
                  helper.make_tensor("", TensorProto.FLOAT, [2], [0.25, -0.5]),
                  helper.make_tensor("", TensorProto.INT64, [2], [1, 3]), [num_classes]))])
    x = node("Add", [x, sb], ["/sparse/Add_output_0"], "/sparse/Add")
    s = node("Cast", ["fp16.scale"], ["/fp16/Cast_output_0"], "/fp16/Cast", attrs=[A("to", TensorProto.FLOAT)])
    x = node("Mul", [x, s], ["/fp16/Mul_output_0"], "/fp16/Mul")
    q = node("DequantizeLinear", ["q.values", "q.scale", "q.zero_point"], ["/q/DequantizeLinear_output_0"],
             "/q/DequantizeLinear")
    x = node("Add", [x, q], ["/q/Add_output_0"], "/q/Add")
    # strings: Constant value_strings (STRINGS) ++ string initializer -> ai.onnx.ml LabelEncoder
    cs = node("Constant", [], ["/labels/Constant_output_0"], "/labels/Constant",
              attrs=[A("value_strings", [b"cat", b"dog"])])
    cs = node("Concat", [cs, "labels.init"], ["/labels/Concat_output_0"], "/labels/Concat",
              attrs=[A("axis", 0)])
    le = node("LabelEncoder", [cs], ["/labels/LabelEncoder_output_0"], "/labels/LabelEncoder",
              attrs=[A("keys_strings", [b"bird", b"cat", b"dog", b"fish"]),
                     A("values_floats", [0.125, -0.25, 0.375, -0.5]),
                     A("default_float", -0.0)], domain="ai.onnx.ml")
    le = node("Concat", [le, "empty.nodata", "empty.raw"], ["/empty/Concat_output_0"], "/empty/Concat",
              attrs=[A("axis", 0)])
    x = node("Add", [x, le], ["/labels/Add_output_0"], "/labels/Add")
    # TYPE_PROTO attribute: an empty optional; Where(has_element = false, ...) selects x
    opt = node("Optional", [], ["/opt/Optional_output_0"], "/opt/Optional",
               attrs=[A("type", helper.make_tensor_type_proto(TensorProto.FLOAT, None))])
    has = node("OptionalHasElement", [opt], ["/opt/OptionalHasElement_output_0"], "/opt/OptionalHasElement")
    node("Where", [has, le, x], ["logits"], "/opt/Where")

    # ---- the function
    fn = helper.make_function(
        "resin.test", "ScaledAdd", ["A", "B"], ["C"],
        [helper.make_node("Constant", [], ["alpha_t"], name="alpha_const"),
         helper.make_node("Mul", ["B", "alpha_t"], ["B_scaled"]),
         helper.make_node("Add", ["A", "B_scaled"], ["C"])],
        [helper.make_opsetid("", 21)], attributes=["tensors", "graphs", "sparse_tensors", "types"],
        attribute_protos=[A("alpha", 1.0),
                          A("unused_ints", [], attr_type=onnx.AttributeProto.INTS)],
        doc_string="C = A + alpha * B")
    fn.overload = "v1"
    ref = fn.node[0].attribute.add()
    ref.name = "value_float"
    ref.ref_attr_name = "alpha"
    ref.type = onnx.AttributeProto.FLOAT
    fn.value_info.append(value_info("B_scaled", pad_shape))
    _meta(fn, [("origin", "hand written")])

    # ---- graph and model
    inputs = [_meta(_vi("input", TensorProto.FLOAT, [1, 3, H, W],
                        ["DATA_BATCH", "DATA_CHANNEL", "DATA_FEATURE", "DATA_FEATURE"], "IMAGE",
                        doc="NCHW image"), [("color", "RGB")])]
    outputs = [_vi("logits", TensorProto.FLOAT, ["batch", num_classes], ["DATA_BATCH", None])]
    vis = [_vi("/relu/Relu_output_0", TensorProto.FLOAT, [1, "channels", None, W],
               [None, "DATA_CHANNEL", None, None], "TENSOR"),
           _meta(_vi("/if/If_output_0", TensorProto.FLOAT, [None, c, None, None]), [("note", "unknown dims")]),
           _vi("/labels/Concat_output_0", TensorProto.STRING, [4])]
    graph = helper.make_graph(g.nodes, "proto_edge_cases", inputs, outputs, initializer=g.inits,
                              value_info=vis, sparse_initializer=[sp])
    graph.doc_string = ""
    _meta(graph, [("graph.key", "graph value"), ("empty", "")])
    qa = graph.quantization_annotation.add()
    qa.tensor_name = "q.values"
    e = qa.quant_parameter_tensor_names.add()
    e.key, e.value = "SCALE_TENSOR", "q.scale"
    e = qa.quant_parameter_tensor_names.add()
    e.key, e.value = "ZERO_POINT_TENSOR", "q.zero_point"
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 3),
                              helper.make_opsetid("resin.test", 1)],
        producer_name="resin-fixtures", producer_version="0.0.1", domain="org.resin.fixtures",
        model_version=7, doc_string="protobuf edge cases for the ONNX round trip",
        functions=[fn])
    model.ir_version = 11    # 10: metadata_props on graph/node/value_info/function, overload; 11: configuration
    cfg = model.configuration.add()
    cfg.name = "two_cpus"
    cfg.num_devices = 2
    cfg.device.extend(["cpu:0", "cpu:1"])
    dc = g.nodes[0].device_configurations.add()
    dc.configuration_id = "two_cpus"
    dc.pipeline_stage = 0
    ss = dc.sharding_spec.add()
    ss.tensor_name = "conv1.weight"
    ss.device.extend([0, 1])
    sd = ss.sharded_dim.add()
    sd.axis = 0
    sd.simple_sharding.add(dim_value=c, num_shards=2)
    ti = model.training_info.add()
    ti.initialization.CopyFrom(helper.make_graph([], "training_init", [], []))
    ti.algorithm.CopyFrom(helper.make_graph([], "training_step", [], []))
    _meta(model, [("author", "tools/gen_fixtures.py"), ("empty_value", "")])
    return model, {}


# --------------------------------------------------------------------------------------------
# Fixture and full-model catalogues

SMALL = dict(base_width=8, num_classes=10)

FIXTURES = {
    "resnet-basic-v1.5": dict(
        spec=Spec(block="basic", layers=(2, 1, 1, 1), variant="v1.5", height=64, width=64, seed=101, **SMALL),
        family="resnet basic block (ResNet-18/34 style), 4 stages", quirks=[]),
    "resnet-bottleneck-v1": dict(
        spec=Spec(block="bottleneck", layers=(1, 1, 1, 1), variant="v1", height=40, width=40, seed=102, **SMALL),
        family="resnet bottleneck v1 (stride on the first 1x1)",
        quirks=["odd feature-map sizes (40 -> 20 -> 10 -> 10 -> 5 -> 3 -> 2)"]),
    "resnet-bottleneck-v1.5": dict(
        spec=Spec(block="bottleneck", layers=(2, 1, 1, 1), variant="v1.5", height=64, width=64, seed=103, **SMALL),
        family="resnet bottleneck v1.5 (stride on the 3x3)", quirks=[]),
    "resnet-preact-v2": dict(
        spec=Spec(block="bottleneck", layers=(2, 1, 1), variant="v2", height=32, width=32, seed=104, **SMALL),
        family="pre-activation resnet v2, bottleneck",
        quirks=["BN+Relu before convs: BN after Add/MaxPool has no conv to fold into",
                "projection shortcut is a bare 1x1 conv on the pre-activated input",
                "final BN (`norm`) + Relu before pooling"]),
    "resnext": dict(
        spec=Spec(block="bottleneck", layers=(1, 1, 1, 1), variant="v1.5", groups=4, width_per_group=4,
                  height=64, width=64, seed=105, **SMALL),
        family="ResNeXt bottleneck, grouped 3x3 conv (groups 4, width = 2 x planes)",
        quirks=["Conv group=4"]),
    "wide-resnet": dict(
        spec=Spec(block="bottleneck", layers=(1, 1, 1), variant="v1.5", width_per_group=16,
                  height=48, width=64, seed=106, **SMALL),
        family="Wide ResNet bottleneck, width multiplier 2",
        quirks=["non-square input 48x64"]),
    "quirk-shape-chain-flatten": dict(
        spec=Spec(block="basic", layers=(1, 1, 1), height=32, width=32, seed=107, opset=9, ir_version=6,
                  producer_version="1.8.0", naming="legacy", flatten="shape_chain", **SMALL),
        family="resnet basic, old PyTorch exporter",
        quirks=["flatten as Shape -> Gather(Constant 0) -> Unsqueeze(axes attribute) -> "
                "Concat(Constant [-1]) -> Reshape", "Constant nodes", "legacy names: nodes `Conv_0`, "
                "tensors numeric strings like `101`", "opset 9 (MaxPool without ceil_mode, BN-9)"]),
    "quirk-matmul-add": dict(
        spec=Spec(block="basic", layers=(1, 1, 1), height=32, width=32, seed=108, head="matmul_add", **SMALL),
        family="resnet basic", quirks=["classifier as MatMul (pre-transposed weight `onnx::MatMul_*`, "
                                       "[in, classes]) + Add instead of Gemm"]),
    "quirk-reducemean": dict(
        spec=Spec(block="basic", layers=(1, 1, 1), height=32, width=32, seed=109, pool="reducemean", **SMALL),
        family="resnet basic", quirks=["ReduceMean(axes=[2,3] attribute, keepdims=1) + Flatten "
                                       "instead of GlobalAveragePool"]),
    "quirk-reducemean-opset18": dict(
        spec=Spec(block="basic", layers=(1, 1, 1), height=32, width=32, seed=110, pool="reducemean",
                  flatten="reshape_const", opset=18, **SMALL),
        family="resnet basic", quirks=["opset 18: ReduceMean with axes as an input (Constant node "
                                       "[2,3]), keepdims=1", "Reshape with Constant shape [0, -1]"]),
    "quirk-sum": dict(
        spec=Spec(block="bottleneck", layers=(1, 1), height=32, width=32, seed=111, residual="sum", **SMALL),
        family="resnet bottleneck v1.5", quirks=["residual written as Sum of two instead of Add"]),
    "quirk-ir3-initializers-as-inputs": dict(
        spec=Spec(block="basic", layers=(1, 1, 1), height=32, width=32, seed=112, opset=8, ir_version=3,
                  producer_version="0.4.1", naming="legacy", initializers_as_inputs=True, **SMALL),
        family="resnet basic, very old exporter",
        quirks=["ir_version 3", "opset 8: BatchNormalization-7 (epsilon, momentum; no spatial/is_test), "
                "MaxPool-8 without ceil_mode, Gemm-7", "every initializer also listed in graph.input "
                "(after `input`)", "legacy names"]),
    "quirk-float-data": dict(
        spec=Spec(block="basic", layers=(1, 1, 1), height=32, width=32, seed=113, typed_data=True,
                  flatten="reshape_const", **SMALL),
        family="resnet basic", quirks=["initializers in float_data / int64_data (no raw_data)",
                                       "Reshape with int64 initializer [0, -1] instead of Flatten"]),
    "quirk-symbolic-batch": dict(
        spec=Spec(block="basic", layers=(1, 1, 1), height=32, width=32, seed=114, symbolic_batch=True, **SMALL),
        family="resnet basic", batch=2,
        quirks=["input [N,3,32,32], output [N,10] with dim_param N", "reference data at batch 2"]),
    "quirk-external-data": dict(
        spec=Spec(block="basic", layers=(1, 1, 1), height=32, width=32, seed=115, **SMALL),
        family="resnet basic", external=True,
        quirks=["all initializers in external file weights.bin (all_tensors_to_one_file, "
                "size_threshold 0): the model file holds no tensor data"]),
    "quirk-dropout-identity": dict(
        spec=Spec(block="basic", layers=(1, 1, 1), height=32, width=32, seed=116, extras=True,
                  output_name="probs", **SMALL),
        family="resnet basic",
        quirks=["stem activation is Clip(min=0, max=6 as Constant-node inputs) = Relu6",
                "Identity after MaxPool and after Flatten", "Dropout-13 with ratio input, inference",
                "Softmax(axis=1) at the end; output named `probs`"]),
    "tf-style-nhwc": dict(
        builder=build_tf_style, seed=117,
        family="Keras ResNet v1 bottleneck via tf2onnx",
        quirks=["NHWC input `input_1` [1,32,32,3] + Transpose(perm 0,3,1,2)",
                "explicit Pad (pads as int64 initializer input, mode constant) before VALID conv/maxpool",
                "Conv auto_pad VALID / SAME_UPPER, conv with bias", "BN epsilon 1.001e-5, no momentum",
                "head: Transpose to NHWC, ReduceMean(axes [1,2], keepdims 0), MatMul + Add, Softmax",
                "tensor names with `/` and `:0`", "output `predictions`", "ir_version 7"]),
    "caffe2-style": dict(
        builder=build_caffe2_style, seed=118,
        family="small bottleneck ResNet as Caffe2 exported",
        quirks=["ir_version 3, opset 7", "initializers listed in graph.input BEFORE the data input",
                "empty node names", "BatchNormalization-7 with spatial=1", "MaxPool pads [0,0,1,1] (asymmetric)",
                "LRN", "Sum residual", "AveragePool k3 s2 p1 count_include_pad=1 in the shortcut",
                "global pooling as AveragePool with kernel = feature map", "Reshape [0,-1]",
                "Gemm-7", "Softmax-1 (axis=1 coerces to 2-D) on a [N,2,5] view, reshaped back to [N,10]",
                "output `gpu_0/softmax_1`"]),
    "quirk-proto-edge-cases": dict(
        builder=build_proto_edge_cases, seed=119,
        family="tiny residual block + nodes exercising onnx.proto corners (round-trip fidelity)",
        quirks=["ir_version 11, opset 21 + ai.onnx.ml 3 (LabelEncoder) + resin.test 1 (model-local "
                "function ScaledAdd with overload `v1`, attribute default, ref_attr_name)",
                "producer, domain, model_version, doc_string, model/graph/node/value_info/tensor/"
                "function metadata_props (incl. an empty value)",
                "doc_string explicitly \"\" on the graph, the else branch and a node; node name explicitly "
                "\"\" and unset; node domain explicitly \"\"",
                "initializers: raw_data with data_location explicitly DEFAULT, float_data, int64_data, "
                "float16 and int8 in int32_data, string_data, double_data, uint64_data, segment, "
                "-0.0/inf/NaN, int64 extremes; zero-element [0] without any data field and with empty "
                "raw_data present; unused initializers; an unused sparse_initializer (2-D indices)",
                "attributes of every type: FLOAT, INT, STRING (with doc_string), TENSOR, GRAPH (If), "
                "SPARSE_TENSOR (Constant sparse_value), TYPE_PROTO (Optional), FLOATS, INTS, STRINGS, "
                "TENSORS, GRAPHS, SPARSE_TENSORS, TYPE_PROTOS (on the function call), empty INTS; "
                "attributes in non-sorted order; default_float -0.0",
                "omitted optional inputs Clip(x, \"\", max) and Pad(x, pads, \"\", axes); omitted "
                "trailing Dropout mask output \"\"",
                "If on a Constant condition; then branch with its own initializer",
                "value_info with dim_value / dim_param / unknown dims, dim and type denotations; "
                "output [batch, 4] with dim_param",
                "quantization_annotation, training_info (empty graphs), configuration and node "
                "device_configurations (sharding spec)"]),
}

FULL = {
    "resnet18": Spec(block="basic", layers=(2, 2, 2, 2), seed=1018),
    "resnet34": Spec(block="basic", layers=(3, 4, 6, 3), seed=1034),
    "resnet50": Spec(block="bottleneck", layers=(3, 4, 6, 3), variant="v1.5", seed=1050),
    "resnet50-v1": Spec(block="bottleneck", layers=(3, 4, 6, 3), variant="v1", seed=1051),
    "resnet50-v2": Spec(block="bottleneck", layers=(3, 4, 6, 3), variant="v2", seed=1052),
    "resnet101": Spec(block="bottleneck", layers=(3, 4, 23, 3), seed=1101),
    "resnet152": Spec(block="bottleneck", layers=(3, 8, 36, 3), seed=1152),
    "resnext50_32x4d": Spec(block="bottleneck", layers=(3, 4, 6, 3), groups=32, width_per_group=4, seed=1200),
    "wide_resnet50_2": Spec(block="bottleneck", layers=(3, 4, 6, 3), width_per_group=128, seed=1300),
}


# --------------------------------------------------------------------------------------------
# Writing test cases


def ort_session(path, threads=1):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def count_params(model):
    """(all initializer elements, elements of BN running mean/var initializers)."""
    stats = {name for n in model.graph.node if n.op_type == "BatchNormalization" for name in n.input[3:5]}
    total = 0
    running = 0
    for t in model.graph.initializer:
        n = int(np.prod(t.dims)) if len(t.dims) else 1
        total += n
        if t.name in stats:
            running += n
    return total, running


def graph_io(model):
    init = {t.name for t in model.graph.initializer}
    ins = [i for i in model.graph.input if i.name not in init]
    return ins, list(model.graph.output)


def dims_of(vi, batch):
    out = []
    for d in vi.type.tensor_type.shape.dim:
        out.append(d.dim_value if d.HasField("dim_value") else (batch if d.dim_param else 1))
    return out


def write_case(model, outdir, *, seed, batch=1, external=False, meta=None, threads=1):
    """Writes model + reference data into outdir atomically (via a temporary sibling folder)."""
    parent = os.path.dirname(os.path.abspath(outdir))
    os.makedirs(parent, exist_ok=True)
    tmp = outdir.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "test_data_set_0"))
    path = os.path.join(tmp, "model.onnx")
    if external:
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location="weights.bin", size_threshold=0)
    else:
        onnx.save_model(model, path)
    onnx.checker.check_model(path, full_check=True)

    rng = np.random.default_rng(seed + 7919)
    ins, outs = graph_io(model)
    feeds = {}
    for k, vi in enumerate(ins):
        shape = dims_of(vi, batch)
        arr = rng.standard_normal(shape, dtype=F32)
        feeds[vi.name] = arr
        with open(os.path.join(tmp, "test_data_set_0", f"input_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(arr, vi.name).SerializeToString())
    sess = ort_session(path, threads)
    results = sess.run([o.name for o in outs], feeds)
    summary = []
    for k, (vi, arr) in enumerate(zip(outs, results)):
        with open(os.path.join(tmp, "test_data_set_0", f"output_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(arr, vi.name).SerializeToString())
        summary.append(dict(name=vi.name, shape=list(arr.shape), mean=float(arr.mean()),
                            std=float(arr.std()), absmax=float(np.abs(arr).max())))
    if meta is not None:
        meta = dict(meta)
        meta["reference_outputs"] = [
            dict(s, mean=round(s["mean"], 6), std=round(s["std"], 6), absmax=round(s["absmax"], 6))
            for s in summary]
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump(meta, f, indent=2, sort_keys=True)
            f.write("\n")
    shutil.rmtree(outdir, ignore_errors=True)
    os.rename(tmp, outdir)
    return summary


def describe(model, name, family, quirks, batch, external, spec=None):
    ins, outs = graph_io(model)

    def shape(vi):
        return [d.dim_param if d.dim_param else d.dim_value for d in vi.type.tensor_type.shape.dim]

    ops = sorted({n.op_type for n in model.graph.node})
    total, running = count_params(model)
    meta = dict(
        name=name, family=family, quirks=quirks,
        ir_version=model.ir_version, opset=model.opset_import[0].version,
        producer=f"{model.producer_name} {model.producer_version}".strip(),
        inputs=[dict(name=i.name, shape=shape(i)) for i in ins],
        outputs=[dict(name=o.name, shape=shape(o)) for o in outs],
        reference_batch=batch, external_data=bool(external), ops=ops,
        nodes=len(model.graph.node), initializers=len(model.graph.initializer),
        parameters=total, parameters_without_bn_running_stats=total - running,
        generator="tools/gen_fixtures.py",
    )
    if spec is not None:
        meta["spec"] = {k: (list(v) if isinstance(v, tuple) else v)
                        for k, v in dataclasses.asdict(spec).items() if k not in ("quirks",)}
    return meta


def gen_fixture(name, out_root):
    entry = FIXTURES[name]
    spec = entry.get("spec")
    if spec is not None:
        model, _ = build_resnet(spec)
        seed = spec.seed
    else:
        seed = entry["seed"]
        model, _ = entry["builder"](seed=seed)
    batch = entry.get("batch", 1)
    external = entry.get("external", False)
    meta = describe(model, name, entry["family"], entry["quirks"], batch, external, spec)
    outdir = os.path.join(out_root, name)
    summary = write_case(model, outdir, seed=seed, batch=batch, external=external, meta=meta)
    return outdir, summary


def dir_size(path):
    return sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(path) for f in fs)


def cmd_fixtures(args):
    names = args.names or list(FIXTURES)
    unknown = [n for n in names if n not in FIXTURES]
    if unknown:
        sys.exit(f"unknown fixture(s): {', '.join(unknown)}; known: {', '.join(FIXTURES)}")
    out_root = os.path.abspath(args.out or os.path.join(REPO_ROOT, "Fixtures"))
    total = 0
    for name in names:
        t0 = time.perf_counter()
        outdir, summary = gen_fixture(name, out_root)
        size = dir_size(outdir)
        total += size
        o = summary[0]
        print(f"{name:34s} {size / 1024:8.1f} KiB  {time.perf_counter() - t0:5.2f}s  "
              f"out {o['name']} {o['shape']} std {o['std']:.3f} absmax {o['absmax']:.3f}")
    print(f"total {total / 1024:.1f} KiB in {out_root}")


def script_digest():
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def cmd_full(args):
    unknown = [n for n in args.names if n not in FULL]
    if unknown:
        sys.exit(f"unknown model(s): {', '.join(unknown)}; known: {', '.join(FULL)}")
    out_root = os.path.abspath(args.out or os.path.join(REPO_ROOT, ".generated", "full"))
    for name in args.names:
        outdir = os.path.join(out_root, name)
        stamp_path = os.path.join(outdir, ".stamp.json")
        stamp = dict(name=name, batch=args.batch, symbolic_batch=bool(args.symbolic_batch),
                     generator_sha256=script_digest())
        if not args.force and os.path.exists(stamp_path) and os.path.exists(os.path.join(outdir, "model.onnx")):
            try:
                with open(stamp_path) as f:
                    if json.load(f) == stamp:
                        print(f"{name}: up to date ({outdir})")
                        continue
            except (OSError, ValueError):
                pass
        t0 = time.perf_counter()
        # Without --symbolic-batch the graph declares the fixed batch --batch.
        spec = dataclasses.replace(FULL[name], symbolic_batch=bool(args.symbolic_batch), batch=args.batch)
        model, info = build_resnet(spec)
        t_build = time.perf_counter() - t0
        total, running = count_params(model)
        meta = describe(model, name, f"full-size {name}", [], args.batch, False, spec)
        write_case(model, outdir, seed=spec.seed, batch=args.batch, meta=meta, threads=0)
        with open(stamp_path, "w") as f:
            json.dump(stamp, f, indent=2, sort_keys=True)
        dt = time.perf_counter() - t0
        print(f"{name}: {total:,} initializer parameters ({total - running:,} without BN running "
              f"mean/var), {info['convs']} Conv, {info['batchnorms']} BatchNormalization, "
              f"{os.path.getsize(os.path.join(outdir, 'model.onnx')) / 2**20:.1f} MiB; "
              f"build {t_build:.2f}s, total {dt:.2f}s (incl. checker + ORT at batch {args.batch}) -> {outdir}")


def cmd_list(_args):
    for name, e in FIXTURES.items():
        print(f"fixture {name:34s} {e['family']}")
    for name in FULL:
        print(f"full    {name}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("fixtures", help="regenerate the small committed fixtures")
    p.add_argument("names", nargs="*", help="subset of fixtures (default: all)")
    p.add_argument("--out", help="output root (default: <repo>/Fixtures)")
    p.set_defaults(func=cmd_fixtures)
    p = sub.add_parser("full", help="full-size 224x224, 1000-class models")
    p.add_argument("names", nargs="+", metavar="NAME", help=", ".join(FULL))
    p.add_argument("--out", help="output root (default: <repo>/.generated/full)")
    p.add_argument("--batch", type=int, default=1, help="batch of the reference run (default 1)")
    p.add_argument("--symbolic-batch", action="store_true", help="input/output batch dim_param 'N'")
    p.add_argument("--force", action="store_true", help="regenerate even if the stamp matches")
    p.set_defaults(func=cmd_full)
    p = sub.add_parser("list", help="list fixture and full-model names")
    p.set_defaults(func=cmd_list)
    args = ap.parse_args()
    if getattr(args, "batch", 1) < 1:
        ap.error("--batch must be >= 1")
    args.func(args)


if __name__ == "__main__":
    main()

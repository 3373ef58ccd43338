#!/usr/bin/env python3
"""Checks Resin's graph optimizer on ONNX test-case folders.

Invocation (the script re-executes itself with the pinned venv python from tools/venv.sh,
so both forms are equivalent):

    "$(tools/venv.sh)" tools/check_optimized.py --resin PATH_TO_RESIN [--light-tolerance] DIR...
    python3 tools/check_optimized.py --resin .build/release/resin --light-tolerance \
        Fixtures/resnext .generated/full/*/ .generated/light/*/

Each DIR is a test-case folder: model.onnx (+ external data) and test_data_set_*/{input,output}_*.pb
(a DIR without model.onnx whose sub-folders have one, like Fixtures/, is expanded to them).
For each:
  (1) `RESIN convert --optimize DIR/model.onnx TMP/opt.onnx` succeeds; onnx.checker.check_model
      (path form, full_check=True) accepts TMP/opt.onnx; it uses no operator domain, in its nodes
      or its opset_import, that the original does not use, apart from the default one; its graph
      inputs (those that are not initializers) and outputs have the original's names.
  (2) ONNX Runtime (CPUExecutionProvider, graph optimizations disabled, so that only Resin's
      rewrites are compared) runs the original and TMP/opt.onnx on every test_data_set's inputs;
      every output must agree within rtol 1e-4, atol 1e-4: |opt - orig| <= atol + rtol * |orig|,
      NaN only matching NaN. Inputs are bound by the .pb tensor names when they all name graph
      inputs, else by order over the graph inputs that are not initializers (the light models'
      .pb files have no names).
  (3) `RESIN verify DIR --rtol 1e-4 --atol 1e-4` (optimizes by default) and the same with
      --no-optimize both pass. With --light-tolerance, a folder made by
      tools/conformance/light_models.py (it holds prepared.json) is verified with the rtol and
      atol recorded there, the tolerances onnx's own test loader gives that model.
  (4) `RESIN inspect --optimize --json DIR/model.onnx` (`operators` = the graph as it will run):
      - `fusions` holds batchNormFolded, residualAddFused, activationFused, constantsFolded,
        nodesRemoved and nodeCountBefore as non-negative integers; nodeCountBefore is the
        original's node count, nodeCount is the sum of `operators` (and equals
        fusions.nodeCountAfter when that is given);
      - BatchNormalization folding: a BN whose input is produced by a Conv or Gemm must be gone
        (operators' BatchNormalization <= the BNs fed by anything else, as in the pre-activation
        v2, where such BNs may remain or become another per-channel operator) and
        batchNormFolded >= the number of conv-fed BNs;
      - residual Adds: a residual is an Add (or a Sum of two) with an input produced by a Conv, or
        by a BatchNormalization fed by a Conv, whose output (each one on that path) has no other
        consumer. For the v1 / v1.5 ResNet family (folder name says resnet, resnext or wide, or
        meta.json's family says ResNet, and neither says resnet...v2 / pre-activation) their count must
        equal fusions.residualAddFused, and operators' Add + Sum must not exceed the original's
        other Adds and Sums (so none of the residual ones remains). The count is also held to
        the known figures of the torchvision depths (resnet18: 8, resnet34: 16, resnet50 and its
        variants: 16, resnet101: 33, resnet152: 50). Other models only report it;
      - when every graph input has a fixed shape: no Shape, Size, Identity, Dropout,
        ConstantOfShape or Constant remains, and Gather, Unsqueeze and Concat remain only as
        often as the original has them on data (a node whose inputs are all initializers,
        constants or shape values is computable at load time and must be folded). For the light
        models that leaves DenseNet's, Inception's and SqueezeNet's real Concats alone and requires
        the ConstantOfShape nodes that build their weights to be gone.
Prints one PASS/FAIL line per model with the reasons, node counts before/after and the fusion
counts, then `N passed, M failed`; exit status 1 if any failed.
"""
import os
import sys


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from toolenv import ensure_venv  # noqa: E402

ensure_venv(__file__)

from ortsupport import case_file_index as _index, compare_sessions  # noqa: E402
from checksupport import (default_domain as _default_domain, describe_exit, display_name, expand,  # noqa: E402
                          first_line as _first_line, run_resin)

import argparse  # noqa: E402
import collections  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402

RTOL = 1e-4
ATOL = 1e-4
FUSION_KEYS = ("batchNormFolded", "residualAddFused", "activationFused", "constantsFolded",
               "nodesRemoved", "nodeCountBefore")
# With fixed input shapes these never need to run: they are removed or computed at load time.
ALWAYS_GONE = ("Shape", "Size", "Identity", "Dropout", "ConstantOfShape", "Constant")
# These may be real data operators; only their instances on constants / shape values must go.
GONE_ON_CONSTANTS = ("Gather", "Unsqueeze", "Concat")
# Residual Adds of the torchvision depths (every bottleneck or basic block has one).
KNOWN_RESIDUALS = (("resnet18", 8), ("resnet34", 16), ("resnet50", 16), ("resnet101", 33),
                   ("resnet152", 50), ("resnext50", 16), ("wide_resnet50", 16))


# --------------------------------------------------------------------------------------------
# Figures from the original graph


class GraphFacts:
    """What the checks need to know about the original model, from the onnx package alone."""

    def __init__(self, model, name, meta):
        g = model.graph
        self.nodes = len(g.node)
        self.ops = collections.Counter(n.op_type for n in g.node if _default_domain(n.domain))
        initializers = {t.name for t in g.initializer} | {t.values.name for t in g.sparse_initializer}
        self.data_inputs = [v for v in g.input if v.name not in initializers]
        self.output_names = [v.name for v in g.output]
        self.fixed_shapes = all(
            v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape")
            and all(d.HasField("dim_value") for d in v.type.tensor_type.shape.dim)
            for v in self.data_inputs)
        self.opset_domains = {"" if _default_domain(o.domain) else o.domain for o in model.opset_import}
        self.node_domains = {"" if _default_domain(n.domain) else n.domain for n in g.node}

        producer = {}
        consumers = collections.defaultdict(int)
        for n in g.node:
            for o in n.output:
                if o:
                    producer[o] = n
            for i in n.input:
                if i:
                    consumers[i] += 1
        graph_outputs = set(self.output_names)

        def sole_use(t):
            return consumers[t] == 1 and t not in graph_outputs

        def conv_fed(t):
            p = producer.get(t)
            if p is None or not _default_domain(p.domain) or not sole_use(t):
                return False
            if p.op_type == "Conv":
                return True
            if p.op_type == "BatchNormalization":
                q = producer.get(p.input[0])
                return q is not None and q.op_type == "Conv" and _default_domain(q.domain) \
                    and sole_use(p.input[0])
            return False

        adds = [n for n in g.node if _default_domain(n.domain)
                and (n.op_type == "Add" or (n.op_type == "Sum" and len(n.input) == 2))]
        self.residuals = sum(1 for n in adds if any(conv_fed(i) for i in n.input if i))
        self.adds_and_sums = self.ops.get("Add", 0) + self.ops.get("Sum", 0)

        def fed_by_conv_or_gemm(n):
            p = producer.get(n.input[0]) if n.input else None
            return p is not None and _default_domain(p.domain) and p.op_type in ("Conv", "Gemm")

        bns = [n for n in g.node if _default_domain(n.domain) and n.op_type == "BatchNormalization"]
        self.bn_total = len(bns)
        self.bn_foldable = sum(1 for n in bns if fed_by_conv_or_gemm(n))

        # Tensors computable at load time when the input shapes are fixed: initializers, Constant
        # outputs, shape values, and what is computed from those alone. Initializers listed in
        # graph.input (IR < 4) count as constants, as Resin and the exporters that wrote them treat
        # them.
        static = set(initializers)
        self.data_ops = collections.Counter()
        for n in g.node:  # onnx requires topological order
            if not _default_domain(n.domain):
                continue
            has_subgraph = any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                               for a in n.attribute)
            inputs = [i for i in n.input if i]
            if n.op_type in ("Constant", "Shape", "Size") or (
                    not has_subgraph and not n.op_type.startswith("Random")
                    and all(i in static for i in inputs)):
                static.update(o for o in n.output if o)
            else:
                self.data_ops[n.op_type] += 1

        self.name = name
        family = str(meta.get("family", "")) if isinstance(meta, dict) else ""
        text = f"{name} {family}".lower()
        self.v2 = bool(re.search(r"(resnet|resnext)\S*v2|pre-?act", text))
        self.resnet_family = bool(re.search(r"resnet|resnext|wide", text)) and not self.v2
        self.known_residuals = None
        if not self.v2:
            for key, count in KNOWN_RESIDUALS:
                if re.search(rf"(^|[^0-9a-z]){key}([^0-9]|$)", name.lower()):
                    self.known_residuals = count
                    break


# --------------------------------------------------------------------------------------------
# ONNX Runtime


def load_data_sets(case_dir):
    sets = []
    for ds in sorted(glob.glob(os.path.join(case_dir, "test_data_set_*")), key=_index):
        ins = [onnx.load_tensor(p) for p in sorted(glob.glob(os.path.join(ds, "input_*.pb")), key=_index)]
        sets.append((os.path.basename(ds), ins))
    return sets


def bind(inputs, data_input_names):
    """{graph input name: array}: by the tensors' names when they all name a graph input that is
    not an initializer, else by order over those inputs."""
    names = [t.name for t in inputs]
    if names and all(n in data_input_names for n in names) and len(set(names)) == len(names):
        return {t.name: numpy_helper.to_array(t) for t in inputs}
    if len(inputs) > len(data_input_names):
        raise ValueError(f"{len(inputs)} input files for {len(data_input_names)} graph inputs")
    return {data_input_names[k]: numpy_helper.to_array(t) for k, t in enumerate(inputs)}


# --------------------------------------------------------------------------------------------
# Running resin


# --------------------------------------------------------------------------------------------
# The checks


def check_converted(facts, out, reasons):
    """(1) beyond the exit code: checker, domains, interface names."""
    try:
        onnx.checker.check_model(out, full_check=True)
    except Exception as e:  # ValidationError, InferenceError and others
        reasons.append("checker: " + _first_line(e))
    try:
        opt = onnx.load(out, load_external_data=False)
    except Exception as e:
        reasons.append(f"onnx cannot load the optimized file: {_first_line(e)}")
        return None
    opset_domains = {"" if _default_domain(o.domain) else o.domain for o in opt.opset_import}
    extra = sorted(opset_domains - facts.opset_domains - {""})
    if extra:
        reasons.append(f"opset_import has domain(s) the original does not: {extra}")
    node_domains = collections.Counter(n.domain for n in opt.graph.node
                                       if not _default_domain(n.domain) and n.domain not in facts.node_domains)
    if node_domains:
        reasons.append("nodes in domain(s) the original does not use: "
                       + ", ".join(f"{d} ({c})" for d, c in sorted(node_domains.items())))
    initializers = {t.name for t in opt.graph.initializer}
    ins = [v.name for v in opt.graph.input if v.name not in initializers]
    outs = [v.name for v in opt.graph.output]
    want_ins = [v.name for v in facts.data_inputs]
    if sorted(ins) != sorted(want_ins):
        reasons.append(f"graph inputs {ins}, original {want_ins}")
    if outs != facts.output_names:
        reasons.append(f"graph outputs {outs}, original {facts.output_names}")
    return opt


def check_ort(case_dir, model, out, facts, threads, reasons):
    """(2) ONNX Runtime on the original and on the optimized file. Returns the worst difference."""
    sets = load_data_sets(case_dir)
    if not sets:
        reasons.append("no test_data_set_* folder")
        return None
    names = [v.name for v in facts.data_inputs]
    feed_sets = []
    for ds, ins in sets:
        try:
            feed_sets.append((ds, bind(ins, names)))
        except ValueError as e:
            reasons.append(f"{ds}: {e}")
    worst = compare_sessions(model, out, "the optimized file", "optimized", facts.output_names, feed_sets, RTOL, ATOL,
                             threads, reasons)
    if worst is None:
        return None
    return worst, len(sets)


def light_tolerance(case_dir):
    """(rtol, atol) recorded by tools/conformance/light_models.py, or None."""
    try:
        with open(os.path.join(case_dir, "prepared.json"), encoding="utf-8") as f:
            stamp = json.load(f)
        return float(stamp["rtol"]), float(stamp["atol"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_inspect(report, facts, reasons):
    """(4) on `inspect --optimize --json`; returns the summary text."""
    fusions = report.get("fusions")
    operators = report.get("operators")
    if not isinstance(operators, dict):
        reasons.append("inspect: no `operators` object")
        operators = {}
    if not isinstance(fusions, dict):
        reasons.append("inspect --optimize: no `fusions` object")
        fusions = {}
    else:
        missing = [k for k in FUSION_KEYS if k not in fusions]
        if missing:
            reasons.append(f"fusions lacks {', '.join(missing)}")
        bad = [k for k in FUSION_KEYS if k in fusions
               and (not isinstance(fusions[k], int) or isinstance(fusions[k], bool) or fusions[k] < 0)]
        if bad:
            reasons.append("fusions values not non-negative integers: "
                           + ", ".join(f"{k}={fusions[k]!r}" for k in bad))

    def fig(key):
        v = fusions.get(key)
        return v if isinstance(v, int) and not isinstance(v, bool) else None

    before, after = fig("nodeCountBefore"), report.get("nodeCount")
    if before is not None and before != facts.nodes:
        reasons.append(f"fusions.nodeCountBefore {before}, the original has {facts.nodes} nodes")
    total = sum(v for v in operators.values() if isinstance(v, int))
    if after != total:
        reasons.append(f"nodeCount {after} is not the sum of operators ({total})")
    if "nodeCountAfter" in fusions and fusions["nodeCountAfter"] != after:
        reasons.append(f"fusions.nodeCountAfter {fusions['nodeCountAfter']}, nodeCount {after}")

    # BatchNormalization folding.
    bn_left = operators.get("BatchNormalization", 0)
    bn_allowed = facts.bn_total - facts.bn_foldable
    if bn_left > bn_allowed:
        reasons.append(f"{bn_left} BatchNormalization remain, the original has {facts.bn_total} of which "
                       f"{facts.bn_foldable} follow a Conv/Gemm (at most {bn_allowed} may remain)")
    folded = fig("batchNormFolded")
    if folded is not None and folded < facts.bn_foldable:
        reasons.append(f"fusions.batchNormFolded {folded} < {facts.bn_foldable} "
                       "BatchNormalization after a Conv/Gemm")

    # Residual Adds.
    fused = fig("residualAddFused")
    residual_note = f"residualAddFused {fused} of {facts.residuals}"
    if facts.resnet_family:
        if facts.known_residuals is not None and facts.residuals != facts.known_residuals:
            reasons.append(f"the graph has {facts.residuals} residual Adds by the rule, {facts.name} should "
                           f"have {facts.known_residuals} (is the model or this check wrong?)")
        if fused is not None and fused != facts.residuals:
            reasons.append(f"fusions.residualAddFused {fused}, the graph has {facts.residuals} residual Adds")
        left = operators.get("Add", 0) + operators.get("Sum", 0)
        allowed = facts.adds_and_sums - facts.residuals
        if left > allowed:
            reasons.append(f"{left} Add/Sum remain of the original {facts.adds_and_sums}, of which "
                           f"{facts.residuals} are residual (at most {allowed} may remain)")
    else:
        residual_note += " (not checked" + (": v2" if facts.v2 else "") + ")"

    # Load-time computable nodes with fixed input shapes.
    if facts.fixed_shapes:
        left = []
        for op in ALWAYS_GONE + GONE_ON_CONSTANTS:
            allowed = facts.data_ops.get(op, 0) if op in GONE_ON_CONSTANTS else 0
            n = operators.get(op, 0)
            if n > allowed:
                left.append(f"{op} {n}" + (f" (data {allowed})" if allowed else ""))
        if left:
            reasons.append("with fixed input shapes these remain: " + ", ".join(left))
        shape_note = ""
    else:
        shape_note = ", shape rule skipped (symbolic input)"

    figures = ", ".join(f"{k} {fusions.get(k)}"
                        for k in ("batchNormFolded", "activationFused", "constantsFolded", "nodesRemoved"))
    return f"nodes {before} -> {after}; {residual_note}, {figures}{shape_note}"


def run_checks(case_dir, name, resin, args):
    model = os.path.join(case_dir, "model.onnx")
    reasons, notes = [], []
    meta = {}
    try:
        with open(os.path.join(case_dir, "meta.json"), encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        pass
    facts = GraphFacts(onnx.load(model, load_external_data=False), name, meta)
    tmp = tempfile.mkdtemp(prefix="resin-optimized-")
    out = os.path.join(tmp, "opt.onnx")
    try:
        # (1)
        t0 = time.perf_counter()
        code, so, se = run_resin(resin, ["convert", "--optimize", model, out], args.timeout)
        notes.append(f"convert {time.perf_counter() - t0:.1f}s")
        if code != 0:
            reasons.append("convert --optimize " + describe_exit(code, so, se))
        elif not os.path.exists(out):
            reasons.append("convert --optimize exited 0 but wrote no file")
        elif check_converted(facts, out, reasons) is not None:
            # (2)
            r = check_ort(case_dir, model, out, facts, args.threads, reasons)
            if r:
                notes.append(f"ORT max diff {r[0]:.2g} over {r[1]} data set(s)")

        # (3)
        tol = (RTOL, ATOL)
        if args.light_tolerance:
            tol = light_tolerance(case_dir) or tol
        base = ["verify", case_dir, "--rtol", repr(tol[0]), "--atol", repr(tol[1]),
                "--threads", str(args.threads)]
        for label, extra in (("verify", []), ("verify --no-optimize", ["--no-optimize"])):
            code, so, se = run_resin(resin, base + extra, args.timeout)
            if code != 0:
                reasons.append(f"{label} (rtol {tol[0]:g} atol {tol[1]:g}) " + describe_exit(code, so, se))
        notes.append(f"verify tolerance rtol {tol[0]:g} atol {tol[1]:g}")

        # (4)
        code, so, se = run_resin(resin, ["inspect", "--optimize", "--json", model], args.timeout)
        summary = f"nodes {facts.nodes} -> ?"
        if code != 0:
            reasons.append("inspect --optimize --json " + describe_exit(code, so, se))
        else:
            try:
                report = json.loads(so)
            except ValueError as e:
                reasons.append(f"inspect --optimize --json printed no JSON object: {e}")
            else:
                if not isinstance(report, dict):
                    reasons.append("inspect --optimize --json printed no JSON object")
                else:
                    summary = check_inspect(report, facts, reasons)
        return reasons, summary, notes
    finally:
        if args.keep:
            notes.append(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description="Checks `resin convert --optimize` and `inspect --optimize`.")
    ap.add_argument("--resin", required=True, help="path to the resin binary")
    ap.add_argument("dirs", nargs="+", metavar="DIR", help="ONNX test-case folders")
    ap.add_argument("--light-tolerance", action="store_true",
                    help="verify folders made by tools/conformance/light_models.py (prepared.json) "
                         "with the tolerances recorded there")
    ap.add_argument("--threads", type=int, default=2,
                    help="ORT intra-op threads and resin verify --threads (default 2)")
    ap.add_argument("--timeout", type=float, default=600, help="timeout of each resin command, seconds")
    ap.add_argument("--keep", action="store_true", help="keep the optimized models")
    args = ap.parse_args()
    resin = os.path.abspath(args.resin) if os.sep in args.resin else args.resin
    found = resin if os.sep in resin else shutil.which(resin)
    if not found or not os.path.isfile(found) or not os.access(found, os.X_OK):
        sys.exit(f"error: resin binary not found or not executable: {args.resin}")
    passed = failed = 0
    for case in expand(args.dirs):
        name = display_name(case)
        if not os.path.isfile(os.path.join(case, "model.onnx")):
            reasons, summary, notes = [f"no model.onnx in {case}"], "", []
        else:
            try:
                reasons, summary, notes = run_checks(case, name, resin, args)
            except Exception as e:
                reasons, summary, notes = [f"internal error: {type(e).__name__}: {e}"], "", []
        tail = f" ({summary}; {', '.join(notes)})" if summary or notes else ""
        if reasons:
            failed += 1
            print(f"FAIL {name}: " + "; ".join(reasons) + tail, flush=True)
        else:
            passed += 1
            print(f"PASS {name}{tail}", flush=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Regenerates allowlist.txt and excluded.txt from the onnx package's node test collection.

    tools/conformance/make_lists.py            # rewrite both lists (keeping moves made by hand)
    tools/conformance/make_lists.py --check    # exit 1 if the lists are incomplete or stale
    tools/conformance/make_lists.py --reset    # rewrite from the rules alone
    tools/conformance/make_lists.py --explain test_dropout_default_mask

Scope. A case is in scope when its graph (subgraphs included) has a node of an operator Resin
runs (`SCOPE_OPS` in _common.py). That takes in every case of those operators, and also cases of
other operators whose graphs use one of them: the `_expanded` cases (an operator's function body
written out as nodes, e.g. test_layer_normalization_*_expanded with ReduceMean, Sub, Div, ...)
and Scan cases whose loop body adds.
Each scope case lands in exactly one list.

Rules. A case is excluded, with every reason that applies, when it needs
  - an operator outside the list (any node of another type or of a non-default domain);
  - training mode: BatchNormalization with training_mode=1 (batch statistics and the running
    mean/var outputs), or Dropout whose training_mode input is true (a random mask);
  - a value that is not a dense tensor (sequence, optional, map or sparse graph inputs/outputs);
  - a data type Resin does not compute: anything but float32 and int64 (int64 being Resin's
    type for shapes, indices and shape arithmetic) in a graph input or output, an initializer
    or a constant;
  - an opset below 7 (Resin imports opset 7 onward).
All other cases go to the allowlist: Resin must pass them.

Hand edits. The lead moves cases between the lists as the runtime grows. On regeneration a case
that the rules would exclude but that the current allowlist has stays allowlisted, and a case the
rules would allow but the current excluded.txt has stays excluded with its written reason. Cases
that left the collection are dropped, new ones are classified by the rules. --reset ignores the
current files.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ALLOWLIST, EXCLUDED, SCOPE_OPS, ensure_venv, read_list  # noqa: E402

ensure_venv(__file__)

import argparse  # noqa: E402
import re  # noqa: E402
from collections import defaultdict  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import AttributeProto, TensorProto, helper, numpy_helper  # noqa: E402

from export_node_tests import collect_node_cases  # noqa: E402

MIN_OPSET = 7
DEFAULT_DOMAINS = ("", "ai.onnx")

# Resin computes float32, and int64 for shapes, indices and shape arithmetic (Shape, Gather,
# Concat, Add, ... over shape values; MaxPool indices).
SUPPORTED_TYPES = {TensorProto.FLOAT, TensorProto.INT64}

EXPANDED = re.compile(r"^(?P<base>.+)_expanded(_ver\d+)?$")


def dtype_name(elem_type):
    """'float32', 'int8', 'bool', ... as NumPy spells them (bfloat16 and float8 names as ONNX)."""
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).name
    except (KeyError, TypeError, ValueError):
        return TensorProto.DataType.Name(elem_type).lower()


def walk_graphs(graph):
    """The graph and every subgraph in its node attributes."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                yield from walk_graphs(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from walk_graphs(g)


def all_nodes(graph):
    for g in walk_graphs(graph):
        yield from g.node


def op_label(node):
    return node.op_type if node.domain in DEFAULT_DOMAINS else f"{node.domain}:{node.op_type}"


def in_scope(case):
    return any(n.domain in DEFAULT_DOMAINS and n.op_type in SCOPE_OPS
               for n in all_nodes(case.model.graph))


def tensor_values(case):
    """(kind, name, elem_type) of every typed tensor the case declares or embeds."""
    graph = case.model.graph
    for kind, values in (("input", graph.input), ("output", graph.output)):
        for v in values:
            if v.type.HasField("tensor_type"):
                yield kind, v.name, v.type.tensor_type.elem_type
    for g in walk_graphs(graph):
        for t in g.initializer:
            yield "initializer", t.name, t.data_type
        for node in g.node:
            for attr in node.attribute:
                if attr.type == AttributeProto.TENSOR:
                    name = node.output[0] if node.op_type == "Constant" else f"{node.op_type}.{attr.name}"
                    yield "constant", name, attr.t.data_type
                elif attr.type == AttributeProto.SPARSE_TENSOR:
                    yield "constant", node.output[0], attr.sparse_tensor.values.data_type
                elif node.op_type == "Constant" and attr.name in ("value_int", "value_ints"):
                    yield "constant", node.output[0], TensorProto.INT64
                elif node.op_type == "Constant" and attr.name in ("value_string", "value_strings"):
                    yield "constant", node.output[0], TensorProto.STRING


def training_reasons(case):
    graph = case.model.graph
    reasons = []
    inputs, _ = case.data_sets[0]
    fed = {}
    present = [v.name for v in graph.input]
    for name, value in zip(present, inputs):
        fed[name] = value if not isinstance(value, TensorProto) else numpy_helper.to_array(value)
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in all_nodes(graph):
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    constants[node.output[0]] = numpy_helper.to_array(attr.t)
    for node in all_nodes(graph):
        if node.domain not in DEFAULT_DOMAINS:
            continue
        if node.op_type == "BatchNormalization":
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            if attrs.get("training_mode", 0):
                reasons.append("BatchNormalization training_mode=1: batch statistics and "
                               "running mean/var outputs are training only, Resin runs inference")
        elif node.op_type == "Dropout" and len(node.input) > 2 and node.input[2]:
            flag = fed.get(node.input[2], constants.get(node.input[2]))
            if flag is None or bool(np.asarray(flag).any()):
                reasons.append("Dropout training_mode=true: random mask, Resin runs inference only")
    return reasons


def rule_reasons(case):
    """Why the rules exclude `case` (empty list: allowlisted)."""
    graph = case.model.graph
    reasons = []
    outside = sorted({op_label(n) for n in all_nodes(graph)
                      if n.domain not in DEFAULT_DOMAINS or n.op_type not in SCOPE_OPS})
    if outside:
        reasons.append("uses operators outside Resin's list: " + ", ".join(outside))
    reasons += training_reasons(case)
    for kind, values in (("input", graph.input), ("output", graph.output)):
        for v in values:
            which = v.type.WhichOneof("value")
            if which != "tensor_type":
                what = which.replace("_type", "")
                article = "an" if what[0] in "aeiou" else "a"
                reasons.append(f"{kind} '{v.name}' is {article} {what}, Resin runs dense tensors only")
    bad = defaultdict(list)
    for kind, name, elem in tensor_values(case):
        if elem in SUPPORTED_TYPES:
            continue
        where = f"{kind} '{name}'"
        if kind == "output" and any(n.op_type == "Dropout" and list(n.output).index(name) == 1
                                    for n in graph.node if name in n.output):
            where += " (Dropout mask)"
        if where not in bad[elem]:
            bad[elem].append(where)
    for elem, places in sorted(bad.items(), key=lambda kv: dtype_name(kv[0])):
        name = dtype_name(elem)
        shown = ", ".join(places[:3]) + (", ..." if len(places) > 3 else "")
        reasons.append(f"dtype {name} not supported ({shown})")
    opsets = [o.version for o in case.model.opset_import if o.domain in DEFAULT_DOMAINS]
    if opsets and min(opsets) < MIN_OPSET:
        reasons.append(f"opset {min(opsets)}: Resin imports opset {MIN_OPSET} onward")
    return reasons


def primary_operator(case, by_name):
    """The operator a case tests: its node's type, or for `_expanded` the expanded operator."""
    m = EXPANDED.match(case.name)
    if m and m.group("base") in by_name:
        base = by_name[m.group("base")].model.graph.node
        if len(base) == 1:
            return op_label(base[0])
    nodes = case.model.graph.node
    if len(nodes) == 1:
        return op_label(nodes[0])
    ops = sorted({op_label(n) for n in nodes if n.op_type in SCOPE_OPS}) or ["?"]
    return "+".join(ops)


def classify(reset=False):
    cases = collect_node_cases()
    by_name = {c.name: c for c in cases}
    scope = [c for c in cases if in_scope(c)]
    old_allow = {} if reset else read_list(ALLOWLIST)
    old_excl = {} if reset else read_list(EXCLUDED)
    rows = []   # (case, primary op, reasons or None, note)
    for case in scope:
        reasons = rule_reasons(case)
        note = ""
        if reasons and case.name in old_allow:
            note = "kept in the allowlist by hand; the rules say: " + "; ".join(reasons)
            reasons = []
        elif not reasons and case.name in old_excl:
            reasons = [old_excl[case.name] or "excluded by hand"]
            note = "kept excluded by hand"
        rows.append((case, primary_operator(case, by_name), reasons, note))
    gone = sorted((set(old_allow) | set(old_excl)) - {c.name for c in scope})
    return cases, rows, gone


HEADER_ALLOW = """\
# Node test cases of the onnx package ({version}) that Resin must pass: one case name a line.
# Generated by tools/conformance/make_lists.py from onnx.backend.test.case.node.collect_testcases():
# {scope} cases in scope, {allowed} here, {excluded} in excluded.txt. Grouped by the operator tested;
# run them with tools/conformance/run_node_tests.py. Moving a case between the two lists by hand is
# fine: make_lists.py keeps such moves when it regenerates the lists.
"""

HEADER_EXCL = """\
# Node test cases in scope that Resin is not expected to pass, one a line: `case_name  # reason`.
# Generated by tools/conformance/make_lists.py (onnx {version}); see its docstring for the rules.
# `tools/conformance/run_node_tests.py --all` runs these too and lists the ones that pass.
"""


def render(rows):
    version = onnx.__version__
    allowed = [r for r in rows if not r[2]]
    excluded = [r for r in rows if r[2]]
    out_allow = [HEADER_ALLOW.format(version=version, scope=len(rows), allowed=len(allowed),
                                     excluded=len(excluded))]
    groups = defaultdict(list)
    for case, op, _, _ in allowed:
        groups[op].append(case.name)
    for op in sorted(groups):
        out_allow.append(f"\n# {op}\n")
        out_allow.extend(f"{name}\n" for name in sorted(groups[op]))

    out_excl = [HEADER_EXCL.format(version=version)]
    listed = [r for r in excluded if r[1] in SCOPE_OPS]
    others = [r for r in excluded if r[1] not in SCOPE_OPS]
    for title, part in (("Cases of the listed operators", listed),
                        ("Cases of other operators whose graphs use listed operators (function "
                         "expansions `_expanded`, subgraphs of Scan/Loop/If)", others)):
        out_excl.append(f"\n# ===== {title}: {len(part)} =====\n")
        groups = defaultdict(list)
        for case, op, reasons, _ in part:
            groups[op].append((case.name, "; ".join(reasons)))
        for op in sorted(groups):
            out_excl.append(f"\n# {op}\n")
            out_excl.extend(f"{name}  # {reason}\n" for name, reason in sorted(groups[op]))
    return "".join(out_allow), "".join(out_excl)


def reason_category(reason):
    if reason.startswith("uses operators outside"):
        return "operators outside the list"
    if "training_mode" in reason:
        return "training mode"
    if reason.startswith("dtype"):
        return reason.split(" (")[0]
    if "dense tensors only" in reason:
        return "non-tensor value (sequence/optional)"
    return reason


def summary(rows):
    allowed = [r for r in rows if not r[2]]
    excluded = [r for r in rows if r[2]]
    listed = [r for r in excluded if r[1] in SCOPE_OPS]
    print(f"in scope: {len(rows)} cases ({sum(1 for r in rows if r[1] in SCOPE_OPS)} of the listed "
          f"operators, {sum(1 for r in rows if r[1] not in SCOPE_OPS)} of other operators whose "
          "graphs use listed ones)")
    print(f"allowlisted: {len(allowed)}   excluded: {len(excluded)} "
          f"({len(listed)} of the listed operators, {len(excluded) - len(listed)} of other operators)")
    counts = defaultdict(lambda: [0, 0])
    for _, op, reasons, _ in excluded:
        for cat in dict.fromkeys(reason_category(r) for r in reasons):
            counts[cat][0 if op in SCOPE_OPS else 1] += 1
    print("exclusion reasons (a case may have several): listed-operator cases / other-operator cases")
    for cat, (a, b) in sorted(counts.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {a:4d} / {b:4d}  {cat}")


def main():
    ap = argparse.ArgumentParser(description="Regenerate allowlist.txt and excluded.txt.")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if the files differ from what would be written")
    ap.add_argument("--reset", action="store_true", help="ignore hand moves in the current lists")
    ap.add_argument("--explain", metavar="CASE", nargs="+",
                    help="print the operators, types and rule verdict of these cases")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    cases, rows, gone = classify(reset=args.reset)
    if args.explain:
        by_name = {c.name: c for c in cases}
        for name in args.explain:
            case = by_name.get(name)
            if not case:
                print(f"{name}: not in the onnx {onnx.__version__} collection")
                continue
            ops = sorted({op_label(n) for n in all_nodes(case.model.graph)})
            types = sorted({f"{k} {n}: {dtype_name(t)}" for k, n, t in tensor_values(case)})
            verdict = rule_reasons(case)
            print(f"{name}: in scope={in_scope(case)} ops={ops} opset="
                  f"{[(o.domain, o.version) for o in case.model.opset_import]}")
            for t in types:
                print(f"    {t}")
            print("    rules: " + ("; ".join(verdict) if verdict else "allowlist"))
        return

    allow_text, excl_text = render(rows)
    if args.check:
        stale = []
        for path, text in ((ALLOWLIST, allow_text), (EXCLUDED, excl_text)):
            try:
                with open(path, encoding="utf-8") as f:
                    current = f.read()
            except OSError:
                current = None
            if current != text:
                stale.append(os.path.basename(path))
        if stale:
            print("out of date: " + ", ".join(stale) + " (run tools/conformance/make_lists.py)")
            sys.exit(1)
        print("allowlist.txt and excluded.txt are complete and up to date")
        return
    for path, text in ((ALLOWLIST, allow_text), (EXCLUDED, excl_text)):
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
    if not args.quiet:
        for case, _, _, note in rows:
            if note:
                print(f"{case.name}: {note}")
        for name in gone:
            print(f"{name}: no longer in the collection, dropped")
        summary(rows)
        print(f"wrote {os.path.relpath(ALLOWLIST)} and {os.path.relpath(EXCLUDED)}")


if __name__ == "__main__":
    main()

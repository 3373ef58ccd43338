"""What the ONNX Runtime checkers share: how a reference session is made, how test-case files order, and
ONNX Runtime on an original against a rewritten model.

Import after `toolenv.ensure_venv(__file__)`: it needs onnxruntime from the pinned environment.
"""
import os

import onnxruntime as ort

from checksupport import compare, first_line, max_abs_diff


def ort_session(path, threads):
    """An ONNX Runtime session with graph optimizations off, so comparisons test the file, not ORT's rewrites."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def case_file_index(path):
    """The number in `input_10.pb` or `test_data_set_2`, so 10 sorts after 9; unnumbered names last."""
    base = os.path.basename(path)
    try:
        return int(base.rsplit("_", 1)[1].split(".")[0])
    except (IndexError, ValueError):
        return 1 << 30


def compare_sessions(original, other, label, side, output_names, feed_sets, rtol, atol, threads, reasons):
    """ONNX Runtime on `original` and on `other` (called `label` in messages, `side` in the element-wise
    ones: "exported", "optimized") for each `(data set name, feeds)`; every difference beyond the tolerance,
    and every failure to load or run, goes to `reasons`. Returns the largest absolute difference, or None
    when a session could not be made."""
    try:
        s_orig = ort_session(original, threads)
    except Exception as e:
        reasons.append(f"ORT cannot load the original: {first_line(e)}")
        return None
    try:
        s_other = ort_session(other, threads)
    except Exception as e:
        reasons.append(f"ORT cannot load {label}: {first_line(e)}")
        return None
    worst = 0.0
    for ds, feeds in feed_sets:
        try:
            expected = s_orig.run(output_names, feeds)
        except Exception as e:
            reasons.append(f"{ds}: ORT fails on the original: {first_line(e)}")
            continue
        try:
            actual = s_other.run(output_names, feeds)
        except Exception as e:
            reasons.append(f"{ds}: ORT fails on {label}: {first_line(e)}")
            continue
        for name, e, a in zip(output_names, expected, actual):
            d = compare(e, a, rtol, atol, side)
            if d:
                reasons.append(f"{ds}: ORT output {name} of {label} vs the original: {d}")
            worst = max(worst, max_abs_diff(e, a))
    return worst

"""What the ONNX Runtime checkers share: how a reference session is made and how test-case files order.

Import after `toolenv.ensure_venv(__file__)`: it needs onnxruntime from the pinned environment.
"""
import os

import onnxruntime as ort


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

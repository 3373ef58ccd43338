#!/usr/bin/env python3
"""Writes the tensor-file fixtures with NumPy and ONNX, and checks tensor files that Resin wrote.

    "$(tools/venv.sh)" tools/make_tensor_file_fixtures.py [--out DIR]
    "$(tools/venv.sh)" tools/make_tensor_file_fixtures.py --check DIR

The first form rewrites Fixtures/tensor-files/ (or DIR), deterministically: running it twice gives
identical bytes. The Swift tests (TensorProtoCodingTests, TensorFileTests) read these files and compare
them with the values written out in the tests, so the reader is checked against independent writers.

The second form checks files that Resin wrote: the Swift test
TensorFileTests.writtenFilesLoadInNumPyAndONNX re-encodes every fixture through Resin as <stem>.npy and
<stem>.pb in a temporary folder and runs `--check` on it with this environment's python. Every file must load with np.load or onnx.load_tensor +
numpy_helper.to_array and hold the fixture's values (big-endian fixtures come back little-endian);
each .npy must also be byte-identical to what np.save writes for the same array.
"""
import argparse
import io
import os
import sys


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from toolenv import ensure_venv  # noqa: E402

ensure_venv(__file__)

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "Fixtures", "tensor-files")

# The values the Swift tests spell out again; keep the two in step.
F32_2X3 = np.array([[0.5, -1.25, 2.0], [3.75, -0.0, 1024.0]], dtype=np.float32)
U8_NCHW = np.arange(12, dtype=np.uint8).reshape(1, 3, 2, 2)

# NumPy files: stem -> (array, format version or None for np.save's choice).
NPY = {
    "float32_2x3": (F32_2X3, None),
    "float64_v2_1x3": (np.array([[0.1, -0.2, 1e300]], dtype=np.float64), (2, 0)),
    "float16_3": (np.array([1.0, -2.5, 65504.0], dtype=np.float16), None),
    "int64_scalar": (np.array(-1234567890123, dtype=np.int64), None),
    "int32_fortran_2x3x4": (np.asfortranarray(np.arange(24, dtype=np.int32).reshape(2, 3, 4)), None),
    "int16_4": (np.array([-32768, -1, 0, 32767], dtype=np.int16), None),
    "int8_4": (np.array([-128, -1, 0, 127], dtype=np.int8), None),
    "uint8_1x3x2x2": (U8_NCHW, None),
    "uint16_3": (np.array([0, 1, 65535], dtype=np.uint16), None),
    "uint32_3": (np.array([0, 1, 4294967295], dtype=np.uint32), None),
    "uint64_2": (np.array([0, 18446744073709551615], dtype=np.uint64), None),
    "bool_4": (np.array([True, False, False, True]), None),
    "int32_bigendian_3": (np.array([1, -2, 305419896], dtype=">i4"), None),
    "float32_bigendian_v3_2": (np.array([1.5, -2.0], dtype=">f4"), (3, 0)),
    "float32_empty_0x3": (np.zeros((0, 3), dtype=np.float32), None),
    "complex64_2": (np.array([1 + 2j, -3.5 + 0.25j], dtype=np.complex64), None),
}


def pb_fixtures():
    """TensorProto files: stem -> (TensorProto, expected array or None when Resin must refuse it)."""
    f16 = np.array([1.0, -2.5, 65504.0], dtype=np.float16)
    external = helper.make_tensor("weights", TensorProto.FLOAT, [2], [0.0, 0.0])
    del external.float_data[:]
    external.data_location = TensorProto.EXTERNAL
    entry = external.external_data.add()
    entry.key, entry.value = "location", "weights.bin"
    strings = helper.make_tensor("labels", TensorProto.STRING, [2], [b"cat", b"dog"])
    return {
        # Typed fields (the layout of older exporters and of onnx.helper.make_tensor without raw=True).
        "float_data_2x3": (helper.make_tensor("x", TensorProto.FLOAT, [2, 3], F32_2X3.flatten().tolist()), F32_2X3),
        "int64_data_scalar": (helper.make_tensor("s", TensorProto.INT64, [], [-1234567890123]),
                              np.array(-1234567890123, dtype=np.int64)),
        "bool_int32_data_4": (helper.make_tensor("b", TensorProto.BOOL, [4], [True, False, False, True]),
                              np.array([True, False, False, True])),
        "float16_int32_data_3": (helper.make_tensor("h", TensorProto.FLOAT16, [3], f16), f16),
        "int8_int32_data_4": (helper.make_tensor("c", TensorProto.INT8, [4], [-128, -1, 0, 127]),
                              np.array([-128, -1, 0, 127], dtype=np.int8)),
        "double_data_2": (helper.make_tensor("d", TensorProto.DOUBLE, [2], [0.1, -0.2]),
                          np.array([0.1, -0.2], dtype=np.float64)),
        "uint64_data_2": (helper.make_tensor("u", TensorProto.UINT64, [2], [0, 18446744073709551615]),
                          np.array([0, 18446744073709551615], dtype=np.uint64)),
        "string_2": (strings, np.array([b"cat", b"dog"], dtype=object)),
        # raw_data, as numpy_helper.from_array and the ONNX test-case layout write it.
        "raw_float32_2x3": (numpy_helper.from_array(F32_2X3, "input_0"), F32_2X3),
        "raw_uint8_1x3x2x2": (numpy_helper.from_array(U8_NCHW, "image"), U8_NCHW),
        "raw_float32_empty_0x3": (numpy_helper.from_array(np.zeros((0, 3), np.float32), "empty"),
                                  np.zeros((0, 3), np.float32)),
        # Refused: a lone tensor file cannot point at external data.
        "external": (external, None),
    }


def npy_bytes(array, version):
    buffer = io.BytesIO()
    if version is None:
        np.save(buffer, array, allow_pickle=False)
    else:
        np.lib.format.write_array(buffer, array, version=version, allow_pickle=False)
    return buffer.getvalue()


def write(out):
    os.makedirs(out, exist_ok=True)
    files = {}
    for stem, (array, version) in NPY.items():
        files[stem + ".npy"] = npy_bytes(array, version)
    for stem, (proto, _) in pb_fixtures().items():
        files[stem + ".pb"] = proto.SerializeToString(deterministic=True)
    for name, data in sorted(files.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    total = sum(len(d) for d in files.values())
    print(f"wrote {len(files)} files, {total} bytes, to {out}")


def expected_arrays():
    """Every fixture's values by stem, little-endian, in C order."""
    arrays = {}
    for stem, (array, _) in NPY.items():
        arrays[stem] = np.array(array, order="C").astype(array.dtype.newbyteorder("<"))
    for stem, (_, array) in pb_fixtures().items():
        if array is not None:
            arrays[stem] = array
    return arrays


def same(actual, expected):
    if actual.shape != expected.shape:
        return f"shape {actual.shape}, expected {expected.shape}"
    if expected.dtype == object:
        # to_array gives str for UTF-8 strings; compare as bytes.
        actual_list = [v.encode() if isinstance(v, str) else bytes(v) for v in actual.flatten()]
        expected_list = list(expected.flatten())
        return None if actual_list == expected_list else f"strings {actual_list}, expected {expected_list}"
    if actual.dtype != expected.dtype:
        return f"dtype {actual.dtype.str}, expected {expected.dtype.str}"
    if actual.tobytes() != expected.tobytes():
        return f"values {actual.flatten().tolist()}, expected {expected.flatten().tolist()}"
    return None


def check(folder):
    arrays = expected_arrays()
    failures = []
    names = sorted(os.listdir(folder))
    for name in names:
        stem, extension = os.path.splitext(name)
        path = os.path.join(folder, name)
        if stem not in arrays or extension not in (".npy", ".pb"):
            failures.append(f"{name}: not a re-encoded fixture")
            continue
        expected = arrays[stem]
        try:
            if extension == ".npy":
                actual = np.load(path, allow_pickle=False)
                with open(path, "rb") as f:
                    if f.read() != npy_bytes(expected, None):
                        failures.append(f"{name}: loads, but differs from the bytes np.save writes")
            else:
                actual = numpy_helper.to_array(onnx.load_tensor(path))
        except Exception as error:  # noqa: BLE001 - any failure to load is the finding
            failures.append(f"{name}: cannot be loaded: {error}")
            continue
        problem = same(actual, expected)
        if problem:
            failures.append(f"{name}: {problem}")
    for failure in failures:
        print("FAIL", failure)
    npy = sum(1 for n in names if n.endswith(".npy"))
    print(f"checked {len(names)} files written by Resin in {folder} ({npy} .npy with np.load, "
          f"{len(names) - npy} .pb with onnx.load_tensor + numpy_helper.to_array): {len(failures)} problem(s)")
    return 1 if failures or not names else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="fixture folder (default: Fixtures/tensor-files)")
    parser.add_argument("--check", metavar="DIR", help="check the tensor files Resin wrote into DIR")
    args = parser.parse_args()
    if args.check:
        sys.exit(check(args.check))
    write(args.out)


if __name__ == "__main__":
    main()

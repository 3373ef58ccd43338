"""What the checkers share besides ONNX Runtime (tools/ortsupport.py): running resin and describing how it
ended, finding test-case folders, and comparing tensors with Resin's tolerance rule.

Import after `toolenv.ensure_venv(__file__)`: it needs numpy from the pinned environment.
"""
import glob
import os
import signal
import subprocess

import numpy as np


def default_domain(domain):
    return domain in ("", "ai.onnx")


def first_line(e, limit=300):
    """The first line of an exception's message (or its type's name), at most `limit` characters."""
    lines = str(e).strip().splitlines()
    return (lines[0] if lines else type(e).__name__)[:limit]


def expand(dirs):
    """Test-case folders: each DIR holding model.onnx, else its sub-folders that do (else DIR itself)."""
    cases = []
    for d in dirs:
        if os.path.isfile(os.path.join(d, "model.onnx")):
            cases.append(d)
            continue
        subs = sorted(s for s in glob.glob(os.path.join(d, "*")) if os.path.isfile(os.path.join(s, "model.onnx")))
        cases.extend(subs if subs else [d])
    return cases


def display_name(case):
    """A case folder's last two path parts, like `full/resnet50`."""
    parts = os.path.normpath(os.path.abspath(case)).split(os.sep)
    return "/".join(p.lstrip(".") for p in parts[-2:])


def run_resin(resin, args, timeout):
    """(returncode, stdout, stderr); returncode None when it could not run or timed out."""
    try:
        r = subprocess.run([resin] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "", f"hung: no exit within {timeout:g}s"
    except OSError as e:
        return None, "", f"cannot run {resin}: {e}"
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def how_it_ended(code):
    if code is None:
        return "timed out"
    if code < 0:
        try:
            return f"killed by signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with {code}"


def describe_exit(code, stdout, stderr):
    """How a resin run ended and the line of its output that says the most."""
    if code is None:
        return stderr
    lines = [ln.strip() for ln in (stderr.strip().splitlines() + stdout.strip().splitlines()) if ln.strip()]
    fails = [ln for ln in lines if "FAIL" in ln]  # verify's FAIL line says the most
    first = (fails or lines or [""])[0]
    return f"{how_it_ended(code)}: {first[:300]}".rstrip(": ")


def compare(expected, actual, rtol, atol, label):
    """None when actual matches expected (|a - e| <= atol + rtol * |e|, NaN only matching NaN), else a
    description naming the actual side as `label` ("exported", "optimized")."""
    if expected.shape != actual.shape or expected.dtype != actual.dtype:
        return f"{expected.dtype}{list(expected.shape)} vs {label} {actual.dtype}{list(actual.shape)}"
    if expected.dtype.kind not in "fc":
        if np.array_equal(expected, actual):
            return None
        return f"{int(np.count_nonzero(expected != actual))} element(s) differ"
    e = expected.astype(np.float64)
    a = actual.astype(np.float64)
    nan_e, nan_a = np.isnan(e), np.isnan(a)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(a - e)
        ok = (diff <= atol + rtol * np.abs(e)) | (nan_e & nan_a) | ((a == e) & np.isinf(e))
    ok &= nan_e == nan_a
    if ok.all():
        return None
    bad = np.argwhere(~ok)
    worst = tuple(int(x) for x in bad[0])
    finite = np.where(np.isfinite(diff), diff, 0.0)
    return (f"{len(bad)} of {e.size} element(s) outside rtol {rtol:g} atol {atol:g}, max abs diff "
            f"{float(finite.max()):.3g}, first at {list(worst)}: original {float(e[worst]):.7g}, "
            f"{label} {float(a[worst]):.7g}")


def max_abs_diff(expected, actual):
    """The largest finite |actual - expected|, 0 for shapes that differ or non-numeric tensors."""
    if expected.shape != actual.shape or expected.size == 0 or expected.dtype.kind not in "fciu":
        return 0.0
    d = np.abs(expected.astype(np.float64) - actual.astype(np.float64))
    d = d[np.isfinite(d)]
    return float(d.max()) if d.size else 0.0

"""Shared pieces of the conformance scripts: the venv re-exec, paths, the operator scope, the
list files, and running `resin verify` on a test-case folder with a timeout.

Only the standard library is imported at module level, so the scripts can call `ensure_venv`
before anything needs onnx or numpy.
"""
import os
import signal
import subprocess
import sys
import time

CONFORMANCE_DIR = os.path.dirname(os.path.abspath(__file__))
TOOLS_DIR = os.path.dirname(CONFORMANCE_DIR)
REPO_ROOT = os.path.dirname(TOOLS_DIR)
GENERATED = os.path.join(REPO_ROOT, ".generated")
DEFAULT_NODE_DIR = os.path.join(GENERATED, "node-tests")
DEFAULT_LIGHT_DIR = os.path.join(GENERATED, "light")
DEFAULT_RESIN = os.path.join(REPO_ROOT, ".build", "release", "resin")
ALLOWLIST = os.path.join(CONFORMANCE_DIR, "allowlist.txt")
EXCLUDED = os.path.join(CONFORMANCE_DIR, "excluded.txt")

# The operators Resin runs (default ONNX domain). A node test case is in scope when its graph
# (subgraphs included) has at least one node of these types.
SCOPE_OPS = frozenset("""
Conv BatchNormalization Relu LeakyRelu Clip MaxPool AveragePool GlobalAveragePool GlobalMaxPool LRN
Add Sub Mul Div Sum Gemm MatMul Flatten Reshape Transpose Concat Softmax Identity Dropout Constant
ConstantOfShape Shape Gather Unsqueeze Squeeze Pad ReduceMean
""".split())


sys.path.insert(0, TOOLS_DIR)
from toolenv import ensure_venv  # noqa: E402,F401  (re-exported for the scripts here)


def resin_path(value):
    """An explicit path is made absolute; a bare name is left for PATH lookup."""
    return os.path.abspath(value) if os.sep in value else value


def check_resin(resin):
    import shutil
    found = resin if os.sep in resin else shutil.which(resin)
    if not found or not os.path.isfile(found) or not os.access(found, os.X_OK):
        sys.exit(f"error: resin binary not found or not executable: {resin} "
                 "(build it with `swift build -c release`, or pass --resin PATH)")


def read_list(path):
    """Reads allowlist.txt or excluded.txt: {case: reason} in file order ('' when no reason)."""
    entries = {}
    if not os.path.exists(path):
        return entries
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            name, _, reason = line.partition("#")
            name = name.strip()
            if not name or any(c.isspace() for c in name):
                sys.exit(f"error: {path}:{number}: expected `case_name` or `case_name  # reason`, "
                         f"found {line!r}")
            if name in entries:
                sys.exit(f"error: {path}:{number}: {name} is listed twice")
            entries[name] = reason.strip()
    return entries


class Outcome:
    """The result of one `resin verify` run."""

    def __init__(self, name, code, output, seconds, timed_out=False):
        self.name = name
        self.code = code          # process exit status; negative for a signal; None on timeout
        self.output = output      # stdout then stderr, decoded
        self.seconds = seconds
        self.timed_out = timed_out

    @property
    def passed(self):
        return self.code == 0

    def describe(self):
        if self.timed_out:
            return "timed out"
        if self.code is not None and self.code < 0:
            try:
                return f"killed by signal {signal.Signals(-self.code).name}"
            except ValueError:
                return f"killed by signal {-self.code}"
        meaning = {0: "pass", 1: "mismatch", 2: "error (bad input / unsupported)",
                   64: "usage error"}.get(self.code, "unexpected exit status")
        return f"exit {self.code}: {meaning}"

    @property
    def crashed(self):
        """A hang, a signal or an exit status outside Docs/CLI.md's table."""
        return self.timed_out or self.code not in (0, 1, 2, 64)

    def head(self, lines=8):
        text = [line.rstrip() for line in self.output.splitlines() if line.strip()]
        more = len(text) - lines
        shown = text[:lines]
        if more > 0:
            shown.append(f"... ({more} more lines)")
        return shown


def run_verify(resin, case_dir, extra_args=(), timeout=60.0, name=None):
    """Runs `RESIN verify CASE_DIR [extra_args]`, killing its whole process group on timeout."""
    cmd = [resin, "verify", case_dir, *extra_args]
    start = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as e:
        return Outcome(name or os.path.basename(case_dir), 127, f"cannot run {resin}: {e}", 0.0)
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        timed_out = True
    seconds = time.monotonic() - start
    text = out.decode(errors="replace")
    if err:
        text += ("\n" if text and not text.endswith("\n") else "") + err.decode(errors="replace")
    return Outcome(name or os.path.basename(case_dir), None if timed_out else proc.returncode,
                   text, seconds, timed_out)

"""The pinned Python environment of the tools: every script re-executes itself inside it.

A script calls `ensure_venv(__file__)` before importing numpy, onnx or onnxruntime; when it is not already
running on `tools/.venv`'s interpreter, `tools/venv.sh` creates that environment (once) and the script is
executed again with it, so `python3 tools/x.py` and `"$(tools/venv.sh)" tools/x.py` behave the same.
"""
import os
import subprocess
import sys

TOOLS = os.path.dirname(os.path.abspath(__file__))


def ensure_venv(script):
    if os.path.realpath(sys.prefix) == os.path.realpath(os.path.join(TOOLS, ".venv")):
        return
    if os.environ.get("RESIN_TOOLS_REEXEC") == "1":
        sys.exit("error: tools/venv.sh did not give a python inside tools/.venv")
    out = subprocess.run(["bash", os.path.join(TOOLS, "venv.sh")], check=True,
                         stdout=subprocess.PIPE, text=True).stdout.split()
    os.execve(out[-1], [out[-1], os.path.abspath(script)] + sys.argv[1:],
              dict(os.environ, RESIN_TOOLS_REEXEC="1"))

"""Run one attack on a fresh simulator in a child process, with a wall-clock limit.

An attack is a Python script (one file per class of attack, in this folder or
a test's tmp_path) that boots a system, loads hostile code into it and prints,
as its last line of stdout, one JSON object: its verdict about what happened
(for example ``{"contained": true, "reason": "..."}``). Running it in a child
process is what lets a test *fail* rather than take the suite down when the
defence is missing: a C-level crash (SIGSEGV from unbounded recursion in a
builtin) shows as a negative return code, a hang as ``timed_out``.

Interface
    ``run_attack(script, timeout_s=60) -> Outcome`` runs the file (a path) or
    source text (a str containing a newline) and returns what it did;
    ``Outcome.verdict`` is the parsed last line, ``Outcome.survived`` says the
    process exited normally (return code 0) within the limit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[2] / "src"

#: The first lines of an attack script that reports its verdict as JSON: its memory limited
#: (RLIMIT_AS, 2 GiB: the machine is shared) and ``peak_mb()``, its own peak resident memory.
PROLOGUE = r'''
import json, resource
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def peak_mb():
    """This process's own peak resident memory. Not ru_maxrss: Linux keeps that across
    execve, so a child of a big test worker would report the worker's peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
'''


@dataclass(frozen=True)
class Outcome:
    returncode: int | None  # None when the wall-clock limit killed it
    stdout: str
    stderr: str
    timed_out: bool

    @property
    def survived(self) -> bool:
        return not self.timed_out and self.returncode == 0

    @property
    def verdict(self) -> dict[str, Any]:
        lines = [ln for ln in self.stdout.splitlines() if ln.strip()]
        if not lines:
            raise AssertionError(f"attack printed no verdict; {self.describe()}")
        value = json.loads(lines[-1])
        assert isinstance(value, dict), lines[-1]
        return value

    def describe(self) -> str:
        how = "timed out" if self.timed_out else f"exit {self.returncode}"
        return f"{how}\n--- stdout\n{self.stdout[-2000:]}\n--- stderr\n{self.stderr[-4000:]}"


def run_attack(script: str | Path, timeout_s: float = 60.0) -> Outcome:
    """Run ``script`` (a path, or source text) in a child Python; see the module note."""
    with tempfile.TemporaryDirectory() as tmp:
        if isinstance(script, str) and "\n" in script:
            path = Path(tmp) / "attack.py"
            path.write_text(script)
        else:
            path = Path(script)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
        try:
            r = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                               timeout=timeout_s, env=env, cwd=tmp)
        except subprocess.TimeoutExpired as exc:
            def text(b: bytes | str | None) -> str:
                return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
            return Outcome(None, text(exc.stdout), text(exc.stderr), True)
        return Outcome(r.returncode, r.stdout, r.stderr, False)

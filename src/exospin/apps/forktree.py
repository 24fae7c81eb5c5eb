"""forktree: each process forks two children, to a depth; every one reports its branch.

The root makes a pipe; each process writes its branch name ("", "0", "1",
"00", ...) and a newline to it before forking its two children and waiting
for them. Returns 0 if the root reads every branch of the tree exactly once.
"""

from __future__ import annotations

from .. import posix


def branch(w: int, name: str, depth: int) -> int:
    posix.write(w, (name or "root").encode() + b"\n")
    if len(name) < depth:
        kids = [posix.fork(branch, w, name + c, depth) for c in "01"]
        for k in kids:
            pid, status = posix.wait(k)
            if status != 0:
                return 1
    return 0


def main(argv: list[str]) -> int:
    depth = int(argv[0]) if argv else 3
    r, w = posix.pipe()
    status = branch(w, "", depth)
    posix.close(w)
    data = b""
    while chunk := posix.read(r, 512):
        data += chunk
    names = sorted(data.decode().split())
    want = sorted(["root"] + [format(i, f"0{n}b") for n in range(1, depth + 1) for i in range(2**n)])
    return 0 if status == 0 and names == want else 1

"""The frame of every UDF attack (tests/attacks/test_udf_attacks.py): XN running a hostile UDF.

The script limits its own memory (RLIMIT_AS, 2 GiB), boots Aegis with a disk, and in
one environment formats XN, registers the attacker's UDF (it answers "no pointers" for
a zeroed block, as XN requires when a type is registered) and a well-behaved one, makes
a root of each, and changes the first byte of the attacker's root block: XN runs the
UDF on the new bytes, where it attacks. The verdict: how the update ended (the error's
class and message), whether the well-behaved file system still updates afterwards, XN's
invariants, whether another environment still runs, and the process's peak memory.
"""

from __future__ import annotations

import json

from attacks.harness import PROLOGUE

FRAME = PROLOGUE + r'''
from exospin.systems import boot

ATTACK = %(attack)s
BUDGET = %(budget)d
GOOD = """
def owns(b):
    out = []
    for i in range(0, 16, 4):
        n = int.from_bytes(b[i:i + 4], "little")
        if n:
            out.append((n, 0))
    return out
"""

s = boot("aegis", disk=True, disk_cylinders=1)
box = {}


def main(sys):
    sys.xn_format()
    bad = sys.xn_type(ATTACK, BUDGET)
    good = sys.xn_type(GOOD)
    blocks = sys.xn_free_blocks(3)
    rbad = sys.xn_root_create("bad", bad, blocks[0], b"k")
    rgood = sys.xn_root_create("good", good, blocks[1], b"k")
    for cap, b in ((rbad, blocks[0]), (rgood, blocks[1])):
        sys.xn_read(cap, b, sys.frame_alloc(sys.free_frames(1)[0]))
    try:
        sys.xn_update(rbad, blocks[0], 0, b"\1")
        box["update"] = "allowed"
    except Exception as e:
        box["update"] = f"{type(e).__name__}: {str(e)[:300]}"
    d = blocks[2]
    sys.xn_alloc(rgood, d, 0)
    sys.xn_update(rgood, blocks[1], 0, d.to_bytes(4, "little"), gain=[d])
    box["good"] = True


s.kernel.create_env(main, "attacker", 1)
s.run()
ran = {}
s.kernel.create_env(lambda sys: ran.update(null=sys.null() is None), "bystander", 1)
s.run()
print(json.dumps({"update": box.get("update"), "good": box.get("good"),
                  "xn": s.kernel.xn.check(), "bystander": ran.get("null"),
                  "maxrss_mb": peak_mb()}))
'''


def script(attack: str, budget: int = 5_000) -> str:
    """The attack script for UDF source ``attack`` registered with ``budget`` ticks."""
    return FRAME % {"attack": json.dumps(attack), "budget": budget}

"""A bad extension: it tries to climb from an argument to the kernel's globals.

`exospin spin check examples/spin/snoop.py` rejects it; docs/verifier.md
explains each line.
"""

import os
from spin import Trap


def handler(number, args):
    kernel = args.__class__.__init__.__globals__
    frame = args.gi_frame
    kind = type(args)
    return "{0.__class__}".format(args), kernel, frame, kind


def forever(number, args):
    while True:
        try:
            pass
        except:
            pass


def install():
    return Trap.install(handler), os

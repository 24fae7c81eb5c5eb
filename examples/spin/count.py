# examples/spin/count.py: a SPIN extension that answers system call 64 with a count
from spin import Trap

calls = [0]

def count(number, args):       # runs in the kernel, at the cost of a call
    calls[0] = calls[0] + 1
    return calls[0]

def install():
    Trap.claim(64, count)      # system call 64 is ours; the trap's authority refuses it to others

# examples/hello.py: a posix application; it runs unchanged on aegis, spin and unix
import sys

from exospin import posix
from exospin.systems import boot

def child(w):
    posix.write(w, b"hello from %d" % posix.getpid())
    return 0

def main(argv):
    r, w = posix.pipe()
    pid = posix.fork(child, w)       # the child runs child(w) in a copy-on-write copy
    print(posix.read(r, 100), posix.wait(pid))
    return 0

system = boot(sys.argv[1] if len(sys.argv) > 1 else "aegis")   # Aegis with ExOS; or spin, unix
system.start(main)
system.run()

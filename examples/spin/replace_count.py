# examples/spin/replace_count.py: load count.py into SPIN, call it, replace it at run time
from pathlib import Path

from exospin.systems import boot

source = (Path(__file__).parent / "count.py").read_text()
s = boot("spin")
d = s.kernel.load(source, "count.py")
print(s.kernel.syscall(64))    # 1
print(s.kernel.syscall(64))    # 2
d = s.kernel.replace(d, source.replace("+ 1", "+ 10"))   # a new version in its place, at run time
print(s.kernel.syscall(64))    # 10: the new version's own state

"""Library operating systems for Aegis, in user space.

They reach the machine only through Aegis' public interface (the
``Syscalls`` object handed to an environment's ``main``).
"""

from .minimal import PTE, MiniOS, MiniOSStats

__all__ = ["MiniOS", "MiniOSStats", "PTE"]

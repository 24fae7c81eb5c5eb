"""exospin: an extensible-kernel laboratory.

Aegis with its library OS ExOS, SPIN and a monolithic Unix boot on one
deterministic simulated machine, so that the designs of the two SOSP 1995
papers can be run, extended and measured side by side.
"""

__version__ = "0.1.0"

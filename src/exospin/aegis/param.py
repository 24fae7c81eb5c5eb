"""Aegis tunables, in one place (xv6's param.h). Each is a kernel policy knob, not a hardware cost."""

#: Positions in the processor's time-slice vector (round-robin over it).
NSLICES = 64
#: Length of one time slice in microseconds of simulated time.
SLICE_US = 500.0
#: Time an epilogue may take before the overrun is charged as excess, in microseconds.
EPILOGUE_BOUND_US = 20.0
#: Consecutive overrunning epilogues after which an environment is destroyed.
MAX_STRIKES = 3
#: Entries in the software TLB (Aegis: "thousands"; direct-mapped).
STLB_ENTRIES = 4096
#: Environments that may exist at once (bounded by the 6-bit ASID space, less ASID 0).
MAX_ENVS = 63
#: Protected entry points per environment.
MAX_ENTRIES = 16
#: Guaranteed mappings per environment (its addressing context for its handlers).
MAX_GUARANTEED = 8
#: Frames per environment that revocation never repossesses.
RESERVE_FRAMES = 2
#: How deeply exceptions may nest in one environment before it is destroyed.
MAX_EXC_NEST = 8
#: Revocation deadline: this many rotations over the occupied slices after the request.
REVOKE_ROTATIONS = 2

"""MSPclaw: the automation layer that sits above an MSP's PSA and RMM tools."""

import os as _os

# Triage does many tiny matrix products; multi-threaded BLAS makes them fight the event loop
# and the other processes for cores (measured: p99 52 ms threaded vs 10 ms single-threaded).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")

__version__ = "0.1.0"

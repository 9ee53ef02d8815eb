"""MSPclaw: the automation layer that sits above an MSP's PSA and RMM tools."""

__version__ = "0.1.0"

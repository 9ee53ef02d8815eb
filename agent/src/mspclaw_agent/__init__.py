"""mspclaw-agent: the small endpoint agent that runs allow-listed MSPclaw tools on a device."""

__version__ = "0.1.0"

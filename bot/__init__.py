"""secbot: keeps Harvester HCI clusters safe from certificate expiry and settings drift."""

__version__ = "0.1.0"

"""Value types shared by every layer: severities, snapshots, certificates, findings.

Nothing here does I/O or imports anything from ``bot`` outside this package.
"""

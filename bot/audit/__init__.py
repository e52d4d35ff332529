"""The tamper-evident audit log: a hash chain over every audited step (DESIGN.md "Audit").

``chain`` says how a record is hashed (canonical JSON, SHA-256, optional HMAC); ``log``
appends records in the caller's transaction, verifies the chain and exports it.
"""

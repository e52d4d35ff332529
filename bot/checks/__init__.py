"""Checks: pure functions of a Snapshot that yield Findings (no I/O, no clock).

``registry.builtin_checks()`` returns every built-in check; ``runner.run_checks`` applies
them to a snapshot and turns undecidable cases into UNKNOWN results.
"""

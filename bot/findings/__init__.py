"""Findings over time: the lifecycle diff (new / escalated / unchanged / resolved) and the
service that records a scan's findings in the store."""

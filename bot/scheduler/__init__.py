"""The scheduler: jobs built from config, one leader running them, claims in the database.

- ``jobs``: the job table (scan per cluster, digest, outbox, expiry) as ``JobSpec`` values
  with explicit-time-zone APScheduler triggers; nothing is pickled, nothing is persisted
  by APScheduler (reference/libraries.md §2.2, §6.5).
- ``slots``: which scheduled fire time a run belongs to, and the slot key claimed for it.
- ``runner``: runs one slot at most once across replicas (``job_claims`` row first),
  catches up missed slots after downtime, and runs a job by hand.
- ``leader``: who runs the jobs (PostgreSQL advisory lock, Kubernetes Lease, or the only
  replica) behind one ``LeaderGate`` interface.
- ``service``: the ``BackgroundScheduler`` (paused until this replica leads) and the
  leader loop of ``secbot serve``.

This package is the only importer of ``apscheduler``; it imports it inside functions, so
loading the CLI stays fast. Correctness never rests on the leader: two overlapping
leaders still run each slot once, because the claim is a unique row (DESIGN.md).
"""

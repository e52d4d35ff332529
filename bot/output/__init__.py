"""Renderers of a scan report: table (rich), JSON (``secbot.scan/v1``) and SARIF 2.1.0."""

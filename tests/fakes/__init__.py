"""Fakes of the services secbot talks to, for tests and benches.

kube_api.FakeKubeAPI is a real HTTP server that behaves like a kube-apiserver for the real
``kubernetes`` client; tls.FakeTLSEndpoint is a bare TLS listener for the live probe.
Import them from their modules (this package imports nothing, to keep test start-up cheap).
"""

"""The node agent (``secbot agent``): publishes a control-plane node's RKE2 PKI inventory
as a ConfigMap in the agent's own namespace (``publish``), every interval (``loop``)."""

"""The node agent (``secbot agent``): publishes a control-plane node's RKE2 PKI inventory
as a ConfigMap in the bot's namespace (``publish``), every interval (``loop``)."""

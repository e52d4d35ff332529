"""Sources: read one cluster (bundle, manifests, PKI folder, live API) into a Snapshot."""

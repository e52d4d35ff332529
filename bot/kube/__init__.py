"""The Kubernetes adapter: the only package that imports ``kubernetes``.

- ``bot.kube.client``: ``KubeClient`` (connect, version, list, get, patch, can_i,
  credentials), re-exporting ``KubeTarget``, ``Timeouts``, ``ClientCredentials`` and
  ``load_targets``.
- ``bot.kube.errors``: ``KubeError`` and its subclasses; library errors never escape.
- ``bot.kube.targets``: the clusters file; ``bot.kube.config``: kubeconfig reading;
  ``bot.kube.credentials``: what a kubeconfig authenticates with (no secrets kept).

Importing any of these modules does not import ``kubernetes`` (about a second); that
happens on the first ``KubeClient.connect``.
"""

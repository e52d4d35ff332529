"""The live reads of a Rancher management cluster (clusters-file ``role: rancher``).

Three subjects, each ending in exactly one coverage verdict (issue #8; reference/
harvester.md §3.4):

- ``cloud-credentials``: the Secrets of ``cattle-global-data``, listed page by page. That
  list cannot be narrowed by the server (cloud credential Secrets have no type or label
  of their own), so each Secret is reduced by ``rancher.cloud_credential`` the moment it
  arrives and dropped: only the token's name, the server and the display name stay.
- ``rancher-tokens``: one GET per token a credential names. Listing all tokens would
  bring every user's tokens into this process and needs a far wider permission. A 404
  for a named token means it is gone (the ``cloud-credential-token-missing`` signal) and
  is simply absent from ``rancher_tokens``; a token that could not be read for any other
  reason makes the subject ERROR, because "absent" would then be a false alarm.
- ``guest-clusters``: provisioning.cattle.io/v1 Clusters in all namespaces, whose
  ``cloudCredentialSecretName`` (cluster-wide or per machine pool) say which credential
  they use; MISSING when the type is not served.

Rancher settings (``kubeconfig-default-token-ttl-minutes``...) come from the list of
management.cattle.io/v3 Settings that ``live_reads`` makes for every cluster. Nothing here
raises a KubeError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.snapshot import CoverageStatus
from bot.kube.errors import KubeError, KubeForbidden, KubeNotFound, KubeUnauthorized
from bot.sources import rancher
from bot.sources.builder import SnapshotBuilder
from bot.sources.live_reads import ListSpec, read_list

if TYPE_CHECKING:
    from bot.kube.client import KubeClient

ROLE = "rancher"
MAX_LISTED = 10
GUEST_CLUSTERS = ListSpec(
    rancher.GUEST_CLUSTERS,
    rancher.CLUSTER_API_VERSION,
    "Cluster",
    "list clusters.provisioning.cattle.io in all namespaces",
)


def read_rancher(client: KubeClient, builder: SnapshotBuilder) -> None:
    """Cloud credentials, the tokens they name, and the guest clusters using them."""
    if read_cloud_credentials(client, builder):
        read_tokens(client, builder)
    else:
        builder.cover(
            rancher.TOKENS,
            CoverageStatus.MISSING,
            "not read: the cloud credentials that name the tokens could not be read",
        )
    read_list(client, builder, GUEST_CLUSTERS)


def read_cloud_credentials(client: KubeClient, builder: SnapshotBuilder) -> bool:
    """List cattle-global-data's Secrets into ``builder.cloud_credentials``; True if READ."""
    subject, what = rancher.CREDENTIALS, f"list secrets in {rancher.CREDENTIAL_NAMESPACE}"
    count = 0
    try:
        for item in client.list(
            api_version="v1", kind="Secret", namespace=rancher.CREDENTIAL_NAMESPACE
        ):
            count += 1
            cred = rancher.cloud_credential(item)
            del item  # the Secret's values go no further than this loop
            if cred is not None:
                builder.cloud_credentials.append(cred)
    except (KubeUnauthorized, KubeForbidden) as e:
        builder.cover(subject, CoverageStatus.FORBIDDEN, f"cannot {what}: {e}")
        return False
    except KubeNotFound as e:
        builder.cover(subject, CoverageStatus.MISSING, f"cannot {what}: {e}")
        return False
    except KubeError as e:
        after = f" (cut off after {count} secrets)" if count else ""
        builder.cover(subject, CoverageStatus.ERROR, f"cannot {what}: {e}{after}")
        return False
    builder.cover(subject, CoverageStatus.READ)
    return True


def _gone(error: KubeNotFound) -> bool:
    """A named object that does not exist (``tokens.management.cattle.io "x" not found``),
    as opposed to a resource type the server does not serve at all ("the server could not
    find the requested resource"): the apiserver's two 404 messages."""
    return '" not found' in error.message


def read_tokens(client: KubeClient, builder: SnapshotBuilder) -> None:
    """GET every token the credentials name into ``builder.rancher_tokens``."""
    names = sorted({c.token_name for c in builder.cloud_credentials if c.token_name})
    failed: list[str] = []
    for name in names:
        try:
            obj = client.get(api_version=rancher.TOKEN_API_VERSION, kind="Token", name=name)
        except KubeNotFound as e:
            if _gone(e):
                continue  # deleted or cleaned up after expiry: absent from rancher_tokens
            builder.cover(
                rancher.TOKENS,
                CoverageStatus.MISSING,
                f"Token ({rancher.TOKEN_API_VERSION}) is not served by this cluster: {e}",
            )
            return
        except (KubeUnauthorized, KubeForbidden) as e:
            # The same answer for every other token: asking again only adds requests.
            builder.cover(
                rancher.TOKENS,
                CoverageStatus.FORBIDDEN,
                f"cannot get tokens.management.cattle.io: {e}",
            )
            return
        except KubeError as e:
            failed.append(f"{name} ({e})")
            continue
        builder.rancher_tokens[name] = rancher.rancher_token(obj)
        del obj  # its ``token`` field (a hash, or on old Rancher the token) goes no further
    if failed:
        more = len(failed) - MAX_LISTED
        detail = "cannot get tokens.management.cattle.io: " + "; ".join(failed[:MAX_LISTED])
        builder.cover(
            rancher.TOKENS,
            CoverageStatus.ERROR,
            detail + (f"; and {more} more" if more > 0 else ""),
        )
        return
    builder.cover(rancher.TOKENS, CoverageStatus.READ)

"""Upstream's own three admission-control scenarios (kube-addons-test.sh), as pytest cases.

They drive the bootstrap helper the way upstream's test drove create_resource_from_string:
one call per step against a test namespace.
"""

from __future__ import annotations

import threading

import pytest

from kube_addons.kubectl import Kubectl
from kube_addons.logs import Log
from kube_addons.startup import Bootstrap
from tests.integration.addons import MODE, dump, get, manager_kubectl


def limit_range(name: str, mode: str, cpu: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": name, "labels": {MODE: mode}},
        "spec": {"limits": [{"type": "Container", "defaultRequest": {"cpu": cpu}}]},
    }


def cpu(kubectl, name, namespace) -> str:
    return get(kubectl, "limitrange", name, namespace)["spec"]["limits"][0]["defaultRequest"]["cpu"]


@pytest.fixture
def bootstrap(cluster, tmp_path):
    kubectl = Kubectl(manager_kubectl(cluster), [f"--kubeconfig={cluster.kubeconfig}"])
    log = Log()
    helper = Bootstrap(kubectl, log, threading.Event(), tries=10, delay=1)

    def apply(*objs: dict, namespace: str) -> bool:
        path = tmp_path / "limit-range.yaml"
        path.write_text(dump(*objs))
        return helper.run(str(path), namespace)

    return apply


def user_edit(kubectl, name, namespace, value):
    kubectl(
        "patch",
        "limitrange",
        name,
        "-n",
        namespace,
        "--type=json",
        "-p",
        f'[{{"op":"replace","path":"/spec/limits/0/defaultRequest/cpu","value":"{value}"}}]',
    )


def test_reconcile_mode(namespace, kubectl, bootstrap):
    assert bootstrap(limit_range("limits", "Reconcile", "100m"), namespace=namespace)
    assert cpu(kubectl, "limits", namespace) == "100m"
    assert bootstrap(limit_range("limits", "Reconcile", "50m"), namespace=namespace)
    assert cpu(kubectl, "limits", namespace) == "50m"
    user_edit(kubectl, "limits", namespace, "600m")
    assert bootstrap(limit_range("limits", "Reconcile", "50m"), namespace=namespace)
    assert cpu(kubectl, "limits", namespace) == "50m"


def test_ensure_exists_mode(namespace, kubectl, bootstrap):
    assert bootstrap(limit_range("limits", "EnsureExists", "100m"), namespace=namespace)
    assert cpu(kubectl, "limits", namespace) == "100m"
    assert bootstrap(limit_range("limits", "EnsureExists", "50m"), namespace=namespace)
    assert cpu(kubectl, "limits", namespace) == "100m"
    user_edit(kubectl, "limits", namespace, "600m")
    assert bootstrap(limit_range("limits", "EnsureExists", "50m"), namespace=namespace)
    assert cpu(kubectl, "limits", namespace) == "600m"
    kubectl("delete", "limitrange", "limits", "-n", namespace)
    assert bootstrap(limit_range("limits", "EnsureExists", "50m"), namespace=namespace)
    assert cpu(kubectl, "limits", namespace) == "50m"


def test_two_documents_mixing_modes(namespace, kubectl, bootstrap):
    def both(value):
        return (
            limit_range("limits", "EnsureExists", value),
            limit_range("limits2", "Reconcile", value),
        )

    assert bootstrap(*both("100m"), namespace=namespace)
    assert cpu(kubectl, "limits", namespace) == "100m"
    assert cpu(kubectl, "limits2", namespace) == "100m"
    assert bootstrap(*both("50m"), namespace=namespace)
    assert cpu(kubectl, "limits", namespace) == "100m"
    assert cpu(kubectl, "limits2", namespace) == "50m"
    user_edit(kubectl, "limits", namespace, "600m")
    user_edit(kubectl, "limits2", namespace, "600m")
    assert bootstrap(*both("50m"), namespace=namespace)
    assert cpu(kubectl, "limits", namespace) == "600m"
    assert cpu(kubectl, "limits2", namespace) == "50m"


def test_unlabelled_admission_object_is_never_created(namespace, kubectl, bootstrap):
    """v9.1.2+ quirk: without a mode label both steps see "no objects" and succeed."""
    obj = limit_range("plain", "Reconcile", "100m")
    del obj["metadata"]["labels"]
    assert bootstrap(obj, namespace=namespace)
    assert get(kubectl, "limitrange", "plain", namespace) is None

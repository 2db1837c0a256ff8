from __future__ import annotations

import pytest

from kube_addons.output import (
    Operation, Tally, drop_containing, error_lines, parse_operation, split_lines,
)

# Recorded from kubectl 1.9-era (quoted names) and 1.11+ (kind.group/name) runs.
OLD_ERA = '''deployment "heapster" configured
service "kube-dns" configured
configmap "kube-dns" created
serviceaccount "coredns" unchanged
configmap "old" pruned
'''
NEW_ERA = '''deployment.apps/heapster configured
service/kube-dns unchanged
configmap/kube-dns created
ingress.networking.k8s.io/web pruned
clusterrole.rbac.authorization.k8s.io/system:coredns unchanged
configmap/x configured (server dry run)
'''


@pytest.mark.parametrize("line,expected", [
    ('deployment "foo" configured', Operation("deployment", "foo", "configured")),
    ('limitrange "limits" created', Operation("limitrange", "limits", "created")),
    ("deployment.apps/foo configured", Operation("deployment.apps", "foo", "configured")),
    ("namespace/kube-system unchanged", Operation("namespace", "kube-system", "unchanged")),
    ("configmap/foo pruned", Operation("configmap", "foo", "pruned")),
    ("configmap/foo serverside-applied", Operation("configmap", "foo", "serverside-applied")),
    ("configmap/foo created (dry run)", Operation("configmap", "foo", "created", True)),
    ("configmap/foo pruned (server dry run)", Operation("configmap", "foo", "pruned", True)),
    ("error: no objects passed to apply", None),
    ('Error from server (AlreadyExists): error when creating "x.yaml": '
     'configmaps "a" already exists', None),
])
def test_parse_operation(line, expected):
    assert parse_operation(line) == expected


def test_tally_counts_both_eras():
    tally = Tally()
    tally.add_output(OLD_ERA)
    tally.add_output(NEW_ERA)
    assert tally.ops["configured"] == 4
    assert tally.ops["unchanged"] == 3
    assert tally.ops["created"] == 2
    assert tally.ops["pruned"] == 2
    tally.errors = 3
    assert tally.summary() == "created 2, configured 4, unchanged 3, pruned 2, errors 3"


def test_grep_v_configured_drops_both_eras_and_substrings():
    kept = drop_containing(OLD_ERA + NEW_ERA + "configmap/preconfigured created\n", "configured")
    assert kept == [
        'configmap "kube-dns" created', 'serviceaccount "coredns" unchanged',
        'configmap "old" pruned', "service/kube-dns unchanged", "configmap/kube-dns created",
        "ingress.networking.k8s.io/web pruned",
        "clusterrole.rbac.authorization.k8s.io/system:coredns unchanged",
    ]


def test_grep_v_already_exists():
    text = ('configmap/a created\nError from server (AlreadyExists): error when creating '
            '"/x/b.yaml": configmaps "b" already exists\n')
    assert drop_containing(text, "AlreadyExists") == ["configmap/a created"]


def test_split_lines_like_grep():
    assert split_lines("") == []
    assert split_lines("a\nb\n") == ["a", "b"]
    assert split_lines("a\nb") == ["a", "b"]
    assert split_lines("\n") == [""]


def test_error_lines_ignore_success_warnings_and_benign():
    text = (
        "configmap/a created\n"
        "Warning: resource configmaps/a is missing the kubectl.kubernetes.io/"
        "last-applied-configuration annotation\n"
        'Error from server (AlreadyExists): error when creating "f": '
        'configmaps "b" already exists\n'
        "error: no objects passed to create\n"
        'The ConfigMap "BAD" is invalid: metadata.name: Invalid value: "BAD"\n'
        "* metadata.name: a lowercase RFC 1123 subdomain\n"
    )
    assert error_lines(text, ("AlreadyExists", "no objects passed to")) == [
        'The ConfigMap "BAD" is invalid: metadata.name: Invalid value: "BAD"'
    ]

from __future__ import annotations

import os
import subprocess

import yaml

from kube_addons.maskdiff import AFTER, BEFORE, MASK, diff_dirs, mask_secrets, write_script

SECRET = {
    "apiVersion": "v1", "kind": "Secret",
    "metadata": {"name": "s", "annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": '{"stringData":{"p":"hunter2"}}'}},
}


def secret(data, annotation="hunter2"):
    obj = yaml.safe_load(yaml.safe_dump(SECRET))
    obj["data"] = data
    obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = (
        '{"stringData":{"p":"%s"}}' % annotation)
    return obj


def test_values_are_masked_but_changes_stay_visible():
    live, merged = mask_secrets(secret({"same": "YQ==", "changed": "Yg==", "gone": "Yw=="}),
                                secret({"same": "YQ==", "changed": "ZA==", "new": "ZQ=="},
                                       annotation="s3cret"))
    assert live["data"] == {"same": MASK, "changed": BEFORE, "gone": MASK}
    assert merged["data"] == {"same": MASK, "changed": AFTER, "new": MASK}
    annotation = "kubectl.kubernetes.io/last-applied-configuration"
    assert live["metadata"]["annotations"][annotation] == BEFORE
    assert merged["metadata"]["annotations"][annotation] == AFTER


def test_other_kinds_untouched():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}}
    assert mask_secrets(cm, cm) == (cm, cm)


def write(directory, name, obj):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "w") as handle:
        yaml.safe_dump(obj, handle)


def test_diff_dirs_never_prints_secret_values(tmp_path):
    live, merged = str(tmp_path / "LIVE-1"), str(tmp_path / "MERGED-2")
    write(live, "v1.Secret.ns.s", secret({"p": "aHVudGVyMg=="}))
    write(merged, "v1.Secret.ns.s", secret({"p": "czNjcmV0"}, annotation="s3cret"))
    write(live, "v1.ConfigMap.ns.c", {"kind": "ConfigMap", "data": {"k": "old"}})
    write(merged, "v1.ConfigMap.ns.c", {"kind": "ConfigMap", "data": {"k": "new"}})
    write(live, "v1.ConfigMap.ns.same", {"kind": "ConfigMap", "data": {"k": "v"}})
    write(merged, "v1.ConfigMap.ns.same", {"kind": "ConfigMap", "data": {"k": "v"}})
    text = "".join(diff_dirs(live, merged))
    for secret_text in ("hunter2", "s3cret", "aHVudGVyMg", "czNjcmV0"):
        assert secret_text not in text
    assert "diff -u -N live/v1.ConfigMap.ns.c merged/v1.ConfigMap.ns.c" in text
    assert "-  k: old\n+  k: new\n" in text
    assert "v1.ConfigMap.ns.same" not in text
    assert "*** (before)" in text and "*** (after)" in text


def test_the_script_kubectl_runs(tmp_path):
    live, merged = str(tmp_path / "L"), str(tmp_path / "M")
    write(live, "x", {"kind": "ConfigMap", "data": {"k": "a"}})
    write(merged, "x", {"kind": "ConfigMap", "data": {"k": "a"}})
    script = write_script(str(tmp_path))
    assert subprocess.run([script, live, merged, "-u", "-N"]).returncode == 0
    write(merged, "x", {"kind": "ConfigMap", "data": {"k": "b"}})
    done = subprocess.run([script, live, merged], capture_output=True, text=True)
    assert done.returncode == 1 and "+  k: b" in done.stdout

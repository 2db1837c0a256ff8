from __future__ import annotations

import os
import threading
import time

import pytest

from kube_addons.watch import POLLING, WATCHDOG, Watcher, fingerprint


def test_fingerprint_sees_content_names_and_links(tmp_path):
    (tmp_path / "a.yaml").write_text("a: 1\n")
    before = fingerprint(str(tmp_path))
    (tmp_path / "a.yaml").write_text("a: 22\n")
    assert fingerprint(str(tmp_path)) != before
    data = tmp_path / "..2026_01"
    data.mkdir()
    (data / "b.yaml").write_text("b\n")
    os.symlink(str(data), str(tmp_path / "..data"))
    linked = fingerprint(str(tmp_path))
    (data / "b.yaml").write_text("bb\n")
    assert fingerprint(str(tmp_path)) != linked
    assert fingerprint(str(tmp_path / "missing")) == ()


class Counter:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.event = threading.Event()

    def __call__(self) -> None:
        self.times.append(time.monotonic())
        self.event.set()

    def wait(self, timeout: float = 5.0) -> bool:
        fired = self.event.wait(timeout)
        self.event.clear()
        return fired


@pytest.fixture(params=[True, False], ids=[WATCHDOG, POLLING])
def watched(request, tmp_path):
    root = tmp_path / "addons"
    root.mkdir()
    counter = Counter()
    watcher = Watcher(str(root), counter, use_watchdog=request.param, debounce=0.2,
                      poll_interval=0.2)
    mode = watcher.start()
    assert mode == (WATCHDOG if request.param else POLLING)
    yield root, counter
    watcher.stop()


def test_create_write_rename_delete_each_trigger(watched):
    root, counter = watched
    path = root / "a.yaml"
    start = time.monotonic()
    path.write_text("a: 1\n")
    assert counter.wait()
    assert counter.times[-1] - start < 2.0
    path.write_text("a: 2\n")
    assert counter.wait()
    path.rename(root / "b.yaml")
    assert counter.wait()
    (root / "b.yaml").unlink()
    assert counter.wait()


def test_a_burst_is_one_trigger_and_reads_are_none(watched):
    root, counter = watched
    for i in range(5):
        (root / f"f{i}.yaml").write_text("x\n")
        time.sleep(0.02)
    assert counter.wait()
    time.sleep(0.8)
    assert len(counter.times) == 1
    (root / "f0.yaml").read_text()  # kubectl reading during a pass
    time.sleep(0.8)
    assert len(counter.times) == 1


def test_missing_directory_falls_back_to_polling(tmp_path):
    counter = Counter()
    watcher = Watcher(str(tmp_path / "later"), counter, debounce=0.1, poll_interval=0.1)
    assert watcher.start() == POLLING
    assert "cannot watch" in watcher.reason
    try:
        (tmp_path / "later").mkdir()
        (tmp_path / "later" / "a.yaml").write_text("a\n")
        assert counter.wait()
    finally:
        watcher.stop()

from __future__ import annotations

import io

import pytest

from kube_addons.logs import Log
from tests.unit.fake_kubectl import FakeKubectl


@pytest.fixture
def fake(tmp_path) -> FakeKubectl:
    root = tmp_path / "fake"
    root.mkdir()
    return FakeKubectl(root)


class CapturedLog(Log):
    """Both streams into one buffer, like the pod's log file."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        super().__init__(self.buffer, self.buffer)

    @property
    def text(self) -> str:
        return self.buffer.getvalue()


@pytest.fixture
def log() -> CapturedLog:
    return CapturedLog()

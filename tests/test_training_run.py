"""Shared trainer plumbing: signals end a run at a step boundary, bad configs end in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

pytest.importorskip("torch")

from ocrforge.training.run import StopOnSignal  # noqa: E402


def test_stop_on_signal_records_sigterm_and_restores_the_handler():
    before = signal.getsignal(signal.SIGTERM)
    with StopOnSignal() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)  # would end the test process without the context
        assert stop.requested
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("kind", ["det", "rec"])
def test_train_with_an_unusable_config_is_one_line_and_exit_2(kind, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("no_such_option: 3\n")
    for cfg in (bad, tmp_path / "missing.yaml"):
        r = subprocess.run([sys.executable, "-m", "ocrforge.cli", "train", kind, "--config", str(cfg)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().count("\n") == 0 and "cannot use config" in r.stderr
        assert "Traceback" not in r.stderr


def test_tensorboard_without_its_package_is_a_config_error(tmp_path, monkeypatch):
    from ocrforge.errors import ConfigError
    from ocrforge.training.run import ScalarLog

    ScalarLog(tmp_path, enabled=False).scalars(1, "train", {"loss": 1.0})  # off: writes nothing, needs nothing
    assert not (tmp_path / "tb").exists()
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    with pytest.raises(ConfigError, match="tensorboard package"):
        ScalarLog(tmp_path, enabled=True)

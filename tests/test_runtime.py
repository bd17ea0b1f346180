"""ocrforge.runtime: shared ONNX Runtime sessions, provider choice, dynamic batcher."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import numpy as np
import pytest

from ocrforge.errors import ConfigError, ModelError
from ocrforge.runtime import (
    BatcherClosedError,
    BatcherConfig,
    BatcherFullError,
    DynamicBatcher,
    choose_providers,
    clear_session_cache,
    create_session,
    fp16_variant,
    resolve_model_path,
    session_cache_info,
    width_bucket,
)

onnx = pytest.importorskip("onnx")


def _write_add_model(path, constant: float) -> None:
    """A model computing y = x + constant, so tests can tell which file a session loaded."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])
    c = helper.make_tensor("c", TensorProto.FLOAT, [1], [constant])
    graph = helper.make_graph([helper.make_node("Add", ["x", "c"], ["y"])], "add", [x], [y], [c])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.fixture
def add_model(tmp_path):
    clear_session_cache()
    path = tmp_path / "rec_test.onnx"
    _write_add_model(path, 1.0)
    yield path
    clear_session_cache()


def test_session_runs_and_is_shared_per_path_and_threads(add_model, tmp_path):
    s1 = create_session(add_model, threads=1, providers="cpu")
    out = s1.run(None, {"x": np.zeros((2, 3), np.float32)})[0]
    np.testing.assert_allclose(out, np.ones((2, 3)))
    # Same file reached through another spelling of the path: same session, no second load.
    other_spelling = tmp_path / "sub" / ".." / add_model.name
    (tmp_path / "sub").mkdir()
    assert create_session(other_spelling, threads=1, providers="cpu") is s1
    assert create_session(add_model, threads=2, providers="cpu") is not s1
    assert session_cache_info()["size"] == 2


def test_session_sharing_across_threads_loads_once(add_model):
    sessions = []

    def worker():
        sessions.append(create_session(add_model, threads=1, providers="cpu"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in sessions}) == 1
    assert session_cache_info()["misses"] == 1


def test_replaced_model_file_loads_afresh(add_model):
    s1 = create_session(add_model, threads=1, providers="cpu")
    time.sleep(0.01)
    _write_add_model(add_model, 5.0)
    os.utime(add_model, ns=(time.time_ns(), time.time_ns() + 10**9))
    s2 = create_session(add_model, threads=1, providers="cpu")
    assert s2 is not s1
    np.testing.assert_allclose(s2.run(None, {"x": np.zeros((1, 3), np.float32)})[0], np.full((1, 3), 5.0))


def test_missing_or_broken_model_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        create_session(tmp_path / "nope.onnx", providers="cpu")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(ModelError, match="cannot load"):
        create_session(bad, providers="cpu")
    with pytest.raises(ConfigError):
        create_session(bad, threads=-1, providers="cpu")


@pytest.mark.parametrize(
    "available, requested, expected",
    [
        (["CPUExecutionProvider"], "auto", ("CPUExecutionProvider",)),
        (["AzureExecutionProvider", "CPUExecutionProvider"], "auto", ("CPUExecutionProvider",)),
        (["CUDAExecutionProvider", "CPUExecutionProvider"], "auto", ("CUDAExecutionProvider", "CPUExecutionProvider")),
        (["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"], "auto",
         ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")),
        (["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"], "cpu",
         ("CPUExecutionProvider",)),
        (["CUDAExecutionProvider", "CPUExecutionProvider"], "cuda", ("CUDAExecutionProvider", "CPUExecutionProvider")),
        (["CUDAExecutionProvider", "CPUExecutionProvider"], ["CUDAExecutionProvider"],
         ("CUDAExecutionProvider", "CPUExecutionProvider")),
    ],
)
def test_choose_providers(available, requested, expected):
    assert choose_providers(requested, available=available) == expected


def test_unavailable_provider_is_refused_not_silently_dropped():
    with pytest.raises(ConfigError, match="cuda"):
        choose_providers("cuda", available=["CPUExecutionProvider"])


def test_fp16_variant_only_for_gpu_providers(tmp_path):
    fp32 = tmp_path / "rec_x.onnx"
    fp32.write_bytes(b"")
    cuda = ("CUDAExecutionProvider", "CPUExecutionProvider")
    # No FP16 file: the FP32 one, whatever the provider.
    assert resolve_model_path(fp32, cuda) == fp32
    half = fp16_variant(fp32)
    assert half.name == "rec_x.fp16.onnx"
    half.write_bytes(b"")
    assert resolve_model_path(fp32, cuda) == half
    assert resolve_model_path(fp32, ("CPUExecutionProvider",)) == fp32


def test_width_bucket_groups_lines_by_resized_width():
    short = np.zeros((32, 60), np.uint8)  # 90 px at height 48
    similar = np.zeros((64, 110, 3), np.uint8)  # 82 px at height 48
    long = np.zeros((32, 400), np.uint8)  # 600 px at height 48
    assert width_bucket(short) == width_bucket(similar) == 128
    assert width_bucket(long) == 640
    assert width_bucket(np.zeros((1, 1), np.uint8)) == 64


# -- dynamic batcher ---------------------------------------------------------------------------

class _Recorder:
    """A batched function that doubles numbers and remembers the batches it saw.

    With ``hold_first``, the first call blocks until ``gate`` is set: the model is busy, and the
    test can make the other callers queue up behind it without relying on thread timing.
    """

    def __init__(self, delay_s: float = 0.0, hold_first: bool = False) -> None:
        self.batches = []
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.entered = threading.Event()
        self.gate = threading.Event()
        if not hold_first:
            self.gate.set()

    def __call__(self, items):
        with self.lock:
            self.batches.append(list(items))
        self.entered.set()
        self.gate.wait(10)
        time.sleep(self.delay_s)
        return [2 * x for x in items]


def _callers_while_model_busy(batcher, fn, n):
    """Item 0 occupies the model; n-1 callers on their own threads arrive meanwhile."""
    first = batcher.submit(0)
    assert fn.entered.wait(10)
    results = {}

    def worker(v):
        results[v] = batcher.submit(v).result(timeout=10)

    threads = [threading.Thread(target=worker, args=(v,)) for v in range(1, n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while batcher.pending < n - 1 and time.monotonic() < deadline:
        time.sleep(0.001)
    fn.gate.set()
    for t in threads:
        t.join()
    results[0] = first.result(timeout=10)
    return results


def test_batches_requests_across_threads_and_keeps_results_with_their_callers():
    fn = _Recorder(hold_first=True)
    with DynamicBatcher(fn, BatcherConfig(max_batch_size=8, max_wait_ms=5)) as b:
        results = _callers_while_model_busy(b, fn, 40)
    assert results == {v: 2 * v for v in range(40)}
    assert sorted(x for batch in fn.batches for x in batch) == list(range(40))  # each item exactly once
    assert max(len(batch) for batch in fn.batches) <= 8
    # The 39 callers that queued while the model was busy went in full batches of 8.
    assert len(fn.batches) == 1 + 5


def test_throughput_grows_with_load():
    """More concurrent callers -> more items per model call (and a call costs about the same)."""

    def items_per_call(n_callers):
        fn = _Recorder(hold_first=True)
        with DynamicBatcher(fn, BatcherConfig(max_batch_size=32, max_wait_ms=2)) as b:
            _callers_while_model_busy(b, fn, n_callers)
        return n_callers / len(fn.batches)

    assert items_per_call(1) == 1.0
    assert items_per_call(4) == 2.0  # 1 + a batch of 3
    assert items_per_call(32) == 16.0  # 1 + a batch of 31


def test_lone_item_waits_at_most_about_max_wait():
    fn = _Recorder()
    with DynamicBatcher(fn, BatcherConfig(max_batch_size=64, max_wait_ms=50)) as b:
        t0 = time.monotonic()
        assert b.submit(3).result(timeout=5) == 6
        elapsed = time.monotonic() - t0
    assert 0.04 <= elapsed < 2.0  # waited for company, but not for a full batch that never comes


def test_full_batch_goes_without_waiting():
    fn = _Recorder()
    with DynamicBatcher(fn, BatcherConfig(max_batch_size=4, max_wait_ms=10_000)) as b:
        t0 = time.monotonic()
        assert b.map([1, 2, 3, 4], timeout=5) == [2, 4, 6, 8]
        assert time.monotonic() - t0 < 5
    assert fn.batches == [[1, 2, 3, 4]]


def test_buckets_never_mix():
    fn = _Recorder(hold_first=True)
    with DynamicBatcher(fn, BatcherConfig(max_batch_size=16, max_wait_ms=5), bucket_key=lambda x: x % 3) as b:
        results = _callers_while_model_busy(b, fn, 30)
    assert results == {v: 2 * v for v in range(30)}
    for batch in fn.batches:
        assert len({x % 3 for x in batch}) == 1
    assert len(fn.batches) == 1 + 3  # item 0 alone, then one batch per bucket


def test_exception_reaches_every_caller_of_the_batch_and_batcher_survives():
    calls = []

    def fn(items):
        calls.append(items)
        if any(x < 0 for x in items):
            raise ValueError("negative")
        return items

    with DynamicBatcher(fn, BatcherConfig(max_batch_size=4, max_wait_ms=10_000)) as b:
        futures = [b.submit(x) for x in (1, -1, 2, 3)]
        for f in futures:
            with pytest.raises(ValueError, match="negative"):
                f.result(timeout=5)
        assert b.map([5, 6, 7, 8], timeout=5) == [5, 6, 7, 8]


def test_wrong_result_count_is_an_error_not_a_hang():
    with DynamicBatcher(lambda items: items[:-1], BatcherConfig(max_batch_size=2, max_wait_ms=1)) as b:
        with pytest.raises(RuntimeError, match="1 results for 2 items"):
            b.map([1, 2], timeout=5)


def test_close_drains_pending_then_refuses():
    fn = _Recorder(delay_s=0.01)
    b = DynamicBatcher(fn, BatcherConfig(max_batch_size=4, max_wait_ms=60_000))
    futures = [b.submit(x) for x in range(6)]
    b.close()
    assert [f.result(timeout=0) for f in futures] == [0, 2, 4, 6, 8, 10]
    with pytest.raises(BatcherClosedError):
        b.submit(1)


def test_max_pending_sheds_load():
    gate = threading.Event()

    def fn(items):
        gate.wait(5)
        return items

    with DynamicBatcher(fn, BatcherConfig(max_batch_size=1, max_wait_ms=0, max_pending=2)) as b:
        first = b.submit(0)
        deadline = time.monotonic() + 5
        while b.pending and time.monotonic() < deadline:  # wait until the worker holds item 0
            time.sleep(0.001)
        queued = [b.submit(1), b.submit(2)]
        with pytest.raises(BatcherFullError):
            b.submit(3)
        gate.set()
        assert first.result(5) == 0 and [f.result(5) for f in queued] == [1, 2]


def test_several_workers_run_batches_concurrently():
    active = []
    peak = []
    lock = threading.Lock()

    def fn(items):
        with lock:
            active.append(1)
            peak.append(len(active))
        time.sleep(0.05)
        with lock:
            active.pop()
        return items

    with DynamicBatcher(fn, BatcherConfig(max_batch_size=1, max_wait_ms=0, workers=3)) as b:
        assert b.map(list(range(6)), timeout=5) == list(range(6))
    assert max(peak) >= 2


def test_asyncio_callers_share_batches():
    fn = _Recorder(delay_s=0.01)

    async def main(b):
        return await asyncio.gather(*(b.asubmit(i) for i in range(20)))

    # The whole gather is submitted from one event-loop step, well inside the 200 ms window.
    with DynamicBatcher(fn, BatcherConfig(max_batch_size=32, max_wait_ms=200)) as b:
        results = asyncio.run(main(b))
        assert asyncio.run(b.amap([1, 2])) == [2, 4]
    assert results == [2 * i for i in range(20)]
    assert len(fn.batches[0]) > 1


def test_bad_config_is_a_config_error():
    for kwargs in ({"max_batch_size": 0}, {"max_wait_ms": -1}, {"workers": 0}, {"max_pending": -1}):
        with pytest.raises(ConfigError):
            BatcherConfig(**kwargs)


def test_sessions_stop_spinning_when_a_run_ends(add_model):
    # The pipeline runs detector, orientation and recognizer sessions back to back on the same
    # cores; a pool left spinning after its run slows the next one (receipt p50 +30 %).
    options = create_session(add_model, threads=2, providers="cpu").get_session_options()
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"
    assert options.intra_op_num_threads == 2

"""Honest timing: warm-up apart, interleaved repeats, raw samples kept, noise flagged.

* The first call of every target is timed on its own (``first_call_s``) and never enters the
  steady state: for numba it holds the JIT compile or the cache load, for torch its lazy set-up.
* A sample is the mean of ``number`` back-to-back calls, ``number`` calibrated as pyperf and
  timeit do (doubled until ``number`` calls last :attr:`TimingPolicy.target_sample_s`, 50 ms;
  pyperf's samples last 100 ms, asv's 10 ms): a sample of a few fast calls is at the mercy of
  one scheduler tick or one wake-up of a sleeping thread, one of 50 ms averages them out. On
  the 2-core machine of the reports, 10 ms samples left 18% of the medians flagged noisy, 25 ms
  13%, 50 ms 1% (entropy, Adam and softmax, 1e3 to 1e6, both dtypes, one run each); a target
  still gets ``min_total_s`` of samples, so a run takes about as long. The quick policy keeps
  10 ms samples: it is a smoke run, not a published one. Calls that mutate their
  inputs are reset outside the timed region, before every run of as many calls as the case
  holds copies of its inputs (``calls_per_reset``: clip_grad_norm keeps up to 4 MiB of copies
  of its grads, see :mod:`kernbench.bench.cases`); a sample is the timed runs together
  (:func:`time_sample`).
* The garbage collector is off while a case is sampled (as in timeit and pyperf), so that a
  collection triggered by one target's allocations is not charged to whichever call runs next;
  it is collected before sampling starts and switched back on after.
* The process is not pinned to CPUs: the runner's threads are the libraries' own, over every CPU
  the process may use; its size (``usable_cpus``, from ``os.sched_getaffinity``) is recorded
  with the machine.
* Outliers are kept: every sample is stored, and every figure is a median, quartile or rank
  statistic, which a few interrupted samples do not move (see :mod:`kernbench.bench.stats`).
* Targets of one case (the backends and peers, same kernel, size and dtype) are sampled
  round-robin, one sample each per round, so that a slow drift of the machine (another job,
  thermal state, frequency) hits all of them alike instead of whichever ran last.
* A target stops once it has ``min_samples`` and ``min_total_s`` of samples, or ``max_samples``;
  while its samples are noisy (IQR / median past the threshold) it keeps sampling up to
  ``noisy_samples``, since a median of more samples is steadier on a shared machine. The whole
  case stops at ``case_budget_s`` once every target has ``min_samples``, and at twice that with
  whatever it has (the record says how many samples it got).
* Statistics: median, quartiles and IQR of the per-call times; ``noisy`` when
  IQR / median exceeds :attr:`TimingPolicy.noise_threshold`.

* Clocks: a host target is timed by the host's clock around calls that each wait for their
  result (:class:`HostClock`). A target computing on a GPU is timed by the device
  (:class:`EventClock`): two CUDA events on the default stream around calls queued back to back,
  without a wait between them, so the figure is the device's time for the work, not the
  host's round trips; its first call is still timed on the host, waiting for the device.

* Cache regime: the samples above are *warm*: repeated calls on the same arrays, which stay
  in the caches when they fit. A memory-bound kernel whose working set fits in the last-level
  cache is also sampled *cold* (:func:`sample_cold`): before each single timed call a buffer
  twice the last-level cache is written on every thread (:class:`CacheFlusher`), outside the
  timed region, so the call finds its arrays in DRAM, as it would with other work between
  calls. The threads are the operating system's to place, so a core's private cache may keep a
  small part of a small working set.

Compile time of the JIT backends is measured apart, in fresh subprocesses: see
:mod:`kernbench.bench.compile_probe`.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np


@dataclass(frozen=True)
class TimingPolicy:
    min_samples: int = 5
    max_samples: int = 60
    min_total_s: float = 0.2  # per target: at least this much measured time
    target_sample_s: float = 5e-2  # one sample lasts about this long (batching fast calls)
    max_calls_per_sample: int = 10_000
    case_budget_s: float = 8.0  # all targets of one case together
    noisy_samples: int = 15  # a noisy target keeps sampling up to this many samples
    noise_threshold: float = 0.10  # IQR / median above this flags a case as noisy
    call_timeout_s: float = 30.0  # a first call slower than this is recorded as a timeout
    cold_samples: int = 10  # samples with flushed caches, per target of a cold case
    cold_max_call_s: float = 0.02  # targets slower than this per call are not sampled cold
    cluster_sample_s: float = 0.25  # target_sample_s of the cluster backends (dask)

    def as_dict(self) -> dict:
        return asdict(self)

    def for_cluster(self) -> TimingPolicy:
        """This policy with the cluster backends' longer samples (``cluster_sample_s``).

        A call through a Dask cluster (scheduler, worker processes, their event loops) takes
        from 3 ms to 2 s here, and its latency jumps between a fast and a slow mode for tens
        of calls at a time; the mean of more calls per sample moves less with each switch.
        With 50 ms samples (one to a few calls) 61 of 163 dask medians of a full run were
        flagged noisy; with 0.25 s samples, 37 of 167
        (``kernbench run --preset full --backends numpy,dask --no-peers --no-compile``).

        A noisy cluster target still gets its extra samples (up to ``noisy_samples``): the IQR
        of five samples is two order statistics of a bimodal latency, often far off the
        latency's own. Without them 60 of 163 dask medians of a full run were flagged.
        """
        return replace(self, target_sample_s=max(self.target_sample_s, self.cluster_sample_s))


QUICK_POLICY = TimingPolicy(min_samples=5, max_samples=30, min_total_s=0.05, case_budget_s=3.0,
                            noisy_samples=5, cold_samples=7,  # quick: no extra samples for noise
                            target_sample_s=1e-2, cluster_sample_s=1e-2)
FULL_POLICY = TimingPolicy()


def collect_and_freeze() -> None:
    """Collect the garbage, then move every surviving object to the collector's permanent generation
    (``gc.freeze``), between cases: the next collection scans only what was made since. With
    numba's compiled kernels, torch and scipy loaded, a full collection of the runner's 250,000
    tracked objects took 0.17 s; three of them per case (before the warm and the cold samples,
    after the case) were 12.5 s of a 129 s run (``python -m cProfile -m kernbench run --preset
    full --kernels entropy,adam_step,softmax --backends python,numpy,numba-plain,numba
    --no-compile``). Survivors between cases are the run's own long-lived state (modules,
    compiled kernels, records), never a case's inputs; ``gc.unfreeze()`` at the end of a run
    hands them back to the collector."""
    gc.collect()
    gc.freeze()


def time_once(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def calls_per_sample(estimate_s: float, policy: TimingPolicy, needs_reset: bool) -> int:
    """Enough back-to-back calls that one sample lasts ``target_sample_s``; 1 if resets are due."""
    if needs_reset or estimate_s <= 0 or estimate_s >= policy.target_sample_s:
        return 1
    return int(min(policy.max_calls_per_sample, math.ceil(policy.target_sample_s / estimate_s)))


def is_noisy(samples: list[float], noise_threshold: float) -> bool:
    q1, median, q3 = np.percentile(np.asarray(samples, dtype=np.float64), [25, 50, 75])
    return bool(median > 0 and (q3 - q1) / median > noise_threshold)


def summarize(samples: list[float], noise_threshold: float) -> dict:
    """Median, quartiles, IQR, min and the noise flag of per-call times in seconds."""
    a = np.asarray(samples, dtype=np.float64)
    q1, median, q3 = (float(x) for x in np.percentile(a, [25, 50, 75]))
    iqr = q3 - q1
    return {"median_s": median, "q1_s": q1, "q3_s": q3, "iqr_s": iqr, "min_s": float(a.min()),
            "noisy": is_noisy(samples, noise_threshold)}


#: What timed a case's samples (the ``timer`` of a results record): the host's clock, CUDA
#: events, or the host's clock around launches that numba's CUDA simulator runs on the host.
TIMERS = ("host", "cuda-event", "simulator")


class HostClock:
    """The host's wall clock around ``number`` calls; each call waits for its own result."""

    timer = "host"
    on_device = False

    def time_calls(self, fn: Callable[[], object], number: int) -> float:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - start) / number


class EventClock:
    """Device time: an event recorded before ``number`` calls queued back to back and one after,
    read once the second has completed (so the calls themselves must not wait for the device).

    ``make_event`` returns a new event with ``record()``, ``synchronize()`` and
    ``elapsed_time(end)`` in milliseconds: ``numba.cuda.event`` and a
    ``torch.cuda.Event(enable_timing=True)`` factory both fit. ``simulated``: the events are
    numba's CUDA simulator's, which carry no time; the simulator runs every launch on the host
    before returning, so the host's clock between the two records stands in for the device's.
    """

    on_device = True

    def __init__(self, make_event: Callable[[], object], simulated: bool = False):
        self.make_event = make_event
        self.simulated = simulated
        self.timer = "simulator" if simulated else "cuda-event"

    def time_calls(self, fn: Callable[[], object], number: int) -> float:
        begin, end = self.make_event(), self.make_event()
        host_start = time.perf_counter()
        begin.record()
        for _ in range(number):
            fn()
        end.record()
        end.synchronize()
        host_s = time.perf_counter() - host_start
        if self.simulated:
            return host_s / number
        elapsed_ms = float(begin.elapsed_time(end))
        if not elapsed_ms >= 0.0:  # also NaN
            raise RuntimeError(f"the device events gave an elapsed time of {elapsed_ms!r} ms")
        return elapsed_ms / 1e3 / number


HOST_CLOCK = HostClock()


@dataclass
class Contestant:
    """One target of a case, warmed up and ready: its callable and how to sample it.

    With a device clock, ``fn`` is the call that does not wait for the device (the clock's
    events bracket the queued calls); with the host clock it is the call that waits.
    """

    name: str
    fn: Callable[[], object]
    number: int  # calls per sample
    samples: list  # seconds per call, one entry per sample
    error: str | None = None  # set when a call raised while being timed
    clock: HostClock | EventClock = HOST_CLOCK

    def measured_s(self) -> float:
        return sum(self.samples) * self.number


def warm_up(fn: Callable[[], object], policy: TimingPolicy, needs_reset: bool,
            reset: Callable[[], None]) -> tuple[float, float, int]:
    """Call twice (the first call holds any JIT or lazy set-up); return first, estimate, number.

    ``number`` is the calls per sample: as many as fill ``target_sample_s`` by the estimate for
    a case that needs resets (:func:`time_sample` splits them into runs between resets), else
    calibrated. Raises TimeoutError when the first call alone is past ``call_timeout_s``.
    """
    reset()
    first = time_once(fn)
    if first > policy.call_timeout_s:
        raise TimeoutError(f"first call took {first:.1f} s > {policy.call_timeout_s:.0f} s")
    reset()
    estimate = time_once(fn)
    reset()
    if needs_reset:
        return first, estimate, calls_per_sample(estimate, policy, needs_reset=False)
    if estimate >= policy.target_sample_s:
        return first, estimate, 1
    return first, estimate, calibrate_number(fn, policy, start=calls_per_sample(
        estimate, policy, needs_reset=False) // 8)


#: calibrate_number stops doubling once its calls last this fraction of ``target_sample_s``
#: (12.5 ms of a 50 ms sample: a thousand times the clock's resolution) and scales the count
#: from there.
CALIBRATION_FRACTION = 0.25


def calibrate_number(fn: Callable[[], object], policy: TimingPolicy, start: int = 1) -> int:
    """Calls per sample: doubled until that many back-to-back calls last a quarter of
    ``target_sample_s`` (:data:`CALIBRATION_FRACTION`), then scaled to the whole (the doubling
    of pyperf's and timeit's calibration); at most ``max_calls_per_sample``.

    ``start``: the first count tried, an eighth of what one timed call predicts (warm_up's
    estimate). Doubling from 1 up to a whole sample spent about two samples' time on each
    target of each case: 18.8 s of the 129 s run profiled in :func:`collect_and_freeze`.
    """
    number = max(1, min(int(start), policy.max_calls_per_sample))
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if (elapsed >= CALIBRATION_FRACTION * policy.target_sample_s
                or number >= policy.max_calls_per_sample):
            break
        number *= 2
    per_call = elapsed / number
    return max(1, calls_per_sample(per_call, policy, needs_reset=False))


def time_sample(c: Contestant, reset: Callable[[], None], needs_reset: bool,
                calls_per_reset: int = 1) -> float:
    """Seconds per call of one sample of ``c.number`` calls.

    A case whose calls mutate their inputs is reset before every run of at most
    ``calls_per_reset`` calls (the copies of its inputs it holds), outside the timed region,
    and the sample is the timed runs together: a sample of a fast clip_grad_norm lasts
    ``target_sample_s`` like any other. With one run of at most 4 MiB of copies per sample
    (a 30 us call: five calls, 150 us), the clip cases were a fifth of a full run's noise
    flags. A clock that takes its samples in another process (``resets_itself``) resets there.
    """
    if not needs_reset or getattr(c.clock, "resets_itself", False):
        if needs_reset:
            reset()
        return c.clock.time_calls(c.fn, c.number)
    total, left = 0.0, c.number
    while left > 0:
        k = min(left, max(1, calls_per_reset))
        reset()
        total += c.clock.time_calls(c.fn, k) * k
        left -= k
    return total / c.number


def sample_interleaved(contestants: list[Contestant], policy: TimingPolicy,
                       reset: Callable[[], None], needs_reset: bool,
                       calls_per_reset: int = 1) -> None:
    """Fill each contestant's ``samples``, one sample per contestant per round (round-robin);
    see :func:`time_sample` for the resets."""
    start = time.perf_counter()

    def satisfied(c: Contestant) -> bool:
        enough = len(c.samples) >= policy.min_samples
        if len(c.samples) >= policy.max_samples:
            return True
        elapsed = time.perf_counter() - start
        if enough and c.measured_s() >= policy.min_total_s:
            still_noisy = (len(c.samples) < policy.noisy_samples
                           and elapsed <= policy.case_budget_s
                           and is_noisy(c.samples, policy.noise_threshold))
            return not still_noisy
        if enough and elapsed > policy.case_budget_s:
            return True
        return bool(c.samples) and elapsed > 2 * policy.case_budget_s

    active = list(contestants)
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        while active:
            for c in active:
                try:
                    c.samples.append(time_sample(c, reset, needs_reset, calls_per_reset))
                except Exception as exc:  # one target failing must not stop the others
                    c.error = f"{type(exc).__name__}: {exc}"
            active = [c for c in active if c.error is None and not satisfied(c)]
    finally:
        if was_enabled:
            gc.enable()


# ---------------------------------------------------------------------------- cold caches

def _parallel_increment():
    """A numba loop that increments a byte buffer on every thread (None without numba)."""
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(parallel=True, cache=True)
    def increment(buffer):
        for i in numba.prange(buffer.size):
            buffer[i] += 1

    return increment


class CacheFlusher:
    """Evicts a working set from the caches by writing a buffer ``factor`` times the
    last-level cache (every line of it, read and written back), outside any timed region.

    The buffer is written by numba's threads where numba is installed, so that every core's
    private L1 and L2 are swept along with the shared last-level cache (a single thread would
    leave the other cores' L2 holding part of a small working set); else by NumPy on one thread.
    """

    def __init__(self, llc_bytes: int, factor: int = 2):
        self.nbytes = int(llc_bytes) * factor
        self._buffer = np.zeros(self.nbytes, dtype=np.uint8)
        self._increment = _parallel_increment()
        self.how = "numba threads" if self._increment else "numpy, one thread"

    def __call__(self) -> None:
        if self._increment is not None:
            self._increment(self._buffer)
        else:
            np.add(self._buffer, 1, out=self._buffer)


def sample_cold(contestants: list[Contestant], samples: int, flush: Callable[[], None],
                reset: Callable[[], None], needs_reset: bool) -> dict:
    """One call per sample with the caches flushed before it, round-robin over the contestants
    (their warm ``samples`` untouched); return ``{name: [seconds, ...]}``. The flush and the
    reset are outside the timed region; a contestant that raises keeps what it had."""
    cold: dict = {c.name: [] for c in contestants}
    failed: set = set()
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(samples):
            for c in contestants:
                if c.name in failed:
                    continue
                if needs_reset:
                    reset()
                flush()
                try:
                    cold[c.name].append(c.clock.time_calls(c.fn, 1))
                except Exception:
                    failed.add(c.name)
    finally:
        if was_enabled:
            gc.enable()
    return cold

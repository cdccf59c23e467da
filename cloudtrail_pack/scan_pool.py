"""The worker processes of a scan (more than one file and one job): files handed out a few at a time,
results back in file order, a worker that dies costing only its file, and workers that never outlive the
scan. Imported only when a scan needs a pool."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Iterator

from .engine.plan import ScanPlan
from .scan_worker import FileResult, _Worker

_worker: _Worker | None = None
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _init_worker(plan: ScanPlan | _Worker, parent: int, spool_dir: str) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: no traceback per worker
    _end_with_parent(parent, spool_dir)
    _worker = plan if isinstance(plan, _Worker) else _Worker(plan, spool_dir)


def _end_with_parent(parent: int, spool_dir: str) -> None:
    """A worker never outlives the scan: SIGTERM (the parent's, or the kernel's when the parent dies, by
    any signal: PR_SET_PDEATHSIG) ends it at once, even while it waits on a pipe; once the parent is gone
    it removes the scan's spools too (a live parent reads them, then removes them itself). Where prctl is
    missing, or the worker's parent is a fork server, a thread watches the scan's pid instead."""
    direct = os.getppid() == parent

    def gone() -> bool:
        if _leader_dead(parent):
            return True
        if direct:
            return os.getppid() != parent
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            return True
        except OSError:
            pass
        return False

    def leave(*_) -> None:
        if gone():
            shutil.rmtree(spool_dir, ignore_errors=True)
        os._exit(128 + signal.SIGTERM)

    signal.signal(signal.SIGTERM, leave)
    watched = False
    if direct and sys.platform.startswith("linux"):
        try:
            watched = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM) == 0
        except (OSError, AttributeError):
            pass
    if gone():  # the parent died before this worker could ask to be told
        leave()
    if not watched:
        def watch() -> None:
            while not gone():
                time.sleep(0.5)
            leave()

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _leader_dead(pid: int) -> bool:
    """The scan's main thread has exited: its process is dying. A SIGKILLed parent's threads exit one by one, and
    the kernel sends PR_SET_PDEATHSIG when the thread that forked the worker (the main thread) exits, reparenting
    the worker to a thread of the same process that is still alive (kernel/exit.c, find_new_reaper and
    forget_original_parent): getppid() still names the parent then, though nobody will read the spools. The main
    thread of a live scan never exits first, so its /proc state Z (or X) means the scan is over."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            state = stat_file.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False  # no /proc, or the process is gone: the other checks decide
    return state in (b"Z", b"X")


def _scan_in_worker(path: str) -> FileResult:
    assert _worker is not None
    result = _worker.scan(path)
    if result.matches or result.counted or result.fallback:
        result.spill(_worker.spool_dir)  # one pickled frame per file is cheap; a large one would double in the pipe
    return result


def pooled(files: list[str], plan: ScanPlan, jobs: int) -> Iterator[FileResult]:
    """Each file's result, in file order, from `jobs` worker processes (scan._run says the rest)."""
    spool_dir = tempfile.mkdtemp(prefix="cloudtrail-scan-")
    pool = _pool(plan, jobs, spool_dir)
    pending: list[tuple[str, Future | None]] = []
    try:
        it = iter(files)
        for f in it:
            pending.append((f, _submit(pool, f)))
            if len(pending) >= jobs * 4:
                break
        while pending:
            path, future = pending.pop(0)
            try:
                if future is None:  # the pool was broken when it came
                    raise BrokenProcessPool(path)
                result = future.result()
            except BrokenProcessPool:  # this file, or one beside it, ended its worker
                result = _alone(path, plan, spool_dir)
            except Exception as e:  # the result could not come back (pickling...): this file's fault
                result = FileResult(path, error=f"cannot be scanned ({type(e).__name__}: {str(e)[:200]})")
            if getattr(pool, "_broken", False):  # a new pool for the files whose results were lost
                _stop(pool)
                pool.shutdown(wait=True, cancel_futures=True)
                pool = _pool(plan, jobs, spool_dir)
                pending = [(p, f if _succeeded(f) else _submit(pool, p)) for p, f in pending]
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt, _submit(pool, nxt)))
            yield result
    finally:
        if pending:  # stopped early (Ctrl-C, SIGTERM, a closed output): the files in flight are not waited for
            _stop(pool)
        pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(spool_dir, ignore_errors=True)  # spools of results never read


def _submit(pool: ProcessPoolExecutor, path: str) -> Future | None:
    try:
        return pool.submit(_scan_in_worker, path)
    except BrokenProcessPool:
        return None


def _succeeded(future: Future | None) -> bool:
    return future is not None and future.done() and not future.cancelled() and future.exception() is None


def _pool(plan: ScanPlan, jobs: int, spool_dir: str) -> ProcessPoolExecutor:
    """Forked workers inherit a `_Worker` built once here (its predicates are closures: they could not be
    pickled, and need not be); other start methods send the plan and each worker builds its own."""
    context = multiprocessing.get_context()
    prepared = _Worker(plan, spool_dir) if context.get_start_method() == "fork" else plan
    return ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker,
                               initargs=(prepared, os.getpid(), spool_dir))


def _stop(pool: ProcessPoolExecutor) -> None:
    """Ends a pool's workers now (ProcessPoolExecutor waits for the files they are scanning)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            process.terminate()
        except (OSError, ValueError, AttributeError):
            pass


def _alone(path: str, plan: ScanPlan, spool_dir: str) -> FileResult:
    """A file whose pool broke, scanned again in a pool of one worker: its result, or why it has none."""
    pool = _pool(plan, 1, spool_dir)
    try:
        return pool.submit(_scan_in_worker, path).result()
    except BrokenProcessPool:
        return FileResult(path, error="the worker process scanning it ended abruptly (killed, or out of memory); "
                                      "not scanned")
    except Exception as e:
        return FileResult(path, error=f"cannot be scanned ({type(e).__name__}: {str(e)[:200]})")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

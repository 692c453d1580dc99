"""LocalCluster: a coordinator and workers on this machine, from the built binaries, as child
processes in a directory of their own (the Python twin of client/local_cluster.h, for tests,
benchmarks and notebooks). Not thread-safe.

    with LocalCluster(binary_dir="build", work_dir=tmp) as cluster:
        cluster.add_worker()
        client = Client(cluster.address)
"""

import os
import select
import signal
import subprocess
import time


def find_binary(binary_dir, name):
    """The path of a built binary (coordinator/, worker/ or client/ under `binary_dir`)."""
    for sub in ("coordinator", "worker", "client", ""):
        path = os.path.join(binary_dir, sub, name)
        if os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(f"{name} not found under {binary_dir} (build it first)")


class LocalCluster:
    """Starts `sparsescale-coordinator` on 127.0.0.1 with a free port and a SQLite file in
    `work_dir`; add_worker() starts a `sparsescale-worker` against it. Logs go to
    work_dir/<name>.log. close() stops every child with SIGTERM (SIGKILL after `grace_s`)."""

    def __init__(self, binary_dir, work_dir, coordinator_args=(), start_timeout_s=30.0,
                 grace_s=10.0):
        self.binary_dir = binary_dir
        self.work_dir = work_dir
        self.grace_s = grace_s
        self.db_path = os.path.join(work_dir, "coordinator.db")
        self.workers = []
        argv = [find_binary(binary_dir, "sparsescale-coordinator"), "--db", self.db_path,
                "--listen", "127.0.0.1:0", *coordinator_args]
        self._log = open(os.path.join(work_dir, "coordinator.log"), "wb")
        self.coordinator = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._log)
        self.address = self._read_address(start_timeout_s)

    def _read_address(self, timeout_s):
        """Waits for the coordinator's "listening on HOST:PORT" line."""
        deadline = time.monotonic() + timeout_s
        out = self.coordinator.stdout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([out], [], [], deadline - time.monotonic())
            line = out.readline().decode() if ready else ""
            if line.startswith("listening on "):
                return line.split()[-1]
            if self.coordinator.poll() is not None:
                break
        self.close()
        with open(os.path.join(self.work_dir, "coordinator.log"), encoding="utf-8") as f:
            raise RuntimeError("the coordinator did not start serving:\n" + f.read()[-4000:])

    def add_worker(self, slots=1, threads=1, device="cpu"):
        """Starts one worker process; returns its index."""
        name = f"worker-{len(self.workers)}"
        argv = [find_binary(self.binary_dir, "sparsescale-worker"), "--coordinator",
                self.address, "--name", name, "--slots", str(slots), "--device", device,
                "--threads", str(threads), "--work-dir", os.path.join(self.work_dir, name)]
        log = open(os.path.join(self.work_dir, name + ".log"), "wb")
        self.workers.append(subprocess.Popen(argv, stdout=log, stderr=log,
                                             start_new_session=True))
        log.close()
        return len(self.workers) - 1

    def close(self):
        """Stops the workers, then the coordinator (SIGTERM, then SIGKILL after the grace)."""
        for process in [*self.workers, self.coordinator]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(self.grace_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.workers = []
        if self.coordinator.stdout is not None:
            self.coordinator.stdout.close()
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

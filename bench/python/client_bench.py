#!/usr/bin/env python3
"""The Python client's speed against the C++ CLI, in the same run on the same coordinator:
downloading a 10,000-point loss curve and exporting a 1,000-job sweep (20 points per job).

A fresh `sparsescale-coordinator` (port 0, temporary directory) is filled through the real
worker API by a stand-in worker in this script (register, lease, ReportPoints, CompleteJob; no
training). Each case is timed `--repeat` times (median reported) in three ways: the CLI as a
process (`sparsescale curve` / `sparsescale export`), the Python client as a process (python3
+ imports + the call, what a script pays), and the Python client's call inside a warm process
(what a notebook pays). The ratio is Python / CLI; the target is at most 3x. The time of
`python3 -c "import sparsescale"` is printed too: the fixed start-up cost in every Python
process figure.

Usage: PYTHONPATH=build/client/python /usr/bin/python3 bench/python/client_bench.py \
           --build build [--repeat 5]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from sparsescale import Client
from sparsescale.local_cluster import LocalCluster, find_binary
from sparsescale.v1 import coordinator_pb2 as pb
from sparsescale.v1 import coordinator_pb2_grpc as pb_grpc

CURVE_POINTS = 10_000
SWEEP_JOBS = 1_000
POINTS_PER_JOB = 20


def base_spec(tokens):
    return {"model": {"layers": 2, "width": 64, "heads": 4, "context": 32},
            "data": {"trainShards": ["data/bench.bin"], "batchSize": 4, "tokens": str(tokens)},
            "device": "cpu"}


def points(count):
    return [pb.LossPoint(step=s, tokens=s * 128, train_loss=5.0 / (1 + s) ** 0.1,
                         eval_loss=4.0 / (1 + s) ** 0.1 if s % 10 == 0 else None,
                         sparsity=0.5, lr=1e-3, nonzeros_paper=98304, nonzeros_exact=120000,
                         flops_dense=6e5 * s, flops_sparse=3e5 * s, wall_s=0.01 * s)
            for s in range(1, count + 1)]


class StandInWorker:
    """Leases jobs and reports points and completions through the WorkerService."""

    def __init__(self, address):
        self.stub = pb_grpc.WorkerServiceStub(Client(address)._channel)
        self.id = self.stub.RegisterWorker(pb.RegisterWorkerRequest(
            request_id="bench-register", name="bench",
            resources=pb.Resources(device_kind="cpu", slots=1024))).worker_id

    def lease_all(self):
        leases = []
        while True:
            got = self.stub.AcquireLease(pb.AcquireLeaseRequest(
                worker_id=self.id, wait_ms=0, free_slots=1024)).leases
            if not got:
                return leases
            leases.extend(got)

    def finish(self, lease, job_points):
        futures = []
        for begin in range(0, len(job_points), 5000):
            futures.append(self.stub.ReportPoints.future(pb.ReportPointsRequest(
                worker_id=self.id, job_id=lease.job_id, attempt=lease.attempt,
                points=job_points[begin:begin + 5000])))
            futures[-1].result()
        return self.stub.CompleteJob.future(pb.CompleteJobRequest(
            request_id=f"bench-complete-{lease.job_id}", worker_id=self.id,
            job_id=lease.job_id, attempt=lease.attempt, outcome=pb.JOB_STATE_SUCCEEDED,
            final_train_loss=3.0, final_eval_loss=3.1, steps=len(job_points)))


def fill(address):
    """One job with a 10,000-point curve, and a sweep of 1,000 finished jobs."""
    client, worker = Client(address), StandInWorker(address)
    job = client.submit(base_spec(CURVE_POINTS * 128)).job
    for lease in worker.lease_all():
        worker.finish(lease, points(CURVE_POINTS)).result()
    axes = {"nonzeros": [str(100_000 * k) for k in range(1, 11)],
            "sparsities": [k / 10 for k in range(10)],
            "tokens": [str(4096 * k) for k in range(1, 11)]}
    sweep = client.create_sweep(base_spec(4096), axes, name="bench").sweep
    job_points = points(POINTS_PER_JOB)
    done = [worker.finish(lease, job_points) for lease in worker.lease_all()]
    for future in done:
        future.result()
    assert len(sweep.job_ids) == SWEEP_JOBS, len(sweep.job_ids)
    return job.id, sweep.id


def median_seconds(run, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_process(argv, env=None):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build", help="build folder with the binaries")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cli = find_binary(args.build, "sparsescale")
    env = dict(os.environ, PYTHONPATH=os.path.join(args.build, "client", "python"))
    with tempfile.TemporaryDirectory(prefix="sparsescale-pybench-") as tmp, \
            LocalCluster(args.build, tmp) as cluster:
        address = cluster.address
        job_id, sweep_id = fill(address)
        client = Client(address, timeout=60)
        script = ("from sparsescale import Client; c = Client(%r, timeout=60); " % address)
        out = os.path.join(tmp, "export.csv")
        cases = {
            f"curve ({CURVE_POINTS} points)": (
                [cli, "curve", job_id, "--coordinator", address],
                [sys.executable, "-c", script + f"c.curve({job_id!r})"],
                lambda: client.curve(job_id)),
            f"export ({SWEEP_JOBS} jobs x {POINTS_PER_JOB} points)": (
                [cli, "export", "--sweep", sweep_id, "--out", out, "--coordinator", address],
                [sys.executable, "-c", script + f"c.export({sweep_id!r}, out={out!r})"],
                lambda: client.export(sweep_id, out=out)),
        }
        import_s = median_seconds(
            lambda: run_process([sys.executable, "-c", "import sparsescale"], env), args.repeat)
        print(f"python3 -c 'import sparsescale' (the fixed cost of a Python process): "
              f"{import_s:.3f} s")
        print(f"{'case':<36} {'CLI s':>8} {'py proc s':>10} {'py call s':>10} "
              f"{'proc/CLI':>9} {'call/CLI':>9}")
        for name, (cli_argv, py_argv, call) in cases.items():
            run_process(cli_argv)  # warm the coordinator's caches once for both
            cli_s = median_seconds(lambda: run_process(cli_argv), args.repeat)
            proc_s = median_seconds(lambda: run_process(py_argv, env), args.repeat)
            call_s = median_seconds(call, args.repeat)
            print(f"{name:<36} {cli_s:8.3f} {proc_s:10.3f} {call_s:10.3f} "
                  f"{proc_s / cli_s:8.2f}x {call_s / cli_s:8.2f}x")


if __name__ == "__main__":
    main()

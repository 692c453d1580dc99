"""The Python client against a real coordinator and a real worker (child processes, a SQLite
file and shards in a temporary directory): a small sweep end to end, results, errors, and the
generic gRPC services (health, reflection). Needs the built binaries (SPARSESCALE_BINARY_DIR)
and data/corpus/web.txt (SPARSESCALE_SOURCE_DIR)."""

import os
import subprocess
import sys
import tempfile
import unittest

import grpc
import numpy as np
from google.protobuf import descriptor_pb2

from sparsescale import Client, SparsescaleError
from sparsescale.ext import health_pb2, health_pb2_grpc, reflection_pb2, reflection_pb2_grpc
from sparsescale.local_cluster import LocalCluster, find_binary

BINARY_DIR = os.environ.get("SPARSESCALE_BINARY_DIR", "build")
SOURCE_DIR = os.environ.get("SPARSESCALE_SOURCE_DIR", ".")
STEPS = 16


def prepare_shards(work_dir):
    """Byte-level shards of the corpus' first 200 KB, made by `sparsescale prepare`."""
    with open(os.path.join(SOURCE_DIR, "data/corpus/web.txt"), "rb") as f:
        text = f.read(200_000)
    slice_path = os.path.join(work_dir, "corpus.txt")
    with open(slice_path, "wb") as f:
        f.write(text)
    out = os.path.join(work_dir, "shards")
    subprocess.run([find_binary(BINARY_DIR, "sparsescale"), "prepare", "--input", slice_path,
                    "--out", out, "--eval-fraction", "0.1"], check=True, capture_output=True)
    return out


def tiny_spec(shards, steps=STEPS, seed=1):
    """A one-layer width-16 model: a job of 16 steps takes about a second on one CPU."""
    return {
        "name": "python e2e",
        "model": {"layers": 1, "width": 16, "heads": 2, "context": 32},
        "data": {"trainShards": [shards + "/train_*.bin"],
                 "evalShards": [shards + "/val_000000.bin"],
                 "batchSize": 4, "tokens": str(steps * 4 * 32), "evalIntervalSteps": 4,
                 "evalBatches": 2},
        "checkpoint": {"intervalSteps": 8},
        "logIntervalSteps": 1, "seed": str(seed), "device": "cpu", "threads": 1,
    }


class PythonClientEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="sparsescale-py-")
        cls.shards = prepare_shards(cls.tmp.name)
        cls.cluster = LocalCluster(BINARY_DIR, cls.tmp.name)
        cls.cluster.add_worker(slots=2)
        cls.client = Client(cls.cluster.address, timeout=30)
        # The sweep every result test reads: 2 sizes x 2 sparsities x 2 token budgets = 8 cells,
        # one more than the law's 7 coefficients.
        axes = {"nonzeros": ["3072", "6144"], "sparsities": [0.0, 0.5],
                "tokens": [str(STEPS * 4 * 32), str(2 * STEPS * 4 * 32)]}
        cls.sweep = cls.client.create_sweep(tiny_spec(cls.shards), axes, name="py-e2e").sweep
        cls.events = {job_id: list(cls.client.watch(job_id)) for job_id in cls.sweep.job_ids}

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.cluster.close()
        cls.tmp.cleanup()

    def test_a_watched_sweep_ends_with_every_job_succeeded(self):
        self.assertEqual(len(self.sweep.job_ids), 8)
        for job_id, events in self.events.items():
            self.assertEqual(events[-1].job.state, 3, job_id)  # JOB_STATE_SUCCEEDED
            streamed = [p.step for e in events for p in e.points]
            self.assertEqual(streamed, sorted(streamed))
        jobs = self.client.list_jobs(self.sweep.id, states=["SUCCEEDED"])
        self.assertEqual(sorted(j.id for j in jobs), sorted(self.sweep.job_ids))

    def test_curve_has_one_row_per_step_in_proto_column_order(self):
        job = self.client.get_job(self.sweep.job_ids[0])
        curve = self.client.curve(job.id, as_frame=False)
        self.assertEqual(list(curve)[:3], ["step", "tokens", "train_loss"])
        self.assertEqual(curve["step"], list(range(1, job.total_steps + 1)))
        evaluated = [s for s, e in zip(curve["step"], curve["eval_loss"]) if e is not None]
        self.assertIn(job.total_steps, evaluated)
        self.assertLess(len(evaluated), len(curve["step"]))

    def test_curve_as_a_dataframe_has_nan_where_no_eval_ran(self):
        import pandas  # installed by deploy/setup.sh (python3-pandas)
        job = self.client.get_job(self.sweep.job_ids[0])
        frame = self.client.curve(job.id)
        self.assertIsInstance(frame, pandas.DataFrame)
        columns = self.client.curve(job.id, as_frame=False)
        self.assertEqual(list(frame.columns), list(columns))
        self.assertEqual(frame["step"].tolist(), columns["step"])
        self.assertEqual(frame["eval_loss"].isna().tolist(),
                         [e is None for e in columns["eval_loss"]])

    def test_export_is_byte_identical_to_the_cli(self):
        out = os.path.join(self.tmp.name, "cli.csv")
        subprocess.run([find_binary(BINARY_DIR, "sparsescale"), "export", "--sweep",
                        self.sweep.id, "--out", out, "--coordinator", self.cluster.address],
                       check=True, capture_output=True)
        points, summary = self.client.export(self.sweep.id,
                                             out=os.path.join(self.tmp.name, "py.csv"))
        with open(out, encoding="utf-8") as f:
            self.assertEqual(points, f.read())
        with open(os.path.join(self.tmp.name, "cli.summary.csv"), encoding="utf-8") as f:
            self.assertEqual(summary, f.read())
        with open(os.path.join(self.tmp.name, "py.summary.csv"), encoding="utf-8") as f:
            self.assertEqual(summary, f.read())
        self.assertEqual(summary.count("\n"), 1 + 8)

    def test_fit_law_and_optimal_sparsity_answer_from_the_sweep(self):
        fit = self.client.fit_law(sweep_id=self.sweep.id, starts=20, seed=7)
        self.assertEqual(fit.runs, 8)
        self.assertTrue(fit.fit_id)
        optimum = self.client.optimal_sparsity(nonzeros=3072, compute=1e9, fit_id=fit.fit_id)
        self.assertGreaterEqual(optimum.sparsity, 0.0)
        self.assertLess(optimum.sparsity, 1.0)
        self.assertGreater(optimum.tokens, 0)

    def test_checkpoint_download_is_checked_and_parsed_to_numpy(self):
        job_id = self.sweep.job_ids[0]
        listed = self.client.list_checkpoints(job_id)
        self.assertTrue(listed)
        checkpoint = self.client.download_checkpoint(job_id)
        self.assertEqual(checkpoint.info.step, max(c.step for c in listed))
        self.assertEqual(len(checkpoint.data), checkpoint.info.size_bytes)
        self.assertTrue(checkpoint.tensors)
        floats = [a for a in checkpoint.tensors.values() if a.dtype == np.float32]
        self.assertTrue(floats)
        self.assertTrue(all(np.isfinite(a).all() for a in floats))

    def test_the_docs_example_study_runs_to_its_csv(self):
        script = os.path.join(SOURCE_DIR, "docs/examples/python_study.py")
        result = subprocess.run(
            [sys.executable, script, "--quick", "--coordinator", self.cluster.address,
             "--shards", self.shards], cwd=self.tmp.name, capture_output=True, text=True,
            env=dict(os.environ, MPLBACKEND="Agg"), timeout=180, check=False)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("12 new jobs", result.stdout)
        self.assertEqual(result.stdout.count("SUCCEEDED"), 12, result.stdout)
        with open(os.path.join(self.tmp.name, "python_study.summary.csv"), encoding="utf-8") as f:
            self.assertEqual(f.read().count("\n"), 1 + 12)

    def test_a_fit_on_too_few_runs_raises_invalid_argument_with_the_count(self):
        with self.assertRaises(SparsescaleError) as caught:
            self.client.fit_law(job_ids=self.sweep.job_ids[:4])
        self.assertEqual(caught.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("4 runs are too few", caught.exception.message)

    def test_unknown_job_raises_not_found_with_the_code(self):
        with self.assertRaises(SparsescaleError) as caught:
            self.client.get_job("no-such-job")
        self.assertEqual(caught.exception.code, grpc.StatusCode.NOT_FOUND)
        self.assertEqual(caught.exception.method, "GetJob")
        with self.assertRaises(SparsescaleError) as caught:
            self.client.curve("no-such-job")
        self.assertEqual(caught.exception.code, grpc.StatusCode.NOT_FOUND)

    def test_invalid_spec_raises_invalid_argument_naming_the_field(self):
        spec = tiny_spec(self.shards)
        spec["model"]["heads"] = 3  # width 16 is not divisible by 3
        with self.assertRaises(SparsescaleError) as caught:
            self.client.submit(spec)
        self.assertEqual(caught.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("heads", caught.exception.message)
        spec["model"]["hedas"] = 2  # refused before it is sent
        with self.assertRaises(SparsescaleError) as caught:
            self.client.submit(spec)
        self.assertIn("hedas", caught.exception.message)

    def test_submit_with_the_same_request_id_returns_the_first_answer(self):
        spec = tiny_spec(self.shards, steps=100_000, seed=99)
        first = self.client.submit(spec, request_id="py-e2e-submit-1")
        again = self.client.submit(spec, request_id="py-e2e-submit-1")
        self.assertTrue(first.created)
        self.assertEqual(again, first)
        cancelled = self.client.cancel_job(first.job.id)
        self.assertEqual(cancelled.id, first.job.id)
        final = list(self.client.watch(first.job.id))[-1].job
        self.assertEqual(final.state, 5)  # JOB_STATE_CANCELLED

    def test_a_cancelled_job_retried_from_python_is_queued_again_then_deleted(self):
        spec = tiny_spec(self.shards, steps=100_000, seed=98)
        job = self.client.submit(spec).job
        self.client.cancel_job(job.id)
        self.assertEqual(list(self.client.watch(job.id))[-1].job.state, 5)  # CANCELLED
        with self.assertRaises(SparsescaleError) as caught:
            self.client.set_job_priority(job.id, 3)
        self.assertEqual(caught.exception.code, grpc.StatusCode.FAILED_PRECONDITION)
        retried = self.client.retry_job(job.id)
        self.assertEqual(retried.id, job.id)
        self.assertEqual(retried.state, 1)  # QUEUED again, same cell
        with self.assertRaises(SparsescaleError) as caught:
            self.client.retry_job(job.id)  # not final any more
        self.assertEqual(caught.exception.code, grpc.StatusCode.FAILED_PRECONDITION)
        self.client.cancel_job(job.id)
        self.assertEqual(list(self.client.watch(job.id))[-1].job.state, 5)
        self.client.delete_job(job.id)
        with self.assertRaises(SparsescaleError) as caught:
            self.client.get_job(job.id)
        self.assertEqual(caught.exception.code, grpc.StatusCode.NOT_FOUND)

    def test_a_finished_jobs_log_holds_the_trainers_lines(self):
        job_id = self.sweep.job_ids[0]
        self.assertEqual(list(self.client.watch(job_id))[-1].job.state, 3)  # SUCCEEDED
        text = self.client.log_text(job_id)
        self.assertIn("done: final train loss", text)
        self.assertEqual(text, "".join(
            c.data.decode() for c in self.client.logs(job_id, attempt=1, follow=True)))

    def test_health_is_serving_for_the_server_and_both_services(self):
        self.assertEqual(self.client.health(), "SERVING")
        self.assertEqual(self.client.health("sparsescale.v1.ClientService"), "SERVING")
        self.assertEqual(self.client.health("sparsescale.v1.WorkerService"), "SERVING")
        with self.assertRaises(SparsescaleError) as caught:
            self.client.health("no.such.Service")
        self.assertEqual(caught.exception.code, grpc.StatusCode.NOT_FOUND)

    def test_reflection_lists_the_services_and_serves_their_descriptors(self):
        with grpc.insecure_channel(self.cluster.address) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            requests = [reflection_pb2.ServerReflectionRequest(list_services=""),
                        reflection_pb2.ServerReflectionRequest(
                            file_containing_symbol="sparsescale.v1.ClientService")]
            listed, files = list(stub.ServerReflectionInfo(iter(requests), timeout=10))
        names = {s.name for s in listed.list_services_response.service}
        self.assertLessEqual({"sparsescale.v1.ClientService", "sparsescale.v1.WorkerService",
                              "grpc.health.v1.Health"}, names)
        protos = [descriptor_pb2.FileDescriptorProto.FromString(b)
                  for b in files.file_descriptor_response.file_descriptor_proto]
        services = {s.name: s for p in protos for s in p.service}
        methods = {m.name: m.input_type for m in services["ClientService"].method}
        self.assertEqual(methods["SubmitJob"], ".sparsescale.v1.SubmitJobRequest")


class HealthWhileStopping(unittest.TestCase):
    def test_health_turns_not_serving_when_the_coordinator_stops(self):
        with tempfile.TemporaryDirectory(prefix="sparsescale-py-") as tmp:
            cluster = LocalCluster(BINARY_DIR, tmp)
            try:
                with grpc.insecure_channel(cluster.address) as channel:
                    stub = health_pb2_grpc.HealthStub(channel)
                    watch = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
                    self.assertEqual(next(watch).status, health_pb2.HealthCheckResponse.SERVING)
                    cluster.coordinator.terminate()
                    statuses = [r.status for r in _until_closed(watch)]
                self.assertIn(health_pb2.HealthCheckResponse.NOT_SERVING, statuses)
            finally:
                cluster.close()


def _until_closed(stream):
    """The stream's messages until the server ends or drops it."""
    try:
        yield from stream
    except grpc.RpcError:
        return


if __name__ == "__main__":
    unittest.main()

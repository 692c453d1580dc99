"""Client: the sparsescale.v1 ClientService from Python, one method per task.

Every call has a deadline (`timeout`, seconds; law fits get 8x) and raises SparsescaleError,
which keeps the gRPC status code and the coordinator's message. Mutating calls send a request
id (a fresh one unless the caller passes its own), so a retry with the same id is idempotent:
the coordinator answers it with the first answer. Results are the v1 protobuf messages
(`google.protobuf.json_format.MessageToDict` turns one into a dict), except curve() and
download_checkpoint(), which return data ready for analysis.

A Client may be shared by threads (a gRPC channel is thread-safe). Close it, or use it in a
`with` block, to release the channel.
"""

import os
import secrets

import grpc

from sparsescale.errors import SparsescaleError
from sparsescale.ext import health_pb2, health_pb2_grpc
from sparsescale.safetensors_reader import read_safetensors
from sparsescale.v1 import coordinator_pb2 as pb
from sparsescale.v1 import coordinator_pb2_grpc as pb_grpc
from sparsescale.v1 import job_pb2

# Modules only some calls need (json_format, csv_export, hashlib, json, numpy) are imported in
# those calls: a script that downloads one curve should not pay for them at start-up.
_MAX_MESSAGE_BYTES = 64 << 20  # the coordinator sends up to 64 MiB per message
_PAGE_SIZE = 1000


def new_request_id():
    """A fresh random request id ("py-" + 24 hex digits)."""
    return "py-" + secrets.token_hex(12)


def default_address():
    """SPARSESCALE_COORDINATOR from the environment, else 127.0.0.1:7070 (as the CLI)."""
    return os.environ.get("SPARSESCALE_COORDINATOR") or "127.0.0.1:7070"


class Checkpoint:
    """A downloaded checkpoint: `info` (its CheckpointInfo), `data` (the safetensors bytes,
    size and sha256 checked), and `tensors` (name -> numpy array) and `metadata` parsed from
    them (empty when not parsed)."""

    def __init__(self, info, data, tensors=None, metadata=None):
        self.info = info
        self.data = data
        self.tensors = tensors or {}
        self.metadata = metadata or {}

    def __repr__(self):
        return (f"Checkpoint(job_id={self.info.job_id!r}, step={self.info.step}, "
                f"bytes={len(self.data)}, tensors={len(self.tensors)})")


def _message(value, cls, what):
    """A message of type `cls` from a message, a dict or a JSON string. Unknown fields are
    refused (as the CLI's configs are) with INVALID_ARGUMENT naming `what` and the field."""
    if isinstance(value, cls):
        return value
    from google.protobuf import json_format  # noqa: PLC0415 (see _MAX_MESSAGE_BYTES)

    try:
        if isinstance(value, (str, bytes)):
            return json_format.Parse(value, cls())
        return json_format.ParseDict(value, cls())
    except json_format.ParseError as e:
        raise SparsescaleError(grpc.StatusCode.INVALID_ARGUMENT, f"{what}: {e}") from None


def _job_state(state):
    """A JobState value from a name ("succeeded", "JOB_STATE_SUCCEEDED") or a number."""
    if not isinstance(state, str):
        return int(state)
    name = state.upper()
    name = name if name.startswith("JOB_STATE_") else "JOB_STATE_" + name
    if name not in pb.JobState.keys():
        raise SparsescaleError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"states: unknown job state {state!r} (queued, running, "
                               "succeeded, failed or cancelled)")
    return pb.JobState.Value(name)


class Client:
    """A connection to one coordinator.

    address: "host:port". token: sent as `authorization: Bearer <token>` on every call
    (default: $SPARSESCALE_TOKEN, else the file $SPARSESCALE_TOKEN_FILE names).
    tls_ca: path of a PEM CA bundle (or its bytes); makes the channel TLS, verified against it
    (default: $SPARSESCALE_TLS_CA). timeout: deadline of every unary call, seconds.
    """

    def __init__(self, address=None, token=None, tls_ca=None, timeout=15.0):
        self.address = address or default_address()
        self.timeout = timeout
        if token is None:
            token = os.environ.get("SPARSESCALE_TOKEN")
        if token is None and os.environ.get("SPARSESCALE_TOKEN_FILE"):
            with open(os.environ["SPARSESCALE_TOKEN_FILE"], encoding="utf-8") as f:
                token = f.read().strip()
        if tls_ca is None:
            tls_ca = os.environ.get("SPARSESCALE_TLS_CA") or None
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        options = [("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
                   ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES)]
        if tls_ca is not None:
            ca = tls_ca
            if not isinstance(ca, bytes):
                with open(tls_ca, "rb") as f:
                    ca = f.read()
            credentials = grpc.ssl_channel_credentials(root_certificates=ca)
            self._channel = grpc.secure_channel(self.address, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(self.address, options=options)
        self._stub = pb_grpc.ClientServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- plumbing ------------------------------------------------------------------------------

    def _call(self, method, request, timeout=None, stub=None):
        rpc = getattr(stub or self._stub, method)
        try:
            return rpc(request, timeout=timeout or self.timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise SparsescaleError.from_rpc_error(e, method) from None

    def _stream(self, method, request):
        """Yields a server stream's messages; errors become SparsescaleError."""
        stream = getattr(self._stub, method)(request, metadata=self._metadata)
        try:
            yield from stream
        except grpc.RpcError as e:
            raise SparsescaleError.from_rpc_error(e, method) from None
        finally:
            stream.cancel()

    # -- sweeps and jobs -----------------------------------------------------------------------

    def create_sweep(self, base, axes, name="", priority=0, max_attempts=0, request_id=None):
        """Creates a sweep (one job per cell of `axes`) from a base JobSpec and SweepAxes, each
        a message, dict or JSON string. Returns the CreateSweepResponse."""
        request = pb.CreateSweepRequest(
            request_id=request_id or new_request_id(), name=name,
            base=_message(base, job_pb2.JobSpec, "base"), axes=_message(axes, pb.SweepAxes, "axes"),
            priority=priority, max_attempts=max_attempts)
        return self._call("CreateSweep", request)

    def get_sweep(self, sweep_id):
        return self._call("GetSweep", pb.GetSweepRequest(id=sweep_id))

    def list_sweeps(self):
        """Every sweep (pages through ListSweeps)."""
        sweeps, token = [], ""
        while True:
            page = self._call("ListSweeps", pb.ListSweepsRequest(page_size=_PAGE_SIZE,
                                                                 page_token=token))
            sweeps.extend(page.sweeps)
            token = page.next_page_token
            if not token:
                return sweeps

    def submit(self, spec, priority=0, max_attempts=0, request_id=None):
        """Submits one job (a JobSpec message, dict or JSON string). Returns the
        SubmitJobResponse; `created` is False when the identical cell already existed."""
        request = pb.SubmitJobRequest(request_id=request_id or new_request_id(),
                                      spec=_message(spec, job_pb2.JobSpec, "spec"),
                                      priority=priority, max_attempts=max_attempts)
        return self._call("SubmitJob", request)

    def get_job(self, job_id):
        return self._call("GetJob", pb.GetJobRequest(id=job_id))

    def list_jobs(self, sweep_id="", states=()):
        """Every job of a sweep ("" = all jobs), optionally only in `states` (names such as
        "SUCCEEDED" or JobState values). Pages through ListJobs."""
        jobs, token = [], ""
        wanted = [_job_state(s) for s in states]
        while True:
            page = self._call("ListJobs", pb.ListJobsRequest(
                sweep_id=sweep_id, states=wanted, page_size=_PAGE_SIZE, page_token=token))
            jobs.extend(page.jobs)
            token = page.next_page_token
            if not token:
                return jobs

    def cancel_job(self, job_id, request_id=None):
        """Cancels a queued or running job; returns the Job."""
        return self._call("CancelJob", pb.CancelJobRequest(
            request_id=request_id or new_request_id(), id=job_id))

    def retry_job(self, job_id, request_id=None):
        """Queues a FAILED or CANCELLED job again (same id; it resumes from its latest
        checkpoint). Returns the Job; FAILED_PRECONDITION names the state otherwise."""
        return self._call("RetryJob", pb.RetryJobRequest(
            request_id=request_id or new_request_id(), id=job_id))

    def set_job_priority(self, job_id, priority, request_id=None):
        """Changes a queued job's priority (higher runs first, in [-1000, 1000])."""
        return self._call("SetJobPriority", pb.SetJobPriorityRequest(
            request_id=request_id or new_request_id(), id=job_id, priority=priority))

    def delete_job(self, job_id, request_id=None):
        """Deletes a final job with its points, checkpoints and logs."""
        return self._call("DeleteJob", pb.DeleteJobRequest(
            request_id=request_id or new_request_id(), id=job_id))

    def cancel_sweep(self, sweep_id, request_id=None):
        """Cancels every queued or running job of the sweep."""
        return self._call("CancelSweep", pb.CancelSweepRequest(
            request_id=request_id or new_request_id(), id=sweep_id))

    def delete_sweep(self, sweep_id, request_id=None):
        """Deletes a sweep whose jobs are all final (jobs another sweep lists are kept)."""
        return self._call("DeleteSweep", pb.DeleteSweepRequest(
            request_id=request_id or new_request_id(), id=sweep_id))

    def logs(self, job_id, attempt=0, follow=False):
        """Iterates over the LogChunk messages of an attempt's captured output (0 = the latest
        attempt); with follow, until the attempt ends."""
        return self._stream("StreamJobLogs", pb.StreamJobLogsRequest(
            job_id=job_id, attempt=attempt, follow=follow))

    def log_text(self, job_id, attempt=0):
        """An attempt's stored output as text (what `sparsescale job logs` prints)."""
        return b"".join(c.data for c in self.logs(job_id, attempt)).decode("utf-8", "replace")

    def watch(self, job_id):
        """Iterates over the job's JobEvents (state changes and new loss points) until it is
        final. Break out of the loop to stop watching."""
        return self._stream("WatchJob", pb.WatchJobRequest(id=job_id))

    def cluster_status(self):
        return self._call("GetClusterStatus", pb.GetClusterStatusRequest())

    # -- results -------------------------------------------------------------------------------

    def curve_points(self, job_id, max_points=0):
        """The job's loss points as LossPoint messages (0 = all, else downsampled)."""
        return self._call("GetLossCurve", pb.GetLossCurveRequest(
            job_id=job_id, max_points=max_points)).points

    def curve(self, job_id, max_points=0, as_frame=None):
        """The loss curve, one column per LossPoint field (eval_loss is None, NaN in pandas,
        where the step was not evaluated). A pandas DataFrame when pandas is importable (or
        as_frame=True), else a dict of lists (as_frame=False forces that)."""
        return _columns(self.curve_points(job_id, max_points), as_frame)

    def export(self, sweep_id, out=None, summary=None):
        """A sweep's CSVs exactly as `sparsescale export` writes them: (points_csv, summary_csv).
        `out` and `summary` are file paths to write; as in the CLI, `summary` defaults to OUT's
        stem + ".summary.csv" beside it when `out` is given."""
        from sparsescale import csv_export  # noqa: PLC0415 (see _MAX_MESSAGE_BYTES)

        sweep = self.get_sweep(sweep_id)
        jobs = self.list_jobs(sweep.id)
        # Every curve is requested at once; the answers are read in the jobs' order.
        futures = [self._stub.GetLossCurve.future(pb.GetLossCurveRequest(job_id=j.id),
                                                  timeout=self.timeout, metadata=self._metadata)
                   for j in jobs]
        parts = [csv_export.points_header()]
        for job, future in zip(jobs, futures):
            try:
                parts.append(csv_export.point_rows(job, future.result().points))
            except grpc.RpcError as e:
                raise SparsescaleError.from_rpc_error(e, "GetLossCurve") from None
        points_csv, summary_csv = "".join(parts), csv_export.summary_csv(jobs)
        if out and not summary:
            stem, _ = os.path.splitext(os.path.basename(out))
            summary = os.path.join(os.path.dirname(out), stem + ".summary.csv")
        for path, text in ((out, points_csv), (summary, summary_csv)):
            if path:
                with open(path, "w", encoding="utf-8", newline="") as f:
                    f.write(text)
        return points_csv, summary_csv

    def fit_law(self, sweep_id="", job_ids=(), residual="", delta=0.0, starts=0, seed=0,
                bootstrap=0, request_id=None):
        """Fits the sparse scaling law to a sweep's succeeded jobs or to `job_ids`. Returns the
        FitLawResponse (fit_id, coefficients, objective, rmse, ...)."""
        request = pb.FitLawRequest(request_id=request_id or new_request_id(), sweep_id=sweep_id,
                                   job_ids=list(job_ids), residual=residual, delta=delta,
                                   starts=starts, seed=seed, bootstrap=bootstrap)
        return self._call("FitLaw", request, timeout=self.timeout * 8)

    def optimal_sparsity(self, nonzeros, compute, fit_id="", coefficients=None, cost=""):
        """The loss-optimal sparsity for `nonzeros` and a FLOP budget `compute`, from a stored
        fit or explicit coefficients (LawCoefficients, dict or JSON)."""
        request = pb.OptimalSparsityRequest(fit_id=fit_id, nonzeros=nonzeros, compute=compute,
                                            cost=cost)
        if coefficients is not None:
            request.coefficients.CopyFrom(
                _message(coefficients, pb.LawCoefficients, "coefficients"))
        return self._call("OptimalSparsity", request)

    def list_checkpoints(self, job_id):
        return list(self._call("ListCheckpoints",
                               pb.ListCheckpointsRequest(job_id=job_id)).checkpoints)

    def download_checkpoint(self, job_id, step=0, parse=True):
        """Downloads a checkpoint (step 0 = the latest), checks its size and sha256 (DATA_LOSS
        when they differ) and, with parse=True, reads its tensors into numpy arrays."""
        info, chunks = None, []
        for chunk in self._stream("DownloadCheckpoint",
                                  pb.DownloadCheckpointRequest(job_id=job_id, step=step)):
            if chunk.HasField("info"):
                info = chunk.info
            chunks.append(chunk.data)
        data = b"".join(chunks)
        _verify(info, data, job_id)
        checkpoint = Checkpoint(info=info, data=data)
        if parse:
            checkpoint.tensors, checkpoint.metadata = read_safetensors(data)
        return checkpoint

    # -- operations ----------------------------------------------------------------------------

    def health(self, service=""):
        """grpc.health.v1 status name of `service` ("" = the server): "SERVING", ..."""
        response = self._call("Check", health_pb2.HealthCheckRequest(service=service),
                              stub=self._health)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def _verify(info, data, job_id):
    import hashlib  # noqa: PLC0415 (see _MAX_MESSAGE_BYTES)

    if info is None:
        raise SparsescaleError(grpc.StatusCode.DATA_LOSS,
                               f"checkpoint of job {job_id}: the stream carried no info",
                               "DownloadCheckpoint")
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != info.size_bytes or digest != info.sha256:
        raise SparsescaleError(
            grpc.StatusCode.DATA_LOSS,
            f"checkpoint of job {job_id} step {info.step}: got {len(data)} bytes with sha256 "
            f"{digest}, expected {info.size_bytes} bytes with sha256 {info.sha256}",
            "DownloadCheckpoint")


def _columns(points, as_frame):
    fields = pb.LossPoint.DESCRIPTOR.fields
    columns = {f.name: [getattr(p, f.name) for p in points] for f in fields
               if not f.has_presence}
    for f in fields:
        if f.has_presence:
            columns[f.name] = [getattr(p, f.name) if p.HasField(f.name) else None
                               for p in points]
    columns = {f.name: columns[f.name] for f in fields}  # the proto's column order
    if as_frame is False:
        return columns
    try:
        import pandas  # noqa: PLC0415 (optional dependency)
    except ImportError:
        if as_frame:
            raise
        return columns
    return pandas.DataFrame(columns)


def to_dict(message):
    """A v1 message as a dict with the proto field names (as the CLI's --json prints them)."""
    import json  # noqa: PLC0415 (see _MAX_MESSAGE_BYTES)

    from google.protobuf import json_format  # noqa: PLC0415

    return json.loads(json_format.MessageToJson(message, preserving_proto_field_name=True))

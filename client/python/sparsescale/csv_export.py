"""CSV text of a sweep, byte for byte as `sparsescale export` writes it (client/export_csv.cc):
every loss point with job_id and sweep_id in front, and the per-job summary that
`sparsescale law fit FILE` reads."""

import math

from sparsescale.v1 import coordinator_pb2, job_pb2

SUMMARY_HEADER = "job_id,sweep_id,structure,n,m,sparsity,nonzeros,tokens,final_eval_loss\n"
_POINT_FIELDS = coordinator_pb2.LossPoint.DESCRIPTOR.fields


def _num(value):
    return "%.17g" % value


def _field(text):
    if not any(c in text for c in ',"\n'):
        return text
    return '"' + text.replace('"', '""') + '"'


def points_header():
    """The points CSV header line: job_id, sweep_id and the LossPoint fields in order."""
    return "job_id,sweep_id," + ",".join(f.name for f in _POINT_FIELDS) + "\n"


def _point_value(point, field):
    if field.has_presence and not point.HasField(field.name):
        return ""
    value = getattr(point, field.name)
    return _num(value) if field.type == field.TYPE_DOUBLE else str(value)


def point_rows(job, points):
    """One CSV line per point of `job` (a v1.Job), without the header."""
    prefix = _field(job.id) + "," + _field(job.sweep_id) + ","
    return "".join(prefix + ",".join(_point_value(p, f) for f in _POINT_FIELDS) + "\n"
                   for p in points)


def summary_row(job):
    """The summary line of a SUCCEEDED job with a final eval loss, else None."""
    if job.state != coordinator_pb2.JOB_STATE_SUCCEEDED or not job.HasField("last_eval_loss"):
        return None
    spec = job.spec
    sparsity, n, m = spec.pruning.sparsity, 0, 0
    if spec.pruning.structure == job_pb2.SPARSITY_STRUCTURE_NM:
        structure, n, m = "nm", spec.pruning.n, spec.pruning.m
        if sparsity == 0 and m > 0:
            sparsity = 1.0 - n / m
    else:
        structure = "dense" if sparsity == 0 else "unstructured"
    width = float(spec.model.width)
    # std::round: halves away from zero (Python's round() would round them to even).
    exact = 12.0 * width * width * spec.model.layers * (1.0 - sparsity)
    nonzeros = math.copysign(math.floor(abs(exact) + 0.5), exact)
    per_step = float(spec.data.batch_size) * float(spec.model.context)
    tokens = (float(job.total_steps) * per_step if job.total_steps > 0 and per_step > 0
              else float(spec.data.tokens))
    return ",".join([_field(job.id), _field(job.sweep_id), structure, str(n), str(m),
                     _num(sparsity), _num(nonzeros), _num(tokens),
                     _num(job.last_eval_loss)]) + "\n"


def summary_csv(jobs):
    """Header plus one line per job that has a summary."""
    return SUMMARY_HEADER + "".join(r for r in map(summary_row, jobs) if r is not None)

"""The export CSV rows match client/export_csv.cc's rules: %.17g numbers, empty optional
eval_loss, quoting, std::round of nonzeros, n:m sparsity, and which jobs get a summary."""

import unittest

from sparsescale import csv_export
from sparsescale.v1 import coordinator_pb2 as pb
from sparsescale.v1 import job_pb2


def succeeded_job(**pruning):
    job = pb.Job(id="j1", sweep_id="s1", state=pb.JOB_STATE_SUCCEEDED, total_steps=10,
                 last_eval_loss=2.5)
    job.spec.model.width, job.spec.model.layers, job.spec.model.context = 16, 1, 32
    job.spec.data.batch_size = 4
    for key, value in pruning.items():
        setattr(job.spec.pruning, key, value)
    return job


class ExportCsv(unittest.TestCase):
    def test_point_rows_print_doubles_with_17_digits_and_leave_absent_eval_loss_empty(self):
        job = pb.Job(id="j,1", sweep_id='s"1')
        point = pb.LossPoint(step=3, tokens=384, train_loss=0.1, lr=1e-3, wall_s=1.5)
        row = csv_export.point_rows(job, [point])
        self.assertEqual(row, '"j,1","s""1",3,384,0.10000000000000001,,0,0.001,0,0,0,0,1.5\n')
        point.eval_loss = 2.0
        self.assertIn(",0.10000000000000001,2,0,", csv_export.point_rows(job, [point]))

    def test_header_lists_the_loss_point_fields_in_proto_order(self):
        self.assertTrue(csv_export.points_header().startswith(
            "job_id,sweep_id,step,tokens,train_loss,eval_loss,sparsity,"))

    def test_summary_of_a_dense_and_an_nm_job(self):
        self.assertEqual(csv_export.summary_row(succeeded_job()),
                         "j1,s1,dense,0,0,0,3072,1280,2.5\n")
        nm = succeeded_job(structure=job_pb2.SPARSITY_STRUCTURE_NM, n=2, m=4)
        self.assertEqual(csv_export.summary_row(nm), "j1,s1,nm,2,4,0.5,1536,1280,2.5\n")

    def test_nonzeros_round_halves_away_from_zero_like_std_round(self):
        job = succeeded_job(sparsity=0.5)
        job.spec.model.width = 1  # 12 * 1 * 1 * 0.5 = 6 exactly; width 3: 54
        job.spec.model.layers = 1
        job.spec.pruning.sparsity = 0.625  # 12 * 0.375 = 4.5 -> 5 (round() would give 4)
        self.assertIn(",unstructured,0,0,0.625,5,", csv_export.summary_row(job))

    def test_only_succeeded_jobs_with_an_eval_loss_are_summarised(self):
        failed = succeeded_job()
        failed.state = pb.JOB_STATE_FAILED
        no_eval = succeeded_job()
        no_eval.ClearField("last_eval_loss")
        text = csv_export.summary_csv([failed, no_eval, succeeded_job()])
        self.assertEqual(text.count("\n"), 2)
        self.assertTrue(text.startswith(csv_export.SUMMARY_HEADER))


if __name__ == "__main__":
    unittest.main()

"""check_compat.py on mutated copies of the committed v1 descriptor set: each breaking change
is refused with a message naming the field, enum value or RPC; additions are accepted."""

import copy
import os
import unittest

from check_compat import breaking_changes, _load
from google.protobuf import descriptor_pb2

FDP = descriptor_pb2.FieldDescriptorProto
COMMITTED = _load(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               "sparsescale_v1.binpb"))


def find(file_set, kind, name):
    """The message, enum or service `name` (not nested) in the set's files."""
    for file in file_set.file:
        for item in getattr(file, kind):
            if item.name == name:
                return item
    raise KeyError(name)


def field(message, name):
    return next(f for f in message.field if f.name == name)


class CheckCompat(unittest.TestCase):
    def refused(self, mutate, *expected):
        built = copy.deepcopy(COMMITTED)
        mutate(built)
        errors = breaking_changes(COMMITTED, built)
        self.assertTrue(errors, "the change was accepted")
        for text in expected:
            self.assertTrue(any(text in e for e in errors), f"{text!r} not in {errors}")

    def test_the_committed_set_is_compatible_with_itself(self):
        self.assertEqual(breaking_changes(COMMITTED, copy.deepcopy(COMMITTED)), [])

    def test_a_removed_field_is_refused_by_name(self):
        def mutate(s):
            job = find(s, "message_type", "Job")
            job.field.remove(field(job, "state"))
        self.refused(mutate, "sparsescale.v1.Job.state (field 4): removed")

    def test_a_renumbered_field_is_refused(self):
        self.refused(lambda s: setattr(field(find(s, "message_type", "LossPoint"), "step"),
                                       "number", 100),
                     "sparsescale.v1.LossPoint.step (field 1): renumbered to 100")

    def test_a_changed_type_is_refused(self):
        self.refused(lambda s: setattr(field(find(s, "message_type", "Job"), "attempt"),
                                       "type", FDP.TYPE_INT64),
                     "sparsescale.v1.Job.attempt (field 6): type changed from TYPE_INT32")

    def test_a_changed_message_type_is_refused(self):
        self.refused(lambda s: setattr(field(find(s, "message_type", "Job"), "spec"),
                                       "type_name", ".sparsescale.v1.ModelSpec"),
                     "sparsescale.v1.Job.spec (field 3): type changed")

    def test_a_changed_label_is_refused(self):
        self.refused(lambda s: setattr(field(find(s, "message_type", "SweepAxes"), "nonzeros"),
                                       "label", FDP.LABEL_OPTIONAL),
                     "sparsescale.v1.SweepAxes.nonzeros (field 1): label changed")

    def test_a_renamed_field_is_refused_for_its_json_name(self):
        def mutate(s):
            seed = field(find(s, "message_type", "JobSpec"), "seed")
            seed.name, seed.json_name = "random_seed", "randomSeed"
        self.refused(mutate, "sparsescale.v1.JobSpec.seed (field 7): renamed to random_seed",
                     "JSON name seed -> randomSeed")

    def test_a_dropped_optional_presence_is_refused(self):
        self.refused(lambda s: setattr(field(find(s, "message_type", "LossPoint"), "eval_loss"),
                                       "proto3_optional", False),
                     "sparsescale.v1.LossPoint.eval_loss (field 4): presence")

    def test_a_removed_enum_value_is_refused(self):
        def mutate(s):
            state = find(s, "enum_type", "JobState")
            del state.value[-1]
        self.refused(mutate, "sparsescale.v1.JobState.JOB_STATE_CANCELLED (= 5): enum value "
                             "removed")

    def test_a_renamed_enum_value_is_refused(self):
        self.refused(lambda s: setattr(find(s, "enum_type", "FailureClass").value[1], "name",
                                       "FAILURE_CLASS_INFRASTRUCTURE"),
                     "sparsescale.v1.FailureClass.FAILURE_CLASS_INFRA (= 1): renamed")

    def test_a_removed_rpc_is_refused(self):
        def mutate(s):
            service = find(s, "service", "ClientService")
            service.method.remove(next(m for m in service.method if m.name == "GetJob"))
        self.refused(mutate, "rpc sparsescale.v1.ClientService.GetJob: removed")

    def test_changed_request_response_or_streaming_is_refused(self):
        def mutate(s):
            methods = {m.name: m for m in find(s, "service", "ClientService").method}
            methods["CancelJob"].output_type = ".sparsescale.v1.Sweep"
            methods["GetJob"].input_type = ".sparsescale.v1.GetSweepRequest"
            methods["WatchJob"].server_streaming = False
        self.refused(mutate, "rpc sparsescale.v1.ClientService.CancelJob: output_type",
                     "rpc sparsescale.v1.ClientService.GetJob: input_type",
                     "rpc sparsescale.v1.ClientService.WatchJob: server_streaming")

    def test_a_removed_message_or_service_is_refused(self):
        def mutate(s):
            for file in s.file:
                for m in list(file.message_type):
                    if m.name == "CheckpointInfo":
                        file.message_type.remove(m)
                for service in list(file.service):
                    if service.name == "WorkerService":
                        file.service.remove(service)
        self.refused(mutate, "message sparsescale.v1.CheckpointInfo: removed",
                     "service sparsescale.v1.WorkerService: removed")

    def test_additions_are_accepted(self):
        built = copy.deepcopy(COMMITTED)
        job = find(built, "message_type", "Job")
        # Names no real field, message or RPC will take (the committed set grows over time).
        job.field.add(name="added_in_test", json_name="addedInTest", number=999,
                      type=FDP.TYPE_STRING, label=FDP.LABEL_OPTIONAL)
        find(built, "enum_type", "JobState").value.add(name="JOB_STATE_PAUSED", number=6)
        built.file[-1].message_type.add(name="AddedInTestRequest")
        find(built, "service", "ClientService").method.add(
            name="AddedInTest", input_type=".sparsescale.v1.AddedInTestRequest",
            output_type=".sparsescale.v1.Job")
        self.assertEqual(breaking_changes(COMMITTED, built), [])


if __name__ == "__main__":
    unittest.main()

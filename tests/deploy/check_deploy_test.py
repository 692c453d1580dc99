#!/usr/bin/env python3
"""The checks of check_deploy.py catch what they are for: objects rendered from deploy/k8s are
changed one fault at a time, and each fault must be reported (and the unchanged ones pass)."""
import copy
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_deploy  # noqa: E402
import yaml  # noqa: E402

SOURCE = os.environ.get("SPARSESCALE_SOURCE_DIR",
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FLAGS = {
    "sparsescale-coordinator": {"--db", "--listen", "--restart-grace-ms", "--auth", "--insecure",
                                "--http-listen", "--checkpoint-dir"},
    "sparsescale-worker": {"--coordinator", "--device", "--gpus", "--work-dir",
                           "--advertise-address"},
}


def rendered(overlay):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise AssertionError("kubectl is not installed (see deploy/setup.sh)")
    out = subprocess.run([kubectl, "kustomize", os.path.join(SOURCE, "deploy/k8s/overlays",
                                                             overlay)],
                         check=True, capture_output=True, text=True).stdout
    return {o["kind"]: o for o in yaml.safe_load_all(out) if o}


def problems(objects, gpu=False):
    c = check_deploy.Checker(FLAGS)
    coordinator = check_deploy.check_coordinator(c, "sts", objects["StatefulSet"], False)
    port = check_deploy.check_service(c, "svc", objects["Service"], coordinator)
    check_deploy.check_workers(c, "workers", objects["Deployment"],
                               objects["Service"]["metadata"]["name"], port, gpu, False)
    return c.problems


def container(objects, kind):
    return objects[kind]["spec"]["template"]["spec"]["containers"][0]


class CheckDeployTest(unittest.TestCase):
    def setUp(self):
        self.cpu = rendered("cpu")

    def assertReported(self, objects, text, gpu=False):
        found = problems(objects, gpu)
        self.assertTrue(any(text in p for p in found), f"{text!r} not in {found}")

    def test_the_shipped_overlays_pass(self):
        self.assertEqual(problems(self.cpu), [])
        self.assertEqual(problems(rendered("gpu"), gpu=True), [])

    def test_the_checkpoint_volume_overlay_passes_and_a_dir_off_its_claim_is_reported(self):
        objects = rendered("checkpoint-volume")
        self.assertEqual(problems(objects), [])
        args = container(objects, "StatefulSet")["args"]
        self.assertIn("--checkpoint-dir=/var/lib/sparsescale-checkpoints", args)
        moved = copy.deepcopy(objects)
        moved_args = container(moved, "StatefulSet")["args"]
        moved_args[moved_args.index("--checkpoint-dir=/var/lib/sparsescale-checkpoints")] = \
            "--checkpoint-dir=/tmp/checkpoints"
        self.assertReported(moved, "--checkpoint-dir /tmp/checkpoints is not on a claimed volume")

    def test_an_unknown_flag_is_reported(self):
        o = copy.deepcopy(self.cpu)
        container(o, "Deployment")["args"].append("--no-such-flag")
        self.assertReported(o, "--no-such-flag is not a flag of sparsescale-worker")

    def test_a_probe_on_another_port_is_reported(self):
        o = copy.deepcopy(self.cpu)
        container(o, "StatefulSet")["readinessProbe"]["grpc"]["port"] = 9999
        self.assertReported(o, "readinessProbe checks port 9999")

    def test_two_coordinator_replicas_are_reported(self):
        o = copy.deepcopy(self.cpu)
        o["StatefulSet"]["spec"]["replicas"] = 2
        self.assertReported(o, "exactly 1 replica")

    def test_workers_dialling_another_port_are_reported(self):
        o = copy.deepcopy(self.cpu)
        args = container(o, "Deployment")["args"]
        args[args.index("--coordinator") + 1] = "sparsescale-coordinator:7071"
        self.assertReported(o, "is not the Service's grpc port 7070")

    def test_a_short_drain_and_a_missing_image_are_reported(self):
        o = copy.deepcopy(self.cpu)
        o["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 30
        container(o, "Deployment")["image"] = ""
        self.assertReported(o, "too short to drain")
        self.assertReported(o, "no image")

    def test_gpu_workers_without_a_gpu_limit_are_reported(self):
        o = rendered("gpu")
        del container(o, "Deployment")["resources"]["limits"]
        self.assertReported(o, "no nvidia.com/gpu limit", gpu=True)


if __name__ == "__main__":
    unittest.main()

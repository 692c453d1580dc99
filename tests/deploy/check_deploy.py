#!/usr/bin/env python3
"""Checks the deployment files offline against the real binaries.

--k8s-dir DIR: renders every overlay under DIR/overlays with `kubectl kustomize` and checks the
objects: every container argument is a real flag of its binary (parsed from `--help`), the
coordinator's --listen port is its container port, its probes' port and the Service's target
port; the workers dial the Service by name and port; images and volumes are set; one
coordinator replica with a volume claim for its database; the GPU overlay asks for
nvidia.com/gpu and passes --gpus; a PodDisruptionBudget selects the workers; a coordinator
--checkpoint-dir is on a claimed volume, and the checkpoint-volume overlay passes one.
--compose FILE: the same argument, image, volume and address checks for a compose file.

Flags of the security work (--tls-*, --token-file) are allowed only in the "secure" overlay,
and checked there only once the binaries have them (a line says when they were skipped).
Exit status 0 when every check passes; otherwise each problem is printed and the status is 1.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

import yaml

SECURITY_FLAGS = {"--tls-ca", "--tls-cert", "--tls-key", "--token-file"}
MIN_WORKER_GRACE_S = 120  # the drain: a checkpoint and its upload
BINARIES = ("sparsescale-coordinator", "sparsescale-worker")


class Checker:
    def __init__(self, flags):
        self.flags = flags  # binary name -> set of its flags
        self.problems = []
        self.notes = []

    def expect(self, ok, where, problem):
        if not ok:
            self.problems.append(f"{where}: {problem}")
        return ok

    def check_command(self, where, command, allow_pending_security=False):
        """Checks [binary, args...]; returns {flag: value} (value: next argument or after =)."""
        if not self.expect(bool(command), where, "no command"):
            return {}
        binary = os.path.basename(command[0])
        if not self.expect(binary in self.flags, where, f"command {binary!r} is not one of "
                           f"{', '.join(BINARIES)}"):
            return {}
        values = {}
        args = command[1:]
        for i, arg in enumerate(args):
            if not arg.startswith("--"):
                continue
            name, _, inline = arg.partition("=")
            value = inline if inline else (args[i + 1] if i + 1 < len(args) else "")
            values[name] = value
            if name in self.flags[binary]:
                continue
            if name in SECURITY_FLAGS and allow_pending_security:
                self.notes.append(f"{where}: {name} not checked: {binary} has no such flag "
                                  "yet (it arrives with the security work)")
                continue
            self.problems.append(f"{where}: {name} is not a flag of {binary} (its --help)")
        return values


def help_flags(path):
    text = subprocess.run([path, "--help"], check=True, capture_output=True, text=True).stdout
    return set(re.findall(r"--[a-z][a-z0-9-]*", text))


def port_of(address):
    return int(address.rsplit(":", 1)[1]) if ":" in address else None


def render(kubectl, overlay):
    result = subprocess.run([kubectl, "kustomize", overlay], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"kubectl kustomize {overlay} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def check_pod(c, where, pod, allow_security):
    """Image, volumes and arguments of the pod's one container; returns (container, flags)."""
    containers = pod.get("containers", [])
    if not c.expect(len(containers) == 1, where, "expected exactly one container"):
        return None, {}
    container = containers[0]
    c.expect(bool(container.get("image")), where, "no image")
    declared = {v["name"] for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        c.expect(mount["name"] in declared or mount["name"] in pod.get("_claims", set()),
                 where, f"volume mount {mount['name']!r} has no volume")
    command = container.get("command", []) + container.get("args", [])
    return container, c.check_command(where, command, allow_security)


def check_coordinator(c, where, sts, allow_security):
    spec = sts["spec"]
    c.expect(spec.get("replicas") == 1, where, "the coordinator must have exactly 1 replica "
             "(one SQLite writer)")
    pod = dict(spec["template"]["spec"])
    pod["_claims"] = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
    c.expect(bool(pod["_claims"]), where, "no volumeClaimTemplates for the database")
    container, flags = check_pod(c, where, pod, allow_security)
    if container is None:
        return None
    listen = port_of(flags.get("--listen", ""))
    if not c.expect(listen is not None, where, "no --listen HOST:PORT"):
        return None
    ports = {p["containerPort"]: p.get("name") for p in container.get("ports", [])}
    c.expect(ports.get(listen) == "grpc", where, f"no container port {listen} named grpc")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        p = container.get(probe)
        if c.expect(p is not None, where, f"no {probe}"):
            port = (p.get("grpc") or p.get("tcpSocket") or {}).get("port")
            c.expect(port == listen, where, f"{probe} checks port {port}, --listen is {listen}")
    db = flags.get("--db", "")
    mounts = [m["mountPath"] for m in container.get("volumeMounts", [])
              if m["name"] in pod["_claims"]]
    c.expect(any(db.startswith(m.rstrip("/") + "/") for m in mounts), where,
             f"--db {db} is not on the claimed volume ({mounts})")
    checkpoint_dir = flags.get("--checkpoint-dir")
    if checkpoint_dir:
        c.expect(any((checkpoint_dir.rstrip("/") + "/").startswith(m.rstrip("/") + "/")
                     for m in mounts), where,
                 f"--checkpoint-dir {checkpoint_dir} is not on a claimed volume ({mounts})")
    return {"labels": spec["template"]["metadata"]["labels"], "ports": set(ports),
            "checkpoint_dir": checkpoint_dir}


def check_service(c, where, service, coordinator):
    if not c.expect(coordinator is not None, where, "no coordinator to serve"):
        return None
    selector = service["spec"].get("selector", {})
    c.expect(selector and selector.items() <= coordinator["labels"].items(), where,
             "the selector does not select the coordinator's pods")
    pending = set(service["metadata"].get("annotations", {})
                  .get("sparsescale.dev/pending-ports", "").split(","))
    grpc_port = None
    for p in service["spec"]["ports"]:
        if p.get("name") in pending:
            c.notes.append(f"{where}: port {p['name']} not checked (pending: nothing serves it "
                           "yet)")
            continue
        c.expect(p["targetPort"] in coordinator["ports"], where,
                 f"port {p.get('name')} targets {p['targetPort']}, not a coordinator port")
        if p.get("name") == "grpc":
            grpc_port = p["port"]
    c.expect(grpc_port is not None, where, "no port named grpc")
    return grpc_port


def check_workers(c, where, deployment, service_name, service_port, gpu, allow_security):
    pod = deployment["spec"]["template"]["spec"]
    grace = pod.get("terminationGracePeriodSeconds", 30)
    c.expect(grace >= MIN_WORKER_GRACE_S, where,
             f"terminationGracePeriodSeconds {grace} < {MIN_WORKER_GRACE_S}: too short to drain")
    container, flags = check_pod(c, where, pod, allow_security)
    if container is None:
        return
    target = flags.get("--coordinator", "")
    host = target.rsplit(":", 1)[0]
    c.expect(host == service_name or host.startswith(service_name + "."), where,
             f"--coordinator {target} does not name the Service {service_name}")
    c.expect(port_of(target) == service_port, where,
             f"--coordinator {target} is not the Service's grpc port {service_port}")
    if gpu:
        limits = container.get("resources", {}).get("limits", {})
        c.expect(int(limits.get("nvidia.com/gpu", 0)) >= 1, where, "no nvidia.com/gpu limit")
        c.expect("--gpus" in flags and flags.get("--device") == "cuda", where,
                 "GPU workers need --device cuda and --gpus")


def check_overlay(c, kubectl, overlay):
    name = os.path.basename(overlay.rstrip("/"))
    objects = render(kubectl, overlay)
    by_kind = {}
    for o in objects:
        by_kind.setdefault(o["kind"], []).append(o)
    allow_security = name == "secure"
    where = f"overlay {name}"
    sts = by_kind.get("StatefulSet", [])
    c.expect(len(sts) == 1, where, "expected one StatefulSet (the coordinator)")
    coordinator = check_coordinator(c, f"{where} StatefulSet", sts[0], allow_security) \
        if sts else None
    if name == "checkpoint-volume":
        c.expect(bool(coordinator and coordinator.get("checkpoint_dir")), where,
                 "the checkpoint-volume overlay passes no --checkpoint-dir")
    services = by_kind.get("Service", [])
    c.expect(len(services) == 1, where, "expected one Service")
    port = check_service(c, f"{where} Service", services[0], coordinator) if services else None
    deployments = by_kind.get("Deployment", [])
    c.expect(len(deployments) == 1, where, "expected one Deployment (the workers)")
    for d in deployments:
        check_workers(c, f"{where} Deployment", d, services[0]["metadata"]["name"]
                      if services else "", port, name == "gpu", allow_security)
        labels = d["spec"]["template"]["metadata"]["labels"]
        pdbs = [p for p in by_kind.get("PodDisruptionBudget", [])
                if p["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        c.expect(len(pdbs) == 1, where, "no PodDisruptionBudget selects the workers")
    return len(objects)


def check_compose(c, path):
    with open(path) as f:
        compose = yaml.safe_load(f)
    services = compose.get("services", {})
    coordinator = services.get("coordinator")
    worker = services.get("worker")
    if not c.expect(coordinator and worker, path, "needs services coordinator and worker"):
        return
    for name, s in services.items():
        c.expect(bool(s.get("image")), f"{path} {name}", "no image")
    flags = c.check_command(f"{path} coordinator", coordinator.get("command", []))
    listen = port_of(flags.get("--listen", ""))
    named = set((compose.get("volumes") or {}).keys())
    db_dir = os.path.dirname(flags.get("--db", ""))
    mounts = [v.split(":") for v in coordinator.get("volumes", [])]
    c.expect(any(m[0] in named and m[1] == db_dir for m in mounts), f"{path} coordinator",
             f"the database directory {db_dir} is not on a named volume")
    wflags = c.check_command(f"{path} worker", worker.get("command", []))
    target = wflags.get("--coordinator", "")
    c.expect(target == f"coordinator:{listen}", f"{path} worker",
             f"--coordinator {target} is not coordinator:{listen}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k8s-dir")
    parser.add_argument("--compose")
    parser.add_argument("--coordinator-bin", required=True)
    parser.add_argument("--worker-bin", required=True)
    args = parser.parse_args()
    c = Checker({"sparsescale-coordinator": help_flags(args.coordinator_bin),
                 "sparsescale-worker": help_flags(args.worker_bin)})
    if args.k8s_dir:
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise SystemExit("check_deploy: kubectl is not installed; this test renders "
                             "deploy/k8s with `kubectl kustomize` (kubectl >= 1.21)")
        overlays = sorted(os.path.join(args.k8s_dir, "overlays", d)
                          for d in os.listdir(os.path.join(args.k8s_dir, "overlays")))
        for overlay in overlays:
            count = check_overlay(c, kubectl, overlay)
            print(f"check_deploy: rendered {overlay}: {count} objects")
        if not c.expect({"cpu", "gpu"} <= {os.path.basename(o) for o in overlays},
                        args.k8s_dir, "overlays cpu and gpu are required"):
            pass
    if args.compose:
        check_compose(c, args.compose)
        print(f"check_deploy: checked {args.compose}")
    for note in c.notes:
        print(f"check_deploy: note: {note}")
    for problem in c.problems:
        print(f"check_deploy: FAIL {problem}", file=sys.stderr)
    return 1 if c.problems else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""deploy/kubernetes: the manifests parse and agree with each other and with the engine.

Each file kustomization.yaml lists is parsed (PyYAML) and checked: the kinds are there once; the
headless Service, the StatefulSet's serviceName, selector, template labels and the
PodDisruptionBudget select the same pods; the shard count of --shards (with
--shard-from-hostname) equals spec.replicas; the report segment is on a memory emptyDir at /dev/shm in both containers; the
pod runs the Localhost seccomp profile deploy/seccomp ships, as a non-root user without
capabilities; CPU and memory are requested; the exporter's --listen port is the container's
and the Service's; the ConfigMap's gateway.json is what --config reads and `ringprobe plan
--check` accepts it; every flag the engine gets is one `ringprobe run --help` lists (the shard
flags only once the engine has them); the reload loop is valid sh (`sh -n`).
What is not checked (no cluster here) is named in docs/scale-out.md.

    kubernetes_test.py RINGPROBE SOURCE_ROOT
"""
import os
import re
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    print("SKIP: PyYAML is not installed (Debian package python3-yaml)", file=sys.stderr)
    sys.exit(77)


def load(root):
    kdir = os.path.join(root, "deploy", "kubernetes")
    with open(os.path.join(kdir, "kustomization.yaml")) as f:
        kust = yaml.safe_load(f)
    docs = {}
    for name in kust["resources"]:
        with open(os.path.join(kdir, name)) as f:
            for doc in yaml.safe_load_all(f):
                docs.setdefault(doc["kind"], []).append(doc)
    return docs


def one(docs, kind, errors):
    found = docs.get(kind, [])
    if len(found) != 1:
        errors.append(f"{len(found)} {kind} documents (want 1)")
        return {}
    return found[0]


def engine_flags(ringprobe):
    run = subprocess.run([ringprobe, "run", "--help"], capture_output=True, text=True, timeout=30)
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", run.stdout))


def check_engine(sts, cm, ringprobe, errors):
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    engine = containers.get("ringprobe", {})
    args = engine.get("args", [])
    if args[:1] != ["run"]:
        errors.append(f"the engine's args start {args[:1]} (want run)")
    known = engine_flags(ringprobe)
    sharding_built = "--shard" in known
    for flag in (a for a in args if a.startswith("--")):
        if flag not in known and (sharding_built or not flag.startswith("--shard")):
            errors.append(f"`ringprobe run` has no flag {flag}")
    if "--shard-from-hostname" not in args:
        errors.append("the engine does not take its shard from the host name")
    elif "--shards" not in args:
        errors.append("--shard-from-hostname without --shards N")
    else:
        count = args[args.index("--shards") + 1]
        if count != str(spec["replicas"]):
            errors.append(f"--shards {count} but replicas {spec['replicas']}")
    mounts = {m["name"]: m for m in engine.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    config = args[args.index("--config") + 1] if "--config" in args else ""
    cmount = mounts.get("config", {})
    cvol = volumes.get("config", {}).get("configMap", {})
    if os.path.dirname(config) != cmount.get("mountPath"):
        errors.append(f"--config {config} is not in the config mount {cmount.get('mountPath')}")
    if cvol.get("name") != cm["metadata"]["name"]:
        errors.append(f"the config volume names ConfigMap {cvol.get('name')}")
    if os.path.basename(config) not in cm.get("data", {}):
        errors.append(f"the ConfigMap has no key {os.path.basename(config)}")
    for c in containers.values():
        shm = [m for m in c.get("volumeMounts", []) if m.get("mountPath") == "/dev/shm"]
        if len(shm) != 1 or volumes.get(shm[0]["name"], {}).get("emptyDir", {}).get(
                "medium") != "Memory":
            errors.append(f"container {c['name']}: /dev/shm is not the memory emptyDir")
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False or sc.get("capabilities", {}).get(
                "drop") != ["ALL"]:
            errors.append(f"container {c['name']}: privilege escalation or capabilities kept")
        requests = c.get("resources", {}).get("requests", {})
        if "cpu" not in requests or "memory" not in requests:
            errors.append(f"container {c['name']}: no CPU or memory request")
    listen = args[args.index("--listen") + 1] if "--listen" in args else ""
    port = [p["containerPort"] for p in engine.get("ports", []) if p.get("name") == "metrics"]
    if not port or not listen.endswith(f":{port[0]}"):
        errors.append(f"--listen {listen} is not the metrics port {port}")
    return port[0] if port else None


def check_pod(sts, root, errors):
    pod = sts["spec"]["template"]["spec"]
    sc = pod.get("securityContext", {})
    prof = sc.get("seccompProfile", {})
    if prof.get("type") != "Localhost" or not os.path.exists(
            os.path.join(root, "deploy", "seccomp", prof.get("localhostProfile", "-"))):
        errors.append(f"seccompProfile {prof} is not a Localhost profile of deploy/seccomp")
    if sc.get("runAsNonRoot") is not True:
        errors.append("the pod may run as root")
    if pod.get("shareProcessNamespace") is not True:
        errors.append("config-reload cannot signal the engine without a shared process namespace")
    reload = [c for c in pod["containers"] if c["name"] == "config-reload"]
    if len(reload) != 1:
        errors.append("no config-reload container")
        return
    command = reload[0]["command"]
    if command[:2] != ["/bin/sh", "-c"] or "ringprobe reload" not in command[2]:
        errors.append(f"config-reload runs {command[:2]}, not a shell loop of ringprobe reload")
    elif subprocess.run(["sh", "-n", "-c", command[2]]).returncode != 0:
        errors.append("config-reload's loop is not valid sh")


def check_selection(docs, errors):
    sts = one(docs, "StatefulSet", errors)
    svc = one(docs, "Service", errors)
    pdb = one(docs, "PodDisruptionBudget", errors)
    if not (sts and svc and pdb):
        return sts, svc
    labels = sts["spec"]["template"]["metadata"]["labels"]
    for what, selector in (("StatefulSet", sts["spec"]["selector"]["matchLabels"]),
                           ("Service", svc["spec"]["selector"]),
                           ("PodDisruptionBudget", pdb["spec"]["selector"]["matchLabels"])):
        if any(labels.get(k) != v for k, v in selector.items()):
            errors.append(f"the {what} selector {selector} does not select the pods {labels}")
    if svc["spec"].get("clusterIP") != "None":
        errors.append("the Service is not headless (clusterIP: None)")
    if sts["spec"]["serviceName"] != svc["metadata"]["name"]:
        errors.append("the StatefulSet's serviceName is not the Service")
    if not 1 <= pdb["spec"].get("maxUnavailable", 0) < sts["spec"]["replicas"]:
        errors.append("the PodDisruptionBudget does not keep a shard up")
    return sts, svc


def check_config(cm, ringprobe, errors):
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        f.write(cm["data"]["gateway.json"])
        f.flush()
        run = subprocess.run([ringprobe, "plan", "--check", "--config", f.name],
                             capture_output=True, text=True, timeout=30)
    if run.returncode != 0:
        errors.append(f"the ConfigMap's gateway.json does not plan:\n{run.stderr}")


def main():
    ringprobe, root = os.path.abspath(sys.argv[1]), sys.argv[2]
    docs = load(root)
    errors = []
    sts, svc = check_selection(docs, errors)
    cm = one(docs, "ConfigMap", errors)
    if sts and cm:
        port = check_engine(sts, cm, ringprobe, errors)
        if svc and [p["port"] for p in svc["spec"]["ports"]] != [port]:
            errors.append(f"the Service's ports are not the metrics port {port}")
        check_pod(sts, root, errors)
        check_config(cm, ringprobe, errors)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    print(f"{sum(len(v) for v in docs.values())} documents agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())

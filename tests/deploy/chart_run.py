#!/usr/bin/env python3
"""Runs the chart's rendered pods in podman, as a kubelet would run them.

    chart_run.py SRC RENDERED.yaml WORK_DIR

RENDERED.yaml is `helm template` of the chart with the test images. There
is no Kubernetes here, so this plays the kubelet's part for the two pod
templates (the controller Deployment's, the node DaemonSet's), in one
podman pod standing for the host network:
- ConfigMap and Secret volumes become files (Secrets: group fsGroup, the
  volume's defaultMode), hostPath volumes host directories (root-owned,
  as DirectoryOrCreate makes them), subPath mounts single files;
- command, args ($(VAR) expanded from env, spec.nodeName included), user,
  groups, readOnlyRootFilesystem, capabilities and allowPrivilegeEscalation
  become podman run options; init containers run first, to completion;
- the Service's DNS name resolves to the pod (podman --add-host);
- readiness and liveness probes are the containers' exec commands, run
  with `podman exec` until they pass.
Then it checks what NOTES.txt promises: wbctl in the node's pod reaches
the volume (TLS, client certificate, token), the node registered its
volume with the controller (wbctl pacing), and SIGTERM stops both cleanly.

Not emulated: privileged mode and host devices (the test's volume is a
file), scheduling, Services' virtual IPs, the API server's admission.
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time

import yaml

SRC, RENDERED, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
RUN_ID = f"wbchart-{os.getpid()}"
NODE_NAME = "podman-node"
created = []  # podman objects to remove: ("container"|"pod", name)


def log(msg):
    print(f"--- {time.strftime('%H:%M:%S')} {msg}", flush=True)


def podman(*args, check=True, capture=True):
    p = subprocess.run(["podman", *args], capture_output=capture, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


def fail(msg):
    raise AssertionError(msg)


with open(RENDERED) as f:
    objects = [o for o in yaml.safe_load_all(f) if o]


def find(kind, name=None):
    for o in objects:
        if o["kind"] == kind and (name is None or o["metadata"]["name"] == name):
            return o
    fail(f"no {kind} {name or ''} in the rendered chart")


def materialize(pod_spec, tag):
    """Host paths for the pod's volumes: {volume name: (path, kind)}."""
    fs_group = pod_spec.get("securityContext", {}).get("fsGroup")
    out = {}
    for v in pod_spec.get("volumes", []):
        path = os.path.join(WORK, tag, "volumes", v["name"])
        if "hostPath" in v:
            # One host for both pods: hostPath directories are shared.
            path = os.path.join(WORK, "host", v["hostPath"]["path"].lstrip("/"))
            kind = v["hostPath"].get("type", "")
            if kind != "DirectoryOrCreate":
                fail(f"hostPath type {kind!r} of volume {v['name']} is not emulated here")
            os.makedirs(path, exist_ok=True)
            os.chmod(path, 0o755)
            out[v["name"]] = path
            continue
        if "configMap" in v:
            src = find("ConfigMap", v["configMap"]["name"])
            data = {k: val.encode() for k, val in src.get("data", {}).items()}
            mode = v["configMap"].get("defaultMode", 0o644)
        elif "secret" in v:
            src = find("Secret", v["secret"]["secretName"])
            data = {k: base64.b64decode(val) for k, val in src.get("data", {}).items()}
            data.update({k: val.encode() for k, val in src.get("stringData", {}).items()})
            mode = v["secret"].get("defaultMode", 0o644)
        else:
            fail(f"volume {v['name']}: kind not emulated here")
        items = (v.get("configMap") or v.get("secret")).get("items")
        os.makedirs(path)
        for key, rel in ([(i["key"], i["path"]) for i in items] if items else [(k, k) for k in data]):
            fp = os.path.join(path, rel)
            with open(fp, "wb") as f:
                f.write(data[key])
            os.chmod(fp, mode)
            if fs_group is not None:
                os.chown(fp, 0, fs_group)
        out[v["name"]] = path
    return out


def run_args(pod_spec, c, volumes, name):
    """podman run options and arguments for container c of pod_spec."""
    psc = pod_spec.get("securityContext", {})
    sc = c.get("securityContext", {})
    user = sc.get("runAsUser", psc.get("runAsUser"))
    group = sc.get("runAsGroup", psc.get("runAsGroup"))
    opts = ["--name", name, "--pull=never", "--no-healthcheck"]
    if user is not None:
        opts += ["--user", f"{user}:{group if group is not None else user}"]
    for g in psc.get("supplementalGroups", []) + ([psc["fsGroup"]] if "fsGroup" in psc else []):
        opts += ["--group-add", str(g)]
    if sc.get("privileged"):
        fail(f"{c['name']}: privileged containers are not run here (set node.privileged=false)")
    if sc.get("readOnlyRootFilesystem"):
        opts += ["--read-only", "--read-only-tmpfs=false"]
    if sc.get("allowPrivilegeEscalation") is False:
        opts += ["--security-opt", "no-new-privileges"]
    caps = sc.get("capabilities", {})
    for cap in caps.get("drop", []):
        opts += ["--cap-drop", cap]
    for cap in caps.get("add", []):
        opts += ["--cap-add", cap]
    env = {}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName":
            env[e["name"]] = NODE_NAME
        else:
            fail(f"{c['name']}: env {e['name']} is not emulated here")
    for k, v in env.items():
        opts += ["--env", f"{k}={v}"]
    for m in c.get("volumeMounts", []):
        src = volumes[m["name"]]
        if "subPath" in m:
            src = os.path.join(src, m["subPath"])
        opts += ["--volume", f"{src}:{m['mountPath']}:{'ro' if m.get('readOnly') else 'rw'}"]
    expand = lambda s: re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), s)
    if "command" in c:
        opts += ["--entrypoint", json.dumps([expand(a) for a in c["command"]])]
    return opts, c["image"], [expand(a) for a in c.get("args", [])]


def wait_probe(name, c, probe, deadline_s):
    cmd = c[probe]["exec"]["command"]
    deadline = time.time() + deadline_s
    while True:
        p = podman("exec", name, *cmd, check=False)
        if p.returncode == 0:
            return
        running = podman("inspect", "--format", "{{.State.Running}}", name, check=False).stdout.strip()
        if running != "true" or time.time() > deadline:
            logs = podman("logs", name, check=False)
            fail(f"{name}: {probe} {cmd} did not pass ({p.stdout}{p.stderr}); running={running}\n"
                 f"{logs.stdout}{logs.stderr}")
        time.sleep(0.5)


def start_pod_template(kind, pod_ref, tag):
    spec = find(kind)["spec"]["template"]["spec"]
    volumes = materialize(spec, tag)
    for i, c in enumerate(spec.get("initContainers", [])):
        name = f"{RUN_ID}-{tag}-init{i}"
        opts, image, args = run_args(spec, c, volumes, name)
        p = podman("run", "--rm", "--pod", pod_ref, *opts, image, *args, check=False)
        if p.returncode != 0:
            fail(f"init container {c['name']}: exit {p.returncode}: {p.stderr}")
    c = spec["containers"][0]
    name = f"{RUN_ID}-{tag}"
    opts, image, args = run_args(spec, c, volumes, name)
    created.append(("container", name))
    podman("run", "-d", "--pod", pod_ref, *opts, image, *args)
    return name, c


def main():
    controller_host = None
    for o in objects:
        if o["kind"] == "Service" and o["metadata"]["labels"].get("app.kubernetes.io/component") == "controller":
            controller_host = f"{o['metadata']['name']}.{o['metadata']['namespace']}.svc"
    pod_name = f"{RUN_ID}-pod"
    created.append(("pod", pod_name))
    podman("pod", "create", "--name", pod_name, "--add-host", f"{controller_host}:127.0.0.1",
           "--hostname", NODE_NAME)

    log("the controller's pod")
    ctl, ctl_c = start_pod_template("Deployment", pod_name, "controller")
    wait_probe(ctl, ctl_c, "readinessProbe", 30)
    wait_probe(ctl, ctl_c, "livenessProbe", 10)

    log("the node's pod (init container, then writeboostd)")
    node, node_c = start_pod_template("DaemonSet", pod_name, "node")
    wait_probe(node, node_c, "readinessProbe", 60)
    wait_probe(node, node_c, "livenessProbe", 10)

    # wbctl as NOTES.txt shows it, in the node's pod: the socket, TLS with the
    # node's certificate as client certificate, the token.
    tls = ["--tls-ca", "/etc/writeboost/tls/ca.crt", "--tls-cert", "/etc/writeboost/tls/tls.crt",
           "--tls-key", "/etc/writeboost/tls/tls.key"]
    # The first token of the token file the chart made.
    first = None
    for o in objects:
        if o["kind"] == "Secret" and "tokens" in o.get("stringData", {}):
            first = o["stringData"]["tokens"].split()[0]
    if not first:
        fail("no token in the rendered Secrets")
    token = ["--token", first]
    wbctl = ["exec", node, "wbctl", "--server", "unix:/run/writeboost/writeboost.sock", *tls, *token]

    log("wbctl in the node's pod: ls, write, read back")
    ls = podman(*wbctl, "ls").stdout
    if "vol1" not in ls:
        fail(f"wbctl ls does not list vol1: {ls}")
    podman(*wbctl, "write", "vol1", "--offset", "4096", "--length", "64K", "--fill", "0xc3", "--fua")
    data = subprocess.run(["podman", *wbctl, "read", "vol1", "--offset", "4096", "--length", "64K"],
                          capture_output=True, check=True).stdout
    if data != b"\xc3" * 65536:
        fail("vol1 read back other data")
    # The network listener too (node.grpc.expose), by the certificate's name.
    net = ["exec", node, "wbctl", "--server", "127.0.0.1:7200", "--tls-server-name", "localhost", *tls, *token]
    podman(*net, "status", "vol1")
    # Without the token: refused.
    p = podman("exec", node, "wbctl", "--server", "unix:/run/writeboost/writeboost.sock", *tls, "ls",
               check=False)
    if p.returncode == 0 or "UNAUTHENTICATED" not in p.stderr:
        fail(f"wbctl without a token was not refused: {p.stdout}{p.stderr}")

    log("the node registered vol1 with the controller (wbctl pacing)")
    ctl_tls = ["--tls-ca", "/etc/writeboost/controller-tls/ca.crt", "--tls-server-name", controller_host]
    deadline = time.time() + 20
    while True:
        p = podman("exec", ctl, "wbctl", *ctl_tls, "pacing", "--json", check=False)
        view = p.stdout
        if p.returncode == 0 and NODE_NAME in view and "vol1" in view and "san-a" in view:
            break
        if time.time() > deadline:
            fail(f"the controller does not show node {NODE_NAME} with vol1 in san-a: {view}{p.stderr}")
        time.sleep(0.5)

    log("SIGTERM stops both cleanly")
    for name, grace in ((node, 120), (ctl, 30)):
        podman("stop", "-t", str(grace), name)
        rc = podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        if rc != "0":
            logs = podman("logs", name, check=False)
            fail(f"{name} exited {rc} on SIGTERM:\n{logs.stdout}{logs.stderr}")


try:
    main()
    print("PASS")
    status = 0
except (AssertionError, RuntimeError) as e:
    print(f"FAIL: {e}")
    status = 1
finally:
    for kind, name in reversed(created):
        if kind == "container":
            podman("rm", "-f", "-t", "2", name, check=False)
        else:
            podman("pod", "rm", "-f", name, check=False)
sys.exit(status)

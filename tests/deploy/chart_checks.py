#!/usr/bin/env python3
"""What the chart's rendered objects say, beyond schema validity.

    chart_checks.py SRC RENDER_DIR

RENDER_DIR holds `helm template wb ... --namespace storage` of the default
values (default.yaml) and of each deploy/helm/writeboost/ci/*-values.yaml
(NAME.yaml). Every flag the chart passes must be one the binaries in
$BUILD/bin accept (their --help lists them), and the pieces must fit: the
secrets the pods mount exist, the probes speak the server's TLS, the
configs parse, the dashboard and alert rules are the repository's.
"""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

SRC, RENDERED = sys.argv[1], sys.argv[2]
BIN = os.path.join(os.environ["BUILD"], "bin")
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


def load(name):
    with open(os.path.join(RENDERED, name + ".yaml")) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def one(objs, kind, suffix=""):
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, f"want one {kind} *{suffix}, got {len(found)}"
    return found[0]


def pod(objs, kind):
    return one(objs, kind)["spec"]["template"]["spec"]


def flags_of(binary, *args):
    """Flag names (dashes) that `binary args --help` (or --helpfull) lists."""
    out = ""
    for h in ("--helpfull", "--help"):
        p = subprocess.run([os.path.join(BIN, binary), *args, h], capture_output=True, text=True)
        out += p.stdout + p.stderr
    return {m.replace("_", "-") for m in re.findall(r"--([a-z][a-z0-9_-]*)", out)}


def flag_names(args):
    return [re.match(r"--([a-z0-9_-]+)", a).group(1).replace("_", "-") for a in args if a.startswith("--")]


node_flags = flags_of("writeboostd")
wbctl_flags = flags_of("wbctl")
wbctl_health_flags = flags_of("wbctl", "health")
have_controller = os.path.exists(os.path.join(BIN, "writeboost-controller"))
controller_flags = flags_of("writeboost-controller") if have_controller else set()


def check_flags(render, container, known, what):
    for f in flag_names(container.get("args", [])):
        check(f in known, f"{render}: {what} flag --{f} is not one the binary lists in --help")


def check_probe(render, container, what):
    for probe in ("livenessProbe", "readinessProbe"):
        cmd = container[probe]["exec"]["command"]
        check(cmd[0] == "wbctl" and "health" in cmd, f"{render}: {what} {probe} is not wbctl health: {cmd}")
        i = cmd.index("health")
        for f in flag_names(cmd[1:i]):
            check(f in wbctl_flags, f"{render}: {what} {probe}: wbctl has no --{f}")
        for f in flag_names(cmd[i + 1:]):
            check(f in wbctl_health_flags, f"{render}: {what} {probe}: wbctl health has no --{f}")
    ready = container["readinessProbe"]["exec"]["command"]
    check("--service" in ready, f"{render}: {what} readiness probe names no service")


def mounts_resolve(render, objs, spec):
    """Every mounted ConfigMap and Secret is rendered or named in values."""
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    vols = {v["name"]: v for v in spec["volumes"]}
    for c in spec.get("initContainers", []) + spec["containers"]:
        for m in c.get("volumeMounts", []):
            check(m["name"] in vols, f"{render}: {c['name']} mounts unknown volume {m['name']}")
    return names, vols


def secret_text(objs, name, key):
    s = one(objs, "Secret", name)
    if "stringData" in s and key in s["stringData"]:
        return s["stringData"][key]
    return base64.b64decode(s["data"][key]).decode()


# --- default values -------------------------------------------------------
objs = load("default")
kinds = sorted(o["kind"] for o in objs)
check(kinds == ["ConfigMap"] * 3 + ["DaemonSet", "Deployment", "Secret", "Service", "Service"],
      f"default: objects {kinds}")
ds = pod(objs, "DaemonSet")
node = ds["containers"][0]
check_flags("default", node, node_flags, "writeboostd")
check_probe("default", node, "node")
args = node["args"]
check("--listen=127.0.0.1:7200,unix:/run/writeboost/writeboost.sock" in args,
      f"default: the node must listen on loopback and the socket only: {args}")
check("--controller=wb-writeboost-controller.storage.svc:7300" in args, f"default: --controller: {args}")
check("--controller-tls-ca=/etc/writeboost/controller-tls/ca.crt" in args, "default: no --controller-tls-ca")
check("--insecure" not in args, "default: the node is --insecure")
check(ds["hostNetwork"] and ds["dnsPolicy"] == "ClusterFirstWithHostNet", "default: host network and its DNS policy")
check(node["securityContext"]["privileged"] is True, "default: the node is not privileged")
check(ds["securityContext"]["runAsUser"] == 10001 and 6 in ds["securityContext"]["supplementalGroups"],
      "default: the node's user and group disk")
check([c["name"] for c in ds["initContainers"]] == ["prepare-dirs"], "default: no init container for hostPath ownership")
node_cfg = json.loads(one(objs, "ConfigMap", "-node")["data"]["node.json"])
check(node_cfg == {"rambuf_size": "64M", "origin_group": "default"}, f"default: node.json {node_cfg}")
names, vols = mounts_resolve("default", objs, ds)
check(("Secret", vols["controller-tls"]["secret"]["secretName"]) in names, "default: the controller CA Secret is missing")

dep = pod(objs, "Deployment")
ctl = dep["containers"][0]
if have_controller:
    check_flags("default", ctl, controller_flags, "writeboost-controller")
else:
    failures.append("writeboost-controller is not built: its flags cannot be checked")
check_probe("default", ctl, "controller")
check(dep["securityContext"]["runAsNonRoot"] is True, "default: the controller may run as root")
check(one(objs, "Deployment")["spec"]["replicas"] == 1, "default: more than one controller")
ctl_cfg = json.loads(one(objs, "ConfigMap", "-controller")["data"]["controller.json"])
check(ctl_cfg == {"lease_ms": 3000, "report_interval_ms": 500, "groups": {}}, f"default: controller.json {ctl_cfg}")

# The generated controller certificate: signed by the CA the nodes get, and
# valid for the name the nodes dial.
with tempfile.TemporaryDirectory() as tmp:
    for key in ("tls.crt", "ca.crt"):
        with open(os.path.join(tmp, key), "w") as f:
            f.write(secret_text(objs, "-controller-tls", key))
    v = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(tmp, "ca.crt"), os.path.join(tmp, "tls.crt")],
                       capture_output=True, text=True)
    check(v.returncode == 0, f"default: the generated certificate does not verify: {v.stdout}{v.stderr}")
    t = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", os.path.join(tmp, "tls.crt")],
                       capture_output=True, text=True).stdout
    check("DNS:wb-writeboost-controller.storage.svc" in t, f"default: the certificate's names: {t}")

dash = one(objs, "ConfigMap", "-dashboard")
with open(os.path.join(SRC, "deploy/grafana/writeboost.json")) as f:
    check(json.loads(dash["data"]["writeboost.json"]) == json.load(f), "default: the dashboard is not the repository's")
check(dash["metadata"]["labels"].get("grafana_dashboard") == "1", "default: the dashboard lacks the sidecar label")
svc = one(objs, "Service", "-node")
check(svc["spec"]["clusterIP"] == "None", "default: the node Service is not headless")
check(svc["metadata"]["labels"]["writeboost.io/job"] == "writeboostd", "default: node job label (alerts use job=writeboostd)")

# --- every option on ------------------------------------------------------
objs = load("all-options-values")
ds = pod(objs, "DaemonSet")
node = ds["containers"][0]
check_flags("all-options", node, node_flags, "writeboostd")
check_probe("all-options", node, "node")
args = node["args"]
for want in ("--listen=0.0.0.0:7200,unix:/run/writeboost/writeboost.sock", "--tls-cert=/etc/writeboost/tls/tls.crt",
             "--tls-key=/etc/writeboost/tls/tls.key", "--tls-ca=/etc/writeboost/tls/ca.crt",
             "--auth-tokens=/etc/writeboost/tokens/tokens", "--max-payload=4M", "--shutdown-grace-ms=5000",
             "--controller=storage-cache-controller.storage.svc:7300"):
    check(want in args, f"all-options: node args lack {want}: {args}")
check("--insecure" not in args, "all-options: --insecure with TLS")
live = node["livenessProbe"]["exec"]["command"]
for want in ("--tls-ca", "--tls-cert", "--tls-key", "--tls-server-name", "writeboost.storage.example.com"):
    check(want in live, f"all-options: the node probe lacks {want}: {live}")
devices = {m["mountPath"] for m in node["volumeMounts"] if m["name"].startswith("device-")}
want_devices = {"/dev/disk/by-partlabel/wb-origin-db", "/dev/disk/by-partlabel/wb-cache-db",
                "/dev/disk/by-partlabel/wb-origin-logs", "/dev/disk/by-partlabel/wb-cache-logs"}
check(devices == want_devices, f"all-options: device mounts {devices}")
for v in ds["volumes"]:
    if v["name"].startswith("device-"):
        check(v["hostPath"]["type"] == "BlockDevice" and v["hostPath"]["path"] in want_devices,
              f"all-options: device volume {v}")
node_cfg = json.loads(one(objs, "ConfigMap", "-node")["data"]["node.json"])
check([v["name"] for v in node_cfg["volumes"]] == ["db", "logs", "scratch"], f"all-options: node.json volumes")
check(node_cfg["volumes"][0]["tunables"] == {"writeback_threshold": 50, "barrier_deadline_ms": 5},
      "all-options: tunables")
tokens = secret_text(objs, "-tokens", "tokens").split("\n")
check("9f2c41d0e1a7b3c5 rw db,logs" in tokens and "c0de42f1b6a9d873 admin *" in tokens,
      f"all-options: token file {tokens}")
names, vols = mounts_resolve("all-options", objs, ds)
for v in ("tls", "tokens", "controller-tls"):
    check(("Secret", vols[v]["secret"]["secretName"]) in names, f"all-options: Secret of volume {v} not rendered")
check(ds["nodeSelector"] == {"writeboost.io/cache": "true"} and ds["priorityClassName"] == "storage-node-critical",
      "all-options: node placement")
check(one(objs, "DaemonSet")["spec"]["updateStrategy"] == {"type": "OnDelete"}, "all-options: update strategy")
ctl = pod(objs, "Deployment")["containers"][0]
if have_controller:
    check_flags("all-options", ctl, controller_flags, "writeboost-controller")
check_probe("all-options", ctl, "controller")
ctl_cfg = json.loads(one(objs, "ConfigMap", "-controller")["data"]["controller.json"])
check(set(ctl_cfg["groups"]) == {"san-a", "san-b"}, "all-options: controller groups")
sms = [o for o in objs if o["kind"] == "ServiceMonitor"]
check(len(sms) == 2 and all(s["metadata"]["namespace"] == "monitoring" for s in sms), "all-options: ServiceMonitors")
for s in sms:
    check(s["spec"]["jobLabel"] == "writeboost.io/job", "all-options: ServiceMonitor jobLabel")
    sel = s["spec"]["selector"]["matchLabels"]
    matched = [o for o in objs if o["kind"] == "Service"
               and all(o["metadata"]["labels"].get(k) == v for k, v in sel.items())]
    check(len(matched) == 1, f"all-options: ServiceMonitor {s['metadata']['name']} selects {len(matched)} Services")
rule = one(objs, "PrometheusRule")
with open(os.path.join(SRC, "deploy/prometheus/alerts.yml")) as f:
    check(rule["spec"] == yaml.safe_load(f), "all-options: the PrometheusRule is not deploy/prometheus/alerts.yml")
check(all(o["metadata"]["labels"].get("team") == "storage" for o in objs), "all-options: commonLabels")
check(all(o["metadata"]["name"].startswith("storage-cache") for o in objs), "all-options: fullnameOverride")

# --- Secrets made outside the chart; root; the host's /dev ------------------
objs = load("existing-secrets-values")
check(not [o for o in objs if o["kind"] == "Secret"], "existing-secrets: the chart made a Secret")
ds = pod(objs, "DaemonSet")
vols = {v["name"]: v for v in ds["volumes"]}
check(vols["tls"]["secret"]["secretName"] == "writeboost-node-tls", "existing-secrets: node TLS Secret")
check(vols["tokens"]["secret"]["secretName"] == "writeboost-tokens", "existing-secrets: tokens Secret")
check(vols["controller-tls"]["secret"]["secretName"] == "writeboost-controller-tls", "existing-secrets: controller CA")
check(vols["dev"]["hostPath"]["path"] == "/dev", "existing-secrets: the host's /dev is not mounted")
check("initContainers" not in ds, "existing-secrets: an init container although the node runs as root")
check(not ds["hostNetwork"] and ds["dnsPolicy"] == "ClusterFirst", "existing-secrets: host network")

# --- plaintext, accepted explicitly -----------------------------------------
objs = load("plaintext-values")
check(not [o for o in objs if o["kind"] == "Secret"], "plaintext: a Secret")
node = pod(objs, "DaemonSet")["containers"][0]
check("--insecure" in node["args"] and not any(a.startswith("--controller-tls-ca") for a in node["args"]),
      f"plaintext: node args {node['args']}")
check(node["securityContext"].get("privileged") is False
      and node["securityContext"]["capabilities"]["drop"] == ["ALL"], "plaintext: unprivileged node")
ctl = pod(objs, "Deployment")["containers"][0]
check("--insecure" in ctl["args"] and "--tls-ca" not in ctl["livenessProbe"]["exec"]["command"],
      "plaintext: controller args and probe")
check(not [o for o in objs if o["metadata"]["name"].endswith("-dashboard")], "plaintext: the dashboard is on")

for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)

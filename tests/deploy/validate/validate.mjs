// Validates rendered Kubernetes manifests (multi-document YAML files) against
// the Kubernetes API schemas of kubernetes-models, and the Prometheus
// Operator's for monitoring.coreos.com objects.
//
//   node validate.mjs MANIFEST.yaml...
//
// kubernetes-models checks types, enums, formats and required fields but,
// like the API's OpenAPI schemas, does not forbid unknown fields (which the
// API server drops or refuses under strict validation). This script adds
// that check: it hands the validator proxies that record every property
// the validator looks at; a property of an object the schema describes
// that the validator never looked at is not in the schema.
//
// Exit 0: every object is valid; 1: any is not, or its kind is unknown.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

// The model module of an object, by API group.
function modulePath(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "") return `kubernetes-models/${version}/${kind}`;
  if (group === "monitoring.coreos.com") {
    return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  }
  return `kubernetes-models/${group}/${version}/${kind}`;
}

// Wraps plain objects and arrays so that reads are recorded per object.
function recorder() {
  const reads = new WeakMap(); // target -> {keys: Set, enumerated: bool}
  const proxies = new WeakMap();
  const wrap = (value) => {
    if (value === null || typeof value !== "object") return value;
    if (proxies.has(value)) return proxies.get(value);
    const seen = { keys: new Set(), enumerated: false };
    reads.set(value, seen);
    const proxy = new Proxy(value, {
      get(target, key, receiver) {
        if (typeof key === "string") seen.keys.add(key);
        return wrap(Reflect.get(target, key, receiver));
      },
      has(target, key) {
        if (typeof key === "string") seen.keys.add(key);
        return Reflect.has(target, key);
      },
      ownKeys(target) {
        seen.enumerated = true; // a map (labels, data): every key is valid
        return Reflect.ownKeys(target);
      },
      getOwnPropertyDescriptor(target, key) {
        if (typeof key === "string") seen.keys.add(key);
        return Reflect.getOwnPropertyDescriptor(target, key);
      },
    });
    proxies.set(value, proxy);
    return proxy;
  };
  // Paths of properties never looked at, in objects whose other properties
  // the validator did look at (objects it never opened have no schema).
  const unknown = (value, path, out) => {
    if (value === null || typeof value !== "object") return out;
    const seen = reads.get(value);
    if (Array.isArray(value)) {
      value.forEach((v, i) => unknown(v, `${path}[${i}]`, out));
      return out;
    }
    for (const [k, v] of Object.entries(value)) {
      if (seen && !seen.enumerated && seen.keys.size > 0 && !seen.keys.has(k)) {
        out.push(`${path}.${k}`);
      } else {
        unknown(v, `${path}.${k}`, out);
      }
    }
    return out;
  };
  return { wrap, unknown };
}

let failures = 0;
const counts = new Map();
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length > 0) {
      console.error(`${file}: YAML error: ${doc.errors[0].message}`);
      failures++;
      continue;
    }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) continue;
    const name = `${file}: ${obj.kind ?? "?"} ${obj.metadata?.name ?? "?"}`;
    if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
      console.error(`${name}: no apiVersion or kind`);
      failures++;
      continue;
    }
    let model;
    try {
      model = (await import(modulePath(obj.apiVersion, obj.kind)))[obj.kind];
    } catch (e) {
      model = undefined;
    }
    if (typeof model !== "function") {
      console.error(`${name}: no schema for ${obj.apiVersion} ${obj.kind}`);
      failures++;
      continue;
    }
    const rec = recorder();
    const errors = [];
    try {
      // The model's validate() on our proxy, so that its reads are seen.
      model.prototype.validate.call(rec.wrap(obj));
    } catch (e) {
      errors.push(e.message);
    }
    for (const path of rec.unknown(obj, "", [])) errors.push(`unknown field ${path.slice(1)}`);
    if (errors.length > 0) {
      console.error(`${name}: INVALID\n  ${errors.join("\n  ")}`);
      failures++;
    }
    counts.set(obj.kind, (counts.get(obj.kind) ?? 0) + 1);
  }
}
const summary = [...counts].map(([k, n]) => `${n} ${k}`).join(", ");
if (failures > 0) {
  console.error(`${failures} invalid (checked: ${summary})`);
  process.exit(1);
}
if (counts.size === 0) {
  console.error("no objects found");
  process.exit(1);
}
console.log(`valid: ${summary}`);

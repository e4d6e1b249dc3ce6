// Validates the Prometheus Operator objects of a rendered chart (ServiceMonitor, PrometheusRule)
// against the CRD schemas of @kubernetes-models/prometheus-operator.
//   node validate_monitoring.mjs NODE_MODULES OBJECTS.json
// OBJECTS.json: a JSON array of objects. Prints one line per object; exits 1 on the first
// invalid one, naming it and the schema's complaint.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import path from "node:path";

const [modules, file] = process.argv.slice(2);
const kinds = {};
for (const kind of ["ServiceMonitor", "PrometheusRule"]) {
  const entry = path.resolve(
    modules, "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1", `${kind}.js`);
  kinds[kind] = (await import(pathToFileURL(entry).href))[kind];
}

const objects = JSON.parse(readFileSync(file, "utf8"));
let checked = 0;
for (const object of objects) {
  const name = `${object.kind}/${object.metadata?.name}`;
  const Model = kinds[object.kind];
  if (object.apiVersion !== "monitoring.coreos.com/v1" || !Model) {
    console.error(`${file}: ${name} (${object.apiVersion}) is no monitoring.coreos.com/v1 kind this check knows`);
    process.exit(1);
  }
  try {
    new Model(object).validate();
  } catch (error) {
    console.error(`${file}: ${name} is invalid: ${error.message}`);
    process.exit(1);
  }
  console.log(`${name} valid (monitoring.coreos.com/v1)`);
  checked += 1;
}
console.log(`${checked} monitoring object(s) valid`);

// Validates Kubernetes manifests (a multi-document YAML stream on stdin, as `helm template`
// prints it) against the Kubernetes API schemas of kubernetes-models and the Prometheus
// operator's. Prints one line per object; exits 1 on the first invalid or unknown one.
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';

const docs = yaml.loadAll(readFileSync(0, 'utf8')).filter(Boolean);
let failed = false;
for (const doc of docs) {
  const [group, version] = doc.apiVersion.includes('/') ? doc.apiVersion.split('/') : ['', doc.apiVersion];
  const where =
    group === 'monitoring.coreos.com'
      ? `@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version}/${doc.kind}`
      : `kubernetes-models/${group ? `${group}/` : ''}${version}/${doc.kind}`;
  let Model;
  try {
    Model = (await import(where))[doc.kind];
  } catch (e) {
    console.error(`unknown kind ${doc.apiVersion} ${doc.kind}: ${e.message}`);
    failed = true;
    continue;
  }
  try {
    new Model(doc).validate();
    console.log(`valid ${doc.apiVersion} ${doc.kind} ${doc.metadata?.name}`);
  } catch (e) {
    console.error(`invalid ${doc.apiVersion} ${doc.kind} ${doc.metadata?.name}: ${e.message}`);
    failed = true;
  }
}
if (docs.length === 0) {
  console.error('no manifests');
  failed = true;
}
process.exit(failed ? 1 : 0);

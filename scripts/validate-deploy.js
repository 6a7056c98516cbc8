#!/usr/bin/env node
// Static validation of the deployment files (no Docker engine, no cluster needed):
//   - docker-compose.yml against the Compose Specification JSON schema (infra/schemas/compose-spec.json)
//     plus the project's rules (healthchecks, depends_on targets);
//   - Dockerfile with dockerfile-utils' linter plus the project's rules (multi-stage, non-root,
//     HEALTHCHECK, pinned base images);
//   - every kustomization under k8s/ (base and overlays), rendered with `kubectl kustomize` when
//     kubectl is installed, else with the small renderer below; each object checked against the
//     Kubernetes schemas (kubernetes-models), KEDA's (@kubernetes-models/keda), and the vendored
//     Strimzi / CloudNativePG CRD schemas (infra/schemas/crds), then the project's rules (probes,
//     resources, PDBs, Secret and ConfigMap references, KafkaUser ACLs = the secure-mode table).
// Usage: node scripts/validate-deploy.js [--json] [--builtin-kustomize]
// Run by `npm test` through test/deploy/validate.spec.ts, which also feeds it broken files.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const YAML = require('yaml');

const ROOT = path.resolve(__dirname, '..');
const SCHEMAS = path.join(ROOT, 'infra', 'schemas');

// ---------------------------------------------------------------- compose

let composeValidator;
function composeSchemaValidator() {
  if (!composeValidator) {
    // The Compose spec schema is draft 2019-09 and uses `id` (not `$id`) in places.
    const Ajv2019 = require('ajv/dist/2019').default;
    const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
    // Its $schema URI carries a trailing '#' that ajv does not resolve; the dialect is 2019-09.
    // Its old `id` keywords are annotations (draft-04 spelling) that ajv refuses: drop them.
    const { $schema, ...raw } = JSON.parse(fs.readFileSync(path.join(SCHEMAS, 'compose-spec.json'), 'utf8'));
    const strip = (n) => {
      if (Array.isArray(n)) return n.map(strip);
      if (!n || typeof n !== 'object') return n;
      return Object.fromEntries(Object.entries(n).filter(([k, v]) => !(k === 'id' && typeof v === 'string')).map(([k, v]) => [k, strip(v)]));
    };
    composeValidator = ajv.compile(strip(raw));
  }
  return composeValidator;
}

function validateCompose(file) {
  const errors = [];
  let doc;
  try {
    doc = YAML.parse(fs.readFileSync(file, 'utf8'), { merge: true, maxAliasCount: -1 });
  } catch (e) {
    return [`${file}: not YAML: ${e.message}`];
  }
  const validate = composeSchemaValidator();
  if (!validate(doc)) {
    for (const e of validate.errors) errors.push(`${file}: schema: ${e.instancePath || '/'} ${e.message}${e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : ''}`);
  }
  const services = (doc && doc.services) || {};
  for (const [name, s] of Object.entries(services)) {
    const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on || {});
    for (const d of deps) if (!services[d]) errors.push(`${file}: service ${name} depends on unknown service ${d}`);
    for (const [d, c] of Object.entries(Array.isArray(s.depends_on) ? {} : s.depends_on || {})) {
      if (c && c.condition === 'service_healthy' && services[d] && !services[d].healthcheck) errors.push(`${file}: ${name} waits for ${d} to be healthy but ${d} has no healthcheck`);
    }
    const oneShot = s.restart === 'no';
    if (!oneShot && !s.healthcheck && !s.build) errors.push(`${file}: long-running service ${name} has no healthcheck`);
    if (s.image && /:latest$|^[^:]+$/.test(s.image) && !s.build) errors.push(`${file}: service ${name} uses an unpinned image ${s.image}`);
  }
  return errors;
}

// ---------------------------------------------------------------- Dockerfile

function validateDockerfile(file) {
  const { validate, ValidationSeverity } = require('dockerfile-utils');
  const text = fs.readFileSync(file, 'utf8');
  const errors = [];
  for (const d of validate(text)) {
    errors.push(`${file}:${d.range.start.line + 1}: ${ValidationSeverity[d.severity] || d.severity}: ${d.message}`);
  }
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const froms = lines.filter((l) => /^FROM\s/i.test(l));
  if (froms.length < 2) errors.push(`${file}: expected a multi-stage build (build stage + runtime stage)`);
  for (const f of froms) {
    const image = f.split(/\s+/)[1] || '';
    if (!/^[a-z0-9]/.test(image) || !image.includes(':') || image.endsWith(':latest')) errors.push(`${file}: base image not pinned to a tag: ${f}`);
  }
  const lastFrom = lines.map((l) => /^FROM\s/i.test(l)).lastIndexOf(true);
  const final = lines.slice(lastFrom);
  const user = final.filter((l) => /^USER\s/i.test(l)).pop();
  if (!user || /^USER\s+(root|0)(:|\s|$)/i.test(user)) errors.push(`${file}: the runtime stage must switch to a non-root USER`);
  if (!final.some((l) => /^HEALTHCHECK\s/i.test(l) && !/NONE/i.test(l))) errors.push(`${file}: the runtime stage needs a HEALTHCHECK`);
  if (!final.some((l) => /^(CMD|ENTRYPOINT)\s/i.test(l))) errors.push(`${file}: the runtime stage has no CMD/ENTRYPOINT`);
  if (!lines.some((l) => /^ARG\s+SERVICE\b/i.test(l))) errors.push(`${file}: the service must be selectable with ARG SERVICE`);
  return errors;
}

// ---------------------------------------------------------------- kustomize

function which(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function parseDocs(text, where) {
  return YAML.parseAllDocuments(text, { version: '1.1' }).map((d) => {
    if (d.errors.length) throw new Error(`${where}: ${d.errors[0].message}`);
    return d.toJS();
  }).filter((o) => o && typeof o === 'object');
}

function renderWithKubectl(dir) {
  const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir}: ${(r.stderr || '').trim()}`);
  return parseDocs(r.stdout, dir);
}

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'ClusterTriggerAuthentication', 'PersistentVolume', 'StorageClass']);

function mergePatch(target, patch) {
  // RFC 7386 JSON merge patch (what kustomize applies to custom resources).
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function jsonPointer(p) {
  return p.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function applyJson6902(obj, ops) {
  for (const op of ops) {
    const parts = jsonPointer(op.path);
    const last = parts.pop();
    let node = obj;
    for (const k of parts) {
      if (node[k] === undefined) throw new Error(`patch path ${op.path} not found`);
      node = node[k];
    }
    if (op.op === 'remove') {
      if (Array.isArray(node)) node.splice(Number(last), 1);
      else delete node[last];
    } else if (op.op === 'add' && Array.isArray(node)) {
      node.splice(last === '-' ? node.length : Number(last), 0, op.value);
    } else if (op.op === 'add' || op.op === 'replace') {
      if (op.op === 'replace' && node[last] === undefined) throw new Error(`patch path ${op.path} not found`);
      node[last] = op.value;
    } else throw new Error(`unsupported patch op ${op.op}`);
  }
}

function matches(obj, target) {
  if (target.kind && obj.kind !== target.kind) return false;
  if (target.name && obj.metadata.name !== target.name) return false;
  if (target.group && !(obj.apiVersion || '').startsWith(`${target.group}/`)) return false;
  if (target.version && !(obj.apiVersion || '').endsWith(`/${target.version}`)) return false;
  return true;
}

/**
 * The subset of kustomize this repository uses: resources (files and directories), namespace,
 * labels (metadata only), images, patches (files = merge patch by kind+name; inline JSON 6902
 * with a target). Anything else is an error, so a new feature cannot pass unchecked.
 */
function renderBuiltin(dir) {
  const kfile = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
  if (!kfile) throw new Error(`${dir}: no kustomization.yaml`);
  const k = YAML.parse(fs.readFileSync(kfile, 'utf8'), { version: '1.1' });
  const known = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'labels', 'images', 'patches']);
  for (const key of Object.keys(k)) if (!known.has(key)) throw new Error(`${kfile}: the built-in renderer does not support "${key}" (install kubectl)`);
  let objs = [];
  for (const r of k.resources || []) {
    const p = path.join(dir, r);
    if (fs.statSync(p).isDirectory()) objs.push(...renderBuiltin(p));
    else objs.push(...parseDocs(fs.readFileSync(p, 'utf8'), p));
  }
  for (const patch of k.patches || []) {
    if (patch.path) {
      for (const pdoc of parseDocs(fs.readFileSync(path.join(dir, patch.path), 'utf8'), patch.path)) {
        const i = objs.findIndex((o) => o.kind === pdoc.kind && o.metadata.name === pdoc.metadata.name);
        if (i < 0) throw new Error(`${patch.path}: no ${pdoc.kind}/${pdoc.metadata.name} to patch`);
        const { apiVersion, kind, metadata, ...rest } = pdoc;
        objs[i] = mergePatch(objs[i], rest);
      }
    } else if (patch.patch) {
      const ops = YAML.parse(patch.patch, { version: '1.1' });
      if (!Array.isArray(ops)) throw new Error(`${kfile}: inline patches must be JSON 6902 lists`);
      for (const o of objs) if (matches(o, patch.target || {})) applyJson6902(o, ops);
    }
  }
  for (const l of k.labels || []) {
    if (l.includeSelectors || l.includeTemplates) throw new Error(`${kfile}: labels with includeSelectors/includeTemplates need kubectl`);
    for (const o of objs) o.metadata.labels = { ...(o.metadata.labels || {}), ...l.pairs };
  }
  if (k.namespace) for (const o of objs) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  for (const img of k.images || []) {
    for (const o of objs) {
      const spec = o.spec && o.spec.template && o.spec.template.spec;
      if (!spec) continue;
      for (const c of [...(spec.containers || []), ...(spec.initContainers || [])]) {
        const [name] = c.image.split(/[:@]/);
        if (name === img.name) c.image = `${img.newName || img.name}${img.digest ? `@${img.digest}` : img.newTag ? `:${img.newTag}` : ''}`;
      }
    }
  }
  return objs;
}

function render(dir, opts = {}) {
  if (!opts.builtin && which('kubectl')) return { renderer: 'kubectl kustomize', objects: renderWithKubectl(dir) };
  return { renderer: 'built-in', objects: renderBuiltin(dir) };
}

// ---------------------------------------------------------------- schemas

const CORE = {
  'v1/ConfigMap': ['kubernetes-models/v1/ConfigMap', 'ConfigMap'],
  'v1/Secret': ['kubernetes-models/v1/Secret', 'Secret'],
  'v1/Service': ['kubernetes-models/v1/Service', 'Service'],
  'v1/Namespace': ['kubernetes-models/v1/Namespace', 'Namespace'],
  'v1/ServiceAccount': ['kubernetes-models/v1/ServiceAccount', 'ServiceAccount'],
  'apps/v1/Deployment': ['kubernetes-models/apps/v1/Deployment', 'Deployment'],
  'policy/v1/PodDisruptionBudget': ['kubernetes-models/policy/v1/PodDisruptionBudget', 'PodDisruptionBudget'],
  'networking.k8s.io/v1/NetworkPolicy': ['kubernetes-models/networking.k8s.io/v1/NetworkPolicy', 'NetworkPolicy'],
  'keda.sh/v1alpha1/ScaledObject': ['@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject', 'ScaledObject'],
  'keda.sh/v1alpha1/TriggerAuthentication': ['@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication', 'TriggerAuthentication'],
};

let crdAjv;
const crdValidators = new Map();
function crdValidator(apiVersion, kind) {
  const key = `${apiVersion}/${kind}`;
  if (crdValidators.has(key)) return crdValidators.get(key);
  const file = path.join(SCHEMAS, 'crds', `${apiVersion.replace('/', '_')}_${kind}.json`);
  let v;
  if (fs.existsSync(file)) {
    if (!crdAjv) {
      const Ajv = require('ajv').default;
      crdAjv = new Ajv({ strict: false, allErrors: true });
    }
    v = crdAjv.compile(JSON.parse(fs.readFileSync(file, 'utf8')));
  }
  crdValidators.set(key, v);
  return v;
}

function schemaErrors(o) {
  const id = `${o.kind}/${o.metadata && o.metadata.name}`;
  const key = `${o.apiVersion}/${o.kind}`;
  const core = CORE[key];
  if (core) {
    const Model = require(core[0])[core[1]];
    try {
      new Model(o).validate();
      return [];
    } catch (e) {
      const details = (e.errors || []).map((x) => `${x.instancePath || '/'} ${x.message}`).join('; ');
      return [`${id}: schema (${key}): ${details || e.message}`];
    }
  }
  const v = crdValidator(o.apiVersion, o.kind);
  if (!v) return [`${id}: no schema for ${key} (vendor one into infra/schemas/crds)`];
  if (v(o)) return [];
  return v.errors.map((e) => `${id}: schema (${key}): ${e.instancePath || '/'} ${e.message}${e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : ''}${e.params && e.params.allowedValues ? ` (${e.params.allowedValues.join(', ')})` : ''}`);
}

// ---------------------------------------------------------------- project rules

function secureAclTable() {
  // The secure-mode ACL table, compiled (npm test builds dist/ first).
  const f = path.join(ROOT, 'dist', 'libs', 'infra', 'src', 'secure.js');
  return fs.existsSync(f) ? require(f).SERVICE_ACLS : undefined;
}

function ruleErrors(objs) {
  const errors = [];
  const by = (kind) => objs.filter((o) => o.kind === kind);
  const names = (kind) => new Set(by(kind).map((o) => o.metadata.name));
  // Secrets the operators write: one per KafkaUser (Strimzi), <cluster>-app (CloudNativePG).
  const secrets = new Set([...names('Secret'), ...names('KafkaUser'), ...by('Cluster').map((c) => `${c.metadata.name}-app`)]);
  const configMaps = names('ConfigMap');
  const seen = new Set();
  for (const o of objs) {
    const id = `${o.kind}/${o.metadata.namespace || ''}/${o.metadata.name}`;
    if (seen.has(id)) errors.push(`${id}: defined twice`);
    seen.add(id);
  }
  for (const d of by('Deployment')) {
    const id = `Deployment/${d.metadata.name}`;
    const spec = d.spec.template.spec;
    const podSec = spec.securityContext || {};
    for (const c of spec.containers) {
      if (!c.readinessProbe) errors.push(`${id}: container ${c.name} has no readinessProbe`);
      if (!c.livenessProbe) errors.push(`${id}: container ${c.name} has no livenessProbe`);
      if (!c.resources || !c.resources.requests || !c.resources.requests.cpu || !c.resources.requests.memory) errors.push(`${id}: container ${c.name} needs cpu and memory requests`);
      if (!c.resources || !c.resources.limits || !c.resources.limits.memory) errors.push(`${id}: container ${c.name} needs a memory limit`);
      const sec = c.securityContext || {};
      if (!(sec.runAsNonRoot || podSec.runAsNonRoot)) errors.push(`${id}: must run as non-root`);
      if (sec.allowPrivilegeEscalation !== false) errors.push(`${id}: container ${c.name} must set allowPrivilegeEscalation: false`);
      for (const e of c.env || []) {
        const ref = e.valueFrom && e.valueFrom.secretKeyRef;
        if (ref && !secrets.has(ref.name)) errors.push(`${id}: env ${e.name} references unknown Secret ${ref.name}`);
        const cm = e.valueFrom && e.valueFrom.configMapKeyRef;
        if (cm && !configMaps.has(cm.name)) errors.push(`${id}: env ${e.name} references unknown ConfigMap ${cm.name}`);
      }
      for (const ef of c.envFrom || []) {
        if (ef.configMapRef && !configMaps.has(ef.configMapRef.name)) errors.push(`${id}: envFrom references unknown ConfigMap ${ef.configMapRef.name}`);
        if (ef.secretRef && !secrets.has(ef.secretRef.name)) errors.push(`${id}: envFrom references unknown Secret ${ef.secretRef.name}`);
      }
    }
    const labels = d.spec.template.metadata.labels || {};
    const selects = (sel) => sel && Object.entries(sel.matchLabels || {}).every(([k, v]) => labels[k] === v);
    if (!by('PodDisruptionBudget').some((p) => selects(p.spec.selector))) errors.push(`${id}: no PodDisruptionBudget selects its pods`);
    if (!by('Service').some((s) => s.spec.selector && Object.entries(s.spec.selector).every(([k, v]) => labels[k] === v))) errors.push(`${id}: no Service selects its pods`);
    if (!by('ScaledObject').some((s) => s.spec.scaleTargetRef.name === d.metadata.name)) errors.push(`${id}: no KEDA ScaledObject scales it`);
  }
  const deployments = names('Deployment');
  const triggerAuths = names('TriggerAuthentication');
  const topics = new Set(by('KafkaTopic').map((t) => t.spec.topicName || t.metadata.name));
  for (const s of by('ScaledObject')) {
    const id = `ScaledObject/${s.metadata.name}`;
    if (!deployments.has(s.spec.scaleTargetRef.name)) errors.push(`${id}: scales unknown Deployment ${s.spec.scaleTargetRef.name}`);
    let parts = 0;
    for (const t of s.spec.triggers || []) {
      if (t.authenticationRef && !triggerAuths.has(t.authenticationRef.name)) errors.push(`${id}: unknown TriggerAuthentication ${t.authenticationRef.name}`);
      if (t.type === 'kafka') {
        if (t.metadata.topic && !topics.has(t.metadata.topic)) errors.push(`${id}: lag trigger on unknown topic ${t.metadata.topic}`);
        if (!/^agentplane-/.test(t.metadata.consumerGroup || '')) errors.push(`${id}: lag trigger without the service's consumer group`);
        for (const k of by('KafkaTopic')) if ((k.spec.topicName || k.metadata.name) === t.metadata.topic) parts = Math.max(parts, k.spec.partitions);
      }
    }
    // More consumers than the largest topic's partitions would sit idle.
    if (parts > 0 && s.spec.maxReplicaCount > parts) errors.push(`${id}: maxReplicaCount ${s.spec.maxReplicaCount} > ${parts} partitions`);
  }
  for (const ta of by('TriggerAuthentication')) {
    for (const r of ta.spec.secretTargetRef || []) if (!secrets.has(r.name)) errors.push(`TriggerAuthentication/${ta.metadata.name}: unknown Secret ${r.name}`);
  }
  const kafkas = names('Kafka');
  for (const o of [...by('KafkaTopic'), ...by('KafkaUser'), ...by('KafkaNodePool')]) {
    const c = o.metadata.labels && o.metadata.labels['strimzi.io/cluster'];
    if (!kafkas.has(c)) errors.push(`${o.kind}/${o.metadata.name}: strimzi.io/cluster "${c}" names no Kafka`);
  }
  const nodes = by('KafkaNodePool').reduce((n, p) => n + p.spec.replicas, 0);
  for (const t of by('KafkaTopic')) if (t.spec.replicas > nodes) errors.push(`KafkaTopic/${t.metadata.name}: ${t.spec.replicas} replicas > ${nodes} Kafka nodes`);
  // KafkaUser ACLs = the table `infra up --secure` uses (libs/infra/src/secure.ts).
  const table = secureAclTable();
  if (table) {
    for (const [svc, { write, read }] of Object.entries(table)) {
      const u = by('KafkaUser').find((x) => x.metadata.name === `agentplane-${svc}`);
      if (!u) {
        errors.push(`KafkaUser/agentplane-${svc}: missing`);
        continue;
      }
      const ops = (name, op) => u.spec.authorization.acls.some((a) => a.resource.type === 'topic' && a.resource.name === name && (a.operations || [a.operation]).includes(op));
      const all = new Set([...write, ...read]);
      for (const kind of ['session-requests', 'session-events', 'control-events', 'dead-letters']) {
        const name = `agentplane.${kind}`;
        if (write.includes(kind) !== ops(name, 'Write')) errors.push(`KafkaUser/agentplane-${svc}: Write on ${name} ${write.includes(kind) ? 'missing' : 'not allowed by the secure-mode table'}`);
        if (read.includes(kind) !== ops(name, 'Read')) errors.push(`KafkaUser/agentplane-${svc}: Read on ${name} ${read.includes(kind) ? 'missing' : 'not allowed by the secure-mode table'}`);
        if (!all.has(kind) && ops(name, 'Describe')) errors.push(`KafkaUser/agentplane-${svc}: Describe on ${name} not needed`);
      }
    }
  }
  return errors;
}

function validateKustomize(dir, opts = {}) {
  let r;
  try {
    r = render(dir, opts);
  } catch (e) {
    return { renderer: opts.builtin ? 'built-in' : 'kubectl kustomize', objects: [], errors: [`${dir}: render failed: ${e.message}`] };
  }
  const errors = [];
  for (const o of r.objects) {
    if (!o.apiVersion || !o.kind || !o.metadata || !o.metadata.name) {
      errors.push(`${dir}: an object without apiVersion/kind/metadata.name: ${JSON.stringify(o).slice(0, 120)}`);
      continue;
    }
    errors.push(...schemaErrors(o));
  }
  try {
    errors.push(...ruleErrors(r.objects));
  } catch (e) {
    // A shape the rules did not expect: the schema errors above say which.
    errors.push(`project rules could not run: ${e.message}`);
  }
  return { renderer: r.renderer, objects: r.objects, errors: errors.map((e) => `${path.relative(ROOT, dir) || dir}: ${e}`) };
}

function kustomizations(root = path.join(ROOT, 'k8s')) {
  const out = [];
  const walk = (d) => {
    if (fs.existsSync(path.join(d, 'kustomization.yaml'))) out.push(d);
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
  };
  walk(root);
  return out.sort();
}

function validateAll(opts = {}) {
  const report = [];
  report.push({ what: 'docker-compose.yml', errors: validateCompose(opts.compose || path.join(ROOT, 'docker-compose.yml')) });
  report.push({ what: 'Dockerfile', errors: validateDockerfile(opts.dockerfile || path.join(ROOT, 'Dockerfile')) });
  for (const d of kustomizations(opts.k8s)) {
    // Only base and overlays are deployable; the base is checked as part of each overlay too.
    const r = validateKustomize(d, opts);
    report.push({ what: `${path.relative(ROOT, d)} (${r.renderer}, ${r.objects.length} objects)`, errors: r.errors });
  }
  return report;
}

module.exports = { validateCompose, validateDockerfile, validateKustomize, renderBuiltin, renderWithKubectl, kustomizations, validateAll, ruleErrors, schemaErrors };

if (require.main === module) {
  const args = process.argv.slice(2);
  const report = validateAll({ builtin: args.includes('--builtin-kustomize') });
  if (args.includes('--json')) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else for (const r of report) process.stdout.write(`${r.errors.length ? 'FAIL' : 'ok  '} ${r.what}\n${r.errors.map((e) => `     ${e}\n`).join('')}`);
  process.exit(report.some((r) => r.errors.length) ? 1 : 0);
}

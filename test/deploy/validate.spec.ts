/**
 * CI's static validation of the deployment files (scripts/validate-deploy.js): the shipped
 * Dockerfile, docker-compose.yml and every kustomization pass, and broken copies fail with the
 * reason — a compose file off the Compose spec, a Dockerfile running as root, Kubernetes
 * manifests with a wrong type, a typo'd CRD field, a dangling Secret reference, a missing PDB.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(__dirname, '../../..');
// Plain JS, loaded as is (not compiled): the same module CI runs.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const v = require(join(REPO, 'scripts', 'validate-deploy.js')) as {
  validateCompose(file: string): string[];
  validateDockerfile(file: string): string[];
  validateKustomize(dir: string, opts?: { builtin?: boolean }): { renderer: string; objects: Array<Record<string, any>>; errors: string[] };
  renderBuiltin(dir: string): Array<Record<string, any>>;
  renderWithKubectl(dir: string): Array<Record<string, any>>;
  kustomizations(root?: string): string[];
};
const hasKubectl = spawnSync('sh', ['-c', 'command -v kubectl'], { stdio: 'ignore' }).status === 0;

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'agentplane-validate-'));
}

/** A copy of k8s/ whose file `rel` is edited by `edit`. */
function brokenK8s(rel: string, edit: (text: string) => string): { dir: string; done: () => void } {
  const dir = scratch();
  cpSync(join(REPO, 'k8s'), join(dir, 'k8s'), { recursive: true });
  const f = join(dir, 'k8s', rel);
  const before = readFileSync(f, 'utf8');
  const after = edit(before);
  assert.notEqual(after, before, `the edit of ${rel} changed nothing`);
  writeFileSync(f, after);
  return { dir: join(dir, 'k8s'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('the shipped files pass: `node scripts/validate-deploy.js` exits 0', () => {
  const r = spawnSync(process.execPath, [join(REPO, 'scripts', 'validate-deploy.js')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /ok\s+docker-compose\.yml/);
  assert.match(r.stdout, /ok\s+Dockerfile/);
  for (const k of ['k8s/base', 'k8s/overlays/dev', 'k8s/overlays/prod']) assert.match(r.stdout, new RegExp(`ok\\s+${k} `));
});

test('every kustomization renders the kinds the issue asks for, with both renderers', () => {
  for (const dir of v.kustomizations(join(REPO, 'k8s'))) {
    const r = v.validateKustomize(dir, { builtin: true });
    assert.deepEqual(r.errors, [], dir);
    const kinds = new Set(r.objects.map((o) => o.kind));
    for (const k of ['Deployment', 'Service', 'PodDisruptionBudget', 'NetworkPolicy', 'ConfigMap', 'ScaledObject', 'TriggerAuthentication', 'Kafka', 'KafkaNodePool', 'KafkaTopic', 'KafkaUser', 'Cluster']) {
      assert.ok(kinds.has(k), `${dir}: no ${k}`);
    }
  }
});

test('the built-in renderer produces what kubectl kustomize does', { skip: !hasKubectl && 'kubectl not installed' }, () => {
  const key = (o: Record<string, any>) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  for (const dir of v.kustomizations(join(REPO, 'k8s'))) {
    const a = new Map(v.renderBuiltin(dir).map((o) => [key(o), o]));
    const b = new Map(v.renderWithKubectl(dir).map((o) => [key(o), o]));
    assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort(), dir);
    for (const [k, o] of a) assert.deepEqual(o, b.get(k), `${dir}: ${k}`);
  }
});

test('a compose file off the Compose spec fails', () => {
  const dir = scratch();
  try {
    const good = readFileSync(join(REPO, 'docker-compose.yml'), 'utf8');
    const f = join(dir, 'docker-compose.yml');
    // A misspelt key (`healthcheck` → `helthcheck`), a wrong type and a dangling dependency.
    writeFileSync(f, good.replace('  postgres:\n    image: postgres:16\n', '  postgres:\n    image: postgres:16\n    helthcheck: {}\n'));
    assert.ok(v.validateCompose(f).some((e) => /additional properties.*helthcheck/.test(e)), v.validateCompose(f).join('\n'));
    writeFileSync(f, good.replace('ports: ["8080:8080"]', 'ports: 8080'));
    assert.ok(v.validateCompose(f).some((e) => /\/services\/gateway\/ports must be array/.test(e)), v.validateCompose(f).join('\n'));
    writeFileSync(f, good.replace('topics: { condition: service_completed_successfully }', 'topic-setup: { condition: service_completed_successfully }'));
    assert.ok(v.validateCompose(f).some((e) => /depends on unknown service topic-setup/.test(e)));
    writeFileSync(f, 'services: [\n');
    assert.match(v.validateCompose(f)[0]!, /not YAML/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a Dockerfile that runs as root, has no healthcheck or a bad instruction fails', () => {
  const dir = scratch();
  try {
    const good = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
    const f = join(dir, 'Dockerfile');
    writeFileSync(f, good.replace('USER node', 'USER root'));
    assert.ok(v.validateDockerfile(f).some((e) => /non-root USER/.test(e)));
    writeFileSync(f, good.replace(/HEALTHCHECK[^\n]*\\\n[^\n]*\n/, ''));
    assert.ok(v.validateDockerfile(f).some((e) => /HEALTHCHECK/.test(e)), v.validateDockerfile(f).join('\n'));
    // The linter's own finding: an instruction without arguments.
    writeFileSync(f, good.replace('WORKDIR /app\nCOPY --from', 'WORKDIR\nCOPY --from'));
    assert.ok(v.validateDockerfile(f).some((e) => /dockerfile|no arguments|WORKDIR/i.test(e)), v.validateDockerfile(f).join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const BROKEN: Array<{ what: string; file: string; edit: (s: string) => string; expect: RegExp }> = [
  { what: 'a Deployment with replicas as a string', file: 'base/services/planner.yaml', edit: (s) => s.replace('replicas: 1', 'replicas: "one"'), expect: /Deployment\/planner: schema.*replicas/ },
  { what: 'a container port out of range', file: 'base/services/executor.yaml', edit: (s) => s.replace('containerPort: 8085', 'containerPort: "http"'), expect: /Deployment\/executor: schema/ },
  { what: 'a KafkaTopic field typo', file: 'base/kafka/topics.yaml', edit: (s) => s.replace('  partitions: 12\n  replicas: 3\n  config:\n    # The source', '  partition: 12\n  replicas: 3\n  config:\n    # The source'), expect: /KafkaTopic\/agentplane\.session-events: schema.*additional properties \(partition\)/ },
  { what: 'a KafkaUser ACL operation Strimzi does not know', file: 'base/kafka/users.yaml', edit: (s) => s.replace('operations: [Read, Describe]', 'operations: [Consume, Describe]'), expect: /KafkaUser\/agentplane-\S+: schema.*allowed values/ },
  { what: 'a KafkaUser ACL wider than the secure-mode table', file: 'base/kafka/users.yaml', edit: (s) => s.replace(/(name: agentplane-executor[\s\S]*?)name: agentplane\.dead-letters, patternType: literal \}, operations: \[Write, Describe\]/, '$1name: agentplane.session-requests, patternType: literal }, operations: [Write, Describe]'), expect: /KafkaUser\/agentplane-executor: Write on agentplane\.session-requests not allowed/ },
  { what: 'a CNPG Cluster with instances as text', file: 'base/postgres/cluster.yaml', edit: (s) => s.replace('instances: 3', 'instances: three'), expect: /Cluster\/agentplane-pg: schema.*instances/ },
  { what: 'a KEDA ScaledObject without triggers', file: 'base/services/executor.yaml', edit: (s) => s.replace(/  triggers:\n[\s\S]*$/, ''), expect: /ScaledObject\/executor: schema/ },
  { what: 'a Secret reference to nothing', file: 'base/services/audit.yaml', edit: (s) => s.replace('name: agentplane-pg-app', 'name: agentplane-db'), expect: /Deployment\/audit: env DATABASE_URL references unknown Secret agentplane-db/ },
  { what: 'a Deployment without a liveness probe', file: 'base/services/gateway.yaml', edit: (s) => s.replace(/          livenessProbe:\n(            .*\n)+/, ''), expect: /Deployment\/gateway: container gateway has no livenessProbe/ },
  { what: 'a Deployment without its PodDisruptionBudget', file: 'base/services/rate-limiter.yaml', edit: (s) => s.replace(/---\napiVersion: policy\/v1\n[\s\S]*?---\n/, '---\n'), expect: /Deployment\/rate-limiter: no PodDisruptionBudget/ },
  { what: 'an overlay patch on a missing path', file: 'overlays/prod/kustomization.yaml', edit: (s) => s.replace('path: /spec/minReplicaCount', 'path: /spec/minReplicas/count'), expect: /render failed/ },
];

for (const b of BROKEN) {
  test(`a broken manifest fails: ${b.what}`, () => {
    const k = brokenK8s(b.file, b.edit);
    try {
      const dir = join(k.dir, b.file.startsWith('overlays/prod') ? 'overlays/prod' : 'base');
      for (const builtin of hasKubectl ? [true, false] : [true]) {
        const r = v.validateKustomize(dir, { builtin });
        assert.ok(r.errors.some((e) => b.expect.test(e)), `${r.renderer}: expected ${b.expect}, got:\n${r.errors.join('\n')}`);
      }
    } finally {
      k.done();
    }
  });
}

test('the CLI exits 1 on a broken file and names it', () => {
  const k = brokenK8s('base/services/planner.yaml', (s) => s.replace('replicas: 1', 'replicas: "one"'));
  try {
    // Run the validator from a copy of the repo layout: scripts/ + infra/schemas + the broken k8s/.
    const root = resolve(k.dir, '..');
    cpSync(join(REPO, 'scripts', 'validate-deploy.js'), join(root, 'scripts', 'validate-deploy.js'));
    cpSync(join(REPO, 'infra', 'schemas'), join(root, 'infra', 'schemas'), { recursive: true });
    cpSync(join(REPO, 'docker-compose.yml'), join(root, 'docker-compose.yml'));
    cpSync(join(REPO, 'Dockerfile'), join(root, 'Dockerfile'));
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'validate-deploy.js')], { encoding: 'utf8', env: { ...process.env, NODE_PATH: join(REPO, 'node_modules') } });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /FAIL k8s\/base[\s\S]*Deployment\/planner: schema/);
  } finally {
    k.done();
  }
});

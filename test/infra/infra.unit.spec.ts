/**
 * The `azd up` deployment, checked without Azure: the workbook queries only the telemetry the services emit,
 * azure.yaml and the Dockerfile agree with the workspace, and the Service Bus topology in Bicep is exactly the
 * one in shared/src/contracts/messages.ts (a topology change without an infra change fails here).
 * `bicep build` runs only where the Bicep CLI is at .test-servers/bin/bicep (see docs/azure.md).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { subscriptions, topics } from '@fhir-migrate/shared/contracts/messages.ts';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');
const services = ['planner', 'exporter', 'importer', 'verifier', 'api'] as const;

/** Metric names the services record (OpenTelemetry → Application Insights customMetrics). */
const knownMetrics = new Set([
  'fhir_migrate.resources.exported',
  'fhir_migrate.resources.imported',
  'fhir_migrate.resources.failed',
  'fhir_migrate.jobs',
  'fhir_migrate.chunk.duration',
  'fhir_migrate.lag',
  'fhir_migrate.verification.resources',
]);
const knownTables = new Set(['customMetrics', 'requests', 'dependencies', 'exceptions', 'traces']);

interface WorkbookItem {
  type: number;
  name: string;
  content: { query?: string; parameters?: { name: string; query?: string }[] };
}

function workbookQueries(): { name: string; query: string }[] {
  const workbook = JSON.parse(read('infra/workbook.json')) as { items: WorkbookItem[] };
  return workbook.items.flatMap((item) => [
    ...(item.content.query ? [{ name: item.name, query: item.content.query }] : []),
    ...(item.content.parameters ?? []).flatMap((p) =>
      p.query ? [{ name: `${item.name}.${p.name}`, query: p.query }] : [],
    ),
  ]);
}

/** The tables a KQL query reads: its first word, or the operands of a leading `union`. */
function tablesOf(query: string): string[] {
  const first = query.trim().split('\n')[0] ?? '';
  const union = /^union\s+(.+)$/.exec(first);
  return union?.[1] ? union[1].split(',').map((t) => t.trim()) : [first.trim()];
}

describe('infra/workbook.json', () => {
  it('is a Notebook/1.0 workbook whose placeholder the workbook module replaces', () => {
    const workbook = JSON.parse(read('infra/workbook.json')) as {
      version: string;
      fallbackResourceIds: string[];
    };
    expect(workbook.version).toBe('Notebook/1.0');
    const module = read('infra/modules/workbook.bicep');
    for (const id of workbook.fallbackResourceIds) expect(module).toContain(`'${id}'`);
  });

  it('queries only known tables and the metric names the services emit', () => {
    const queries = workbookQueries();
    expect(queries.length).toBeGreaterThan(5);
    const used = new Set<string>();
    for (const { name, query } of queries) {
      for (const table of tablesOf(query)) expect(knownTables, `${name}: table ${table}`).toContain(table);
      for (const [metric] of query.matchAll(/fhir_migrate\.[a-z_.]+[a-z]/g)) {
        expect(knownMetrics, `${name}: metric ${metric}`).toContain(metric);
        used.add(metric);
      }
    }
    expect([...used].sort()).toEqual([...knownMetrics].sort());
  });
});

describe('azure.yaml', () => {
  const yaml = parseYaml(read('azure.yaml')) as {
    services: Record<
      string,
      {
        project: string;
        host: string;
        language: string;
        docker: { path: string; context: string; buildArgs: string[] };
      }
    >;
  };

  it('deploys the five services as Container Apps from the root Dockerfile', () => {
    expect(Object.keys(yaml.services).sort()).toEqual([...services].sort());
    for (const name of services) {
      const s = yaml.services[name];
      expect(s?.host, name).toBe('containerapp');
      expect(s?.language, name).toBe('js');
      const project = join(root, s?.project ?? '');
      expect(existsSync(join(project, 'package.json')), `${name}: ${s?.project}`).toBe(true);
      expect(resolve(project, s?.docker.path ?? '')).toBe(join(root, 'Dockerfile'));
      expect(resolve(project, s?.docker.context ?? '')).toBe(root);
      expect(s?.docker.buildArgs).toContain(`SERVICE=${name}`);
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  it('runs as a non-root user on Node 22 in its last stage', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:22-[a-z-]+$/m);
    expect(runtime).toMatch(/^FROM \$\{NODE_IMAGE\} AS runtime$/m);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).not.toMatch(/g\+\+|python3|apt-get/);
  });

  it('starts the CLI with the service from the build argument, the api on 0.0.0.0:8080', () => {
    expect(runtime).toContain('node cli/bin/fhir-migrate.js service');
    expect(runtime).toContain('--host 0.0.0.0 --port 8080');
    expect(existsSync(join(root, 'cli/bin/fhir-migrate.js'))).toBe(true);
    expect(dockerfile).toContain('npm ci --omit=dev');
  });

  it('keeps tests and fixtures out of the image', () => {
    const ignore = read('.dockerignore').split('\n');
    for (const entry of [
      'test/**',
      '!test/package.json',
      '**/*.spec.ts',
      '.test-servers',
      'shared/src/testing',
    ])
      expect(ignore, entry).toContain(entry);
    expect(dockerfile).not.toMatch(/^COPY test\/ /m);
  });
});

describe('infra/main.bicep', () => {
  const main = read('infra/main.bicep');

  /** The body of `var <name> = <open> … <close>` at the start of a line. */
  function block(name: string, open: string, close: string): string {
    const start = main.indexOf(`\nvar ${name} = ${open}\n`);
    expect(start, `var ${name}`).toBeGreaterThanOrEqual(0);
    const end = main.indexOf(`\n${close}\n`, start);
    return main.slice(start, end);
  }

  it('declares exactly the topics of messages.ts', () => {
    const declared = [...block('topics', '[', ']').matchAll(/^ {2}'([a-z-]+)'$/gm)].map((m) => m[1]);
    expect(declared.sort()).toEqual(Object.values(topics).sort());
  });

  it('declares exactly the subscriptions of messages.ts, one per consuming service', () => {
    const expected = Object.entries(subscriptions)
      .flatMap(([service, list]) => list.map((topic) => `${topic}/${service}`))
      .sort();
    const flat = [
      ...block('subscriptions', '[', ']').matchAll(/\{ topic: '([a-z-]+)', subscription: '([a-z]+)' \}/g),
    ];
    expect(flat.map((m) => `${m[1]}/${m[2]}`).sort()).toEqual(expected);
    const topology = block('topology', '{', '}');
    const byService = [...topology.matchAll(/^ {2}([a-z]+): \[\n((?: {4}'[a-z-]+'\n)+) {2}\]/gm)].flatMap(
      (m) => [...(m[2] ?? '').matchAll(/'([a-z-]+)'/g)].map((t) => `${t[1]}/${m[1]}`),
    );
    expect(byService.sort()).toEqual(expected);
  });

  it('gives every container the environment the configuration reads', () => {
    for (const name of [
      'FHIR_MIGRATE_MIGRATION_ID',
      'FHIR_MIGRATE_SOURCE_URL',
      'FHIR_MIGRATE_DESTINATION_URL',
      'FHIR_MIGRATE_SOURCE_AUTH',
      'FHIR_MIGRATE_DESTINATION_AUTH',
      'FHIR_MIGRATE_EXPORT_DIALECT',
      'FHIR_MIGRATE_IMPORT_DIALECT',
      'FHIR_MIGRATE_LEDGER',
      'FHIR_MIGRATE_COSMOS_ENDPOINT',
      'FHIR_MIGRATE_COSMOS_DATABASE',
      'FHIR_MIGRATE_COSMOS_CONTAINER',
      'FHIR_MIGRATE_BUS',
      'FHIR_MIGRATE_SERVICEBUS_NAMESPACE',
      'FHIR_MIGRATE_STAGING',
      'FHIR_MIGRATE_BLOB_ACCOUNT_URL',
      'FHIR_MIGRATE_BLOB_CONTAINER',
      'APPLICATIONINSIGHTS_CONNECTION_STRING',
      'FHIR_MIGRATE_LOG_LEVEL',
    ])
      expect(main, name).toContain(`{ name: '${name}', value: `);
    const app = read('infra/modules/container-app.bicep');
    expect(app).toContain("name: 'AZURE_CLIENT_ID'");
    expect(app).toContain("name: 'FHIR_MIGRATE_API_KEY'");
    expect(app).toContain("secretRef: 'api-key'");
  });

  it('references only module files that exist, and every module is used', () => {
    const files = [
      'infra/main.bicep',
      ...readdirSync(join(root, 'infra/modules')).map((f) => `infra/modules/${f}`),
    ];
    const referenced = new Set<string>();
    for (const file of files) {
      for (const [, path] of read(file).matchAll(/^module \w+ '([^']+)'/gm)) {
        const target = resolve(dirname(join(root, file)), path ?? '');
        expect(existsSync(target), `${file} → ${path}`).toBe(true);
        referenced.add(target);
      }
    }
    for (const file of files.slice(1)) expect(referenced, file).toContain(join(root, file));
  });

  it('maps every required main.bicep parameter in main.parameters.json, and nothing undeclared', () => {
    const declared = [...main.matchAll(/^param (\w+) (\w+)( = )?/gm)];
    const mapped = Object.keys(
      (JSON.parse(read('infra/main.parameters.json')) as { parameters: Record<string, unknown> }).parameters,
    );
    const names = declared.map((m) => m[1]);
    for (const name of mapped) expect(names, name).toContain(name);
    for (const m of declared.filter((d) => !d[3])) expect(mapped, m[1]).toContain(m[1]);
  });

  const bicep = join(root, '.test-servers/bin/bicep');
  if (!existsSync(bicep))
    console.log(
      `bicep build skipped: no Bicep CLI at ${bicep} (it is published on NuGet as Azure.Bicep.CommandLine.linux-x64; see docs/azure.md)`,
    );
  it.skipIf(!existsSync(bicep))('compiles with the Bicep CLI (bicep build, no errors)', () => {
    const out = execFileSync(bicep, ['build', join(root, 'infra/main.bicep'), '--stdout'], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(JSON.parse(out)).toHaveProperty('resources');
  });
});

import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AnonymousCredential,
  BlobServiceClient,
  ContainerClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
  type UserDelegationKey,
} from '@azure/storage-blob';
import { afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { Staging } from '../../ports/staging.ts';
import { StagingNotFoundError } from '../../ports/staging.ts';
import { stagingContract } from '../../testing/staging-contract.ts';
import { BlobStagingError, type BlobStagingOptions, createBlobStaging } from './staging-blob.ts';

const { connectionString } = inject('azurite');
const service = BlobServiceClient.fromConnectionString(connectionString);

function containerName(): string {
  return `staging-${randomUUID()}`;
}

async function freshContainer(): Promise<ContainerClient> {
  const container = service.getContainerClient(containerName());
  await container.create();
  return container;
}

async function* text(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield Buffer.from(part, 'utf8');
}

function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

stagingContract('Blob Storage (Azurite)', async () => {
  const container = await freshContainer();
  const staging = await createBlobStaging({ container, urls: 'sas' });
  return {
    staging,
    cleanup: async () => {
      await staging.close();
      await container.deleteIfExists();
    },
  };
});

describe('staging-blob', () => {
  let container: ContainerClient;
  const opened: Staging[] = [];

  async function open(options: Partial<BlobStagingOptions> = {}): Promise<Staging> {
    const staging = await createBlobStaging({ container, urls: 'sas', ...options });
    opened.push(staging);
    return staging;
  }

  /** A container client authorised only by a container SAS in its URL. */
  function sasClient(permissions: string, expiresOn = new Date(Date.now() + 60_000)): ContainerClient {
    const credential = service.credential;
    if (!(credential instanceof StorageSharedKeyCredential)) throw new Error('Azurite has a shared key');
    const sas = generateBlobSASQueryParameters(
      {
        containerName: container.containerName,
        permissions: ContainerSASPermissions.parse(permissions),
        expiresOn,
      },
      credential,
    ).toString();
    return new ContainerClient(`${container.url}?${sas}`, new AnonymousCredential());
  }

  beforeAll(() => {
    expect(service.credential).toBeInstanceOf(StorageSharedKeyCredential);
  });

  beforeEach(async () => {
    container = await freshContainer();
  });

  afterEach(async () => {
    for (const staging of opened.splice(0)) await staging.close();
    await container.deleteIfExists();
  });

  describe("urls: 'sas'", () => {
    it('gives a read-only account-key blob SAS that a plain fetch can read until it expires, and not after', async () => {
      const staging = await open();
      await staging.put('a/Patient.ndjson', text('{"resourceType":"Patient"}\n'));

      const url = await staging.urlFor('a/Patient.ndjson', { expiresInMs: 1_500 });
      const params = new URL(url).searchParams;
      expect(params.get('sp')).toBe('r');
      expect(params.get('sr')).toBe('b');
      expect(params.get('sig')).toBeTruthy();
      expect(params.has('skoid')).toBe(false);
      const before = await fetch(url);
      expect(before.status).toBe(200);
      expect(before.headers.get('content-type')).toBe('application/fhir+ndjson');
      expect(await before.text()).toBe('{"resourceType":"Patient"}\n');

      // Rounded up to the next whole second: expired at most 2.5 s from now.
      await sleep(2_600);
      const after = await fetch(url);
      expect(after.status).toBe(403);
      expect(await after.text()).not.toContain('Patient"');
    });

    it('cannot write or list through the SAS it hands out', async () => {
      const staging = await open();
      await staging.put('k.ndjson', text('original\n'));
      const url = await staging.urlFor('k.ndjson', { expiresInMs: 60_000 });

      const write = await fetch(url, {
        method: 'PUT',
        headers: { 'x-ms-blob-type': 'BlockBlob' },
        body: 'replaced\n',
      });
      const listUrl = new URL(url);
      listUrl.pathname = listUrl.pathname.replace(/\/[^/]*$/, '');
      listUrl.searchParams.set('restype', 'container');
      listUrl.searchParams.set('comp', 'list');
      const list = await fetch(listUrl);

      expect(write.status).toBe(403);
      expect(list.status).toBe(403);
      expect(await (await fetch(url)).text()).toBe('original\n');
    });

    it('signs user-delegation SAS with one cached key, renewed before it expires', async () => {
      let clock = Date.parse('2030-01-01T00:00:00Z');
      const requests: { startsOn: Date; expiresOn: Date }[] = [];
      const getUserDelegationKey = async (startsOn: Date, expiresOn: Date): Promise<UserDelegationKey> => {
        requests.push({ startsOn, expiresOn });
        return {
          signedObjectId: '00000000-0000-0000-0000-00000000000a',
          signedTenantId: '00000000-0000-0000-0000-00000000000b',
          signedStartsOn: startsOn,
          signedExpiresOn: expiresOn,
          signedService: 'b',
          signedVersion: '2025-11-05',
          value: randomBytes(32).toString('base64'),
        };
      };
      const staging = await open({
        getUserDelegationKey,
        now: () => new Date(clock),
        delegationKeyLifetimeMs: 24 * 3_600_000,
        delegationKeyRenewBeforeMs: 3_600_000,
      });

      const [first, second] = await Promise.all([
        staging.urlFor('x.ndjson', { expiresInMs: 60_000 }),
        staging.urlFor('y.ndjson', { expiresInMs: 60_000 }),
      ]);
      clock += 20 * 3_600_000; // 4 h of the key left: still used
      await staging.urlFor('x.ndjson', { expiresInMs: 60_000 });
      expect(requests).toHaveLength(1);
      clock += 3.5 * 3_600_000; // 30 min left, under the 1 h margin: renewed
      await staging.urlFor('x.ndjson', { expiresInMs: 60_000 });
      await staging.urlFor('x.ndjson', { expiresInMs: 2 * 24 * 3_600_000 }); // outlives the key: renewed
      await expect(staging.urlFor('x.ndjson', { expiresInMs: 8 * 24 * 3_600_000 })).rejects.toThrow(/7 days/);

      expect(requests).toHaveLength(3);
      expect(requests[0]?.startsOn.getTime()).toBeLessThan(Date.parse('2030-01-01T00:00:00Z'));
      expect(requests[2]?.expiresOn.getTime()).toBeGreaterThanOrEqual(clock + 2 * 24 * 3_600_000);
      for (const url of [first, second]) {
        const params = new URL(url).searchParams;
        expect(params.get('skoid')).toBe('00000000-0000-0000-0000-00000000000a');
        expect(params.get('sp')).toBe('r');
        expect(params.get('se')).toBe('2030-01-01T00:01:00Z');
      }
    });

    it('refuses to start when the client can sign nothing', async () => {
      await expect(createBlobStaging({ container: sasClient('rl'), urls: 'sas' })).rejects.toThrow(
        /shared key or a token credential/,
      );
    });
  });

  describe("urls: 'plain'", () => {
    it('gives the blob URL without any query string', async () => {
      const staging = await open({ urls: 'plain' });
      await staging.put('Pätiënt/1.ndjson', text('x\n'));

      const url = await staging.urlFor('Pätiënt/1.ndjson', { expiresInMs: 60_000 });

      expect(url).toBe(container.getBlobClient('Pätiënt/1.ndjson').url);
      expect(new URL(url).search).toBe('');
      expect(url.startsWith(`${container.url}/`)).toBe(true);
      // Private container: no anonymous read.
      expect((await fetch(url)).status).not.toBe(200);
    });

    it('drops a SAS the container client itself carries', async () => {
      const staging = await createBlobStaging({ container: sasClient('racwdl'), urls: 'plain' });
      opened.push(staging);
      await staging.put('p.ndjson', text('via sas client\n'));

      const url = await staging.urlFor('p.ndjson', { expiresInMs: 60_000 });

      expect(url).not.toContain('?');
      expect(url).not.toContain('sig=');
    });
  });

  describe('blob layout', () => {
    it('keeps the sha256 in blob metadata and the content type in the blob headers', async () => {
      const staging = await open();
      const stored = await staging.put('m/Observation.ndjson', text('{"a":1}\n', '{"a":2}\n'));

      const properties = await container.getBlobClient('m/Observation.ndjson').getProperties();

      expect(properties.metadata).toEqual({ sha256: stored.sha256 });
      expect(properties.contentLength).toBe(stored.bytes);
      expect(properties.contentType).toBe('application/fhir+ndjson');
      expect(properties.blobType).toBe('BlockBlob');
    });

    it('works under a key prefix, seeing nothing outside it', async () => {
      await container.getBlockBlobClient('outside.ndjson').upload('other', 5);
      const staging = await open({ keyPrefix: 'staging/run-1' });

      const stored = await staging.put('Patient.ndjson', text('inside\n'));

      expect(stored.key).toBe('Patient.ndjson');
      expect(await container.getBlobClient('staging/run-1/Patient.ndjson').exists()).toBe(true);
      expect(await staging.list('')).toEqual([stored]);
      await expect(staging.get('outside.ndjson')).rejects.toBeInstanceOf(StagingNotFoundError);
      const url = new URL(await staging.urlFor('Patient.ndjson', { expiresInMs: 60_000 }));
      expect(url.pathname.endsWith('/staging/run-1/Patient.ndjson')).toBe(true);
      await staging.delete('Patient.ndjson');
      expect(await container.getBlobClient('staging/run-1/Patient.ndjson').exists()).toBe(false);
      expect(await container.getBlobClient('outside.ndjson').exists()).toBe(true);
    });

    it('hashes a blob written by something else once, and stores its sha256', async () => {
      await container.getBlockBlobClient('foreign.ndjson').upload('written elsewhere\n', 18);
      const staging = await open();

      expect(await staging.list('foreign')).toEqual([
        { key: 'foreign.ndjson', bytes: 18, sha256: sha256Hex('written elsewhere\n') },
      ]);
      const properties = await container.getBlobClient('foreign.ndjson').getProperties();
      expect(properties.metadata?.sha256).toBe(sha256Hex('written elsewhere\n'));
    });
  });

  describe('errors', () => {
    it('name the operation and the key, and never carry the SAS', async () => {
      const readOnly = await createBlobStaging({ container: sasClient('rl'), urls: 'plain' });
      opened.push(readOnly);

      const error = await readOnly.put('denied/Patient.ndjson', text('x\n')).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(BlobStagingError);
      expect(error).toMatchObject({ operation: 'put', key: 'denied/Patient.ndjson', status: 403 });
      const message = (error as Error).message;
      expect(message).toContain('put');
      expect(message).toContain('denied/Patient.ndjson');
      expect(message).not.toContain('sig=');
      expect(JSON.stringify(error)).not.toContain('sig=');
    });

    it('never carry the SAS of an expired client, nor the account key', async () => {
      const expired = await createBlobStaging({
        container: sasClient('racwdl', new Date(Date.now() - 60_000)),
        urls: 'plain',
      });
      opened.push(expired);
      const accountKey = /AccountKey=([^;]+)/.exec(connectionString)?.[1] ?? 'no key';

      const errors = await Promise.all([
        expired.list('any/').catch((e: unknown) => e),
        expired.get('any/key').catch((e: unknown) => e),
        expired.delete('any/').catch((e: unknown) => e),
      ]);

      for (const error of errors) {
        expect(error).toBeInstanceOf(Error);
        expect(error).not.toBeInstanceOf(StagingNotFoundError);
        const message = (error as Error).message;
        expect(message).toMatch(/^staging (list|get|delete) "any\//);
        expect(message).not.toContain('sig=');
        expect(message).not.toContain(accountKey);
      }
    });

    it('report a missing container as not found on get, and as a failure on put', async () => {
      const missing = await createBlobStaging({
        container: service.getContainerClient(containerName()),
        urls: 'sas',
      });
      opened.push(missing);

      await expect(missing.get('a.ndjson')).rejects.toBeInstanceOf(StagingNotFoundError);
      await expect(missing.put('a.ndjson', text('x'))).rejects.toMatchObject({
        operation: 'put',
        key: 'a.ndjson',
        status: 404,
        storageCode: 'ContainerNotFound',
      });
      await missing.delete('a.ndjson');
    });
  });
});

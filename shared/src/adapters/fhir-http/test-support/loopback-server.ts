/**
 * A plain node:http server on 127.0.0.1:0 for the client's HTTP-level tests (retries, resets, timeouts,
 * auth): not a FHIR server. Each request is recorded with its body; the handler decides the reply.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Server } from 'node:net';
import { afterEach } from 'vitest';
import { createFhirClient, type FhirClient, type FhirClientOptions } from '../client.ts';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

export type LoopbackHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  ctx: { body: string; n: number; requests: RecordedRequest[] },
) => unknown;

export interface LoopbackServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startLoopbackServer(handler: LoopbackHandler): Promise<LoopbackServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        at: Date.now(),
      });
      const n = requests.length;
      Promise.resolve()
        .then(() => handler(req, res, { body, n, requests }))
        .catch((error: unknown) => {
          if (!res.headersSent) res.writeHead(599).end(String(error));
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = portOf(server);
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port on which nothing listens (bound then released). */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = portOf(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string')
    throw new Error('server is not listening on a TCP port');
  return address.port;
}

/**
 * For a spec file: `setup(handler)` starts a loopback server and a FHIR client on `<server>/fhir` (fast
 * retries, no real sleeping, plus any client options given), both closed after each test.
 */
export function useLoopbackClients(): (
  handler: LoopbackHandler,
  clientOptions?: Partial<FhirClientOptions>,
) => Promise<{ server: LoopbackServer; client: FhirClient }> {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return async (handler, clientOptions = {}) => {
    const server = await startLoopbackServer(handler);
    const client = createFhirClient({
      baseUrl: `${server.url}/fhir`,
      retry: { maxAttempts: 2, baseDelayMs: 1 },
      sleep: async () => {},
      ...clientOptions,
    });
    cleanups.push(
      () => server.close(),
      () => client.close(),
    );
    return { server, client };
  };
}

/**
 * Serves staged objects over plain HTTP behind signed, expiring tokens, so that the destination FHIR
 * server's `$import` can pull them: `GET|HEAD /staging/<payload>.<signature>`, where
 * `payload = base64url(JSON {k: key, e: expiry epoch ms})` and
 * `signature = base64url(HMAC-SHA256(secret, "fhir-migrate.staging.v1\n" + payload))`.
 *
 * The key is readable from a URL (it is only signed, not encrypted); keys carry no patient data.
 * Error bodies are short and generic: they never echo the token or the key.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** HMAC keys shorter than this are refused. */
export const MIN_SECRET_BYTES = 32;

const SIGNING_CONTEXT = 'fhir-migrate.staging.v1\n';
const MAX_TOKEN_CHARS = 16_384;
const TOKEN_SHAPE = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;
const ROUTE = /^\/staging\/([^/?#]+)$/;
const CLOSE_SWEEP_MS = 20;
const CLOSE_GRACE_MS = 5_000;

export type TokenCheck = { ok: true; key: string } | { ok: false; status: 400 | 403 };

function signature(secret: Buffer, payload: string): string {
  return createHmac('sha256', secret).update(SIGNING_CONTEXT).update(payload).digest('base64url');
}

export function signStagingToken(secret: Buffer, key: string, expiresAtMs: number): string {
  const payload = Buffer.from(JSON.stringify({ k: key, e: expiresAtMs }), 'utf8').toString('base64url');
  return `${payload}.${signature(secret, payload)}`;
}

/** 400 for a token that is not one of ours in shape, 403 for a bad signature or an expired token. */
export function verifyStagingToken(secret: Buffer, token: string, nowMs: number): TokenCheck {
  const parts = token.length <= MAX_TOKEN_CHARS ? TOKEN_SHAPE.exec(token) : null;
  if (!parts?.[1] || !parts[2]) return { ok: false, status: 400 };
  const payload = parts[1];
  // Compared as canonical base64url text, so that a re-encoding with other padding bits is refused too.
  const given = Buffer.from(parts[2], 'ascii');
  const expected = Buffer.from(signature(secret, payload), 'ascii');
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { ok: false, status: 403 };
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, status: 400 };
  }
  if (typeof claims !== 'object' || claims === null) return { ok: false, status: 400 };
  const { k, e } = claims as Record<string, unknown>;
  if (typeof k !== 'string' || typeof e !== 'number' || !Number.isSafeInteger(e))
    return { ok: false, status: 400 };
  if (nowMs >= e) return { ok: false, status: 403 };
  return { ok: true, key: k };
}

/** An object opened for serving. Either call `stream()` (which then owns and closes it) or `close()`. */
export interface ServedObject {
  bytes: number;
  contentType: string;
  stream(): Readable;
  close(): Promise<void>;
}

export interface StagingHttpServerOptions {
  host: string;
  /** 0 picks an ephemeral port. */
  port: number;
  /** Base URL handed out instead of `http://host:port` (e.g. behind a proxy or from inside a container). */
  publicBaseUrl?: string;
  secret: Buffer;
  now: () => Date;
  /** Resolves undefined when there is no such object (or the key is not a valid key). */
  openObject: (key: string) => Promise<ServedObject | undefined>;
}

export interface StagingHttpServer {
  /** No trailing slash. */
  readonly baseUrl: string;
  readonly address: { host: string; port: number };
  /** Stops listening; resolves once in-flight responses have finished. Idempotent. */
  close(): Promise<void>;
}

function sendStatus(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
) {
  const body = `${message}\n`;
  res.writeHead(status, {
    ...headers,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

async function handle(req: IncomingMessage, res: ServerResponse, options: StagingHttpServerOptions) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendStatus(res, 405, 'method not allowed', { allow: 'GET, HEAD' });
    return;
  }
  const route = ROUTE.exec((req.url ?? '').split('?', 1)[0] ?? '');
  if (!route?.[1]) {
    sendStatus(res, 404, 'not found');
    return;
  }
  const check = verifyStagingToken(options.secret, route[1], options.now().getTime());
  if (!check.ok) {
    sendStatus(res, check.status, check.status === 400 ? 'malformed token' : 'forbidden');
    return;
  }
  const object = await options.openObject(check.key);
  if (!object) {
    sendStatus(res, 404, 'not found');
    return;
  }
  res.writeHead(200, {
    'content-type': object.contentType,
    'content-length': String(object.bytes),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  if (req.method === 'HEAD') {
    await object.close();
    res.end();
    return;
  }
  await pipeline(object.stream(), res);
}

function urlHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

export async function startStagingHttpServer(options: StagingHttpServerOptions): Promise<StagingHttpServer> {
  const server = createServer((req, res) => {
    handle(req, res, options).catch(() => {
      // A client that went away mid-body, or an I/O error: nothing useful to tell anyone here.
      if (res.headersSent) res.destroy();
      else sendStatus(res, 500, 'internal error');
    });
  });
  await new Promise<void>((resolve, reject) => {
    const fail = (error: Error) =>
      reject(
        new Error(`staging HTTP server cannot listen on ${options.host}:${options.port}: ${error.message}`),
      );
    server.once('error', fail);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', fail);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const address = { host: bound.address, port: bound.port };
  const baseUrl = options.publicBaseUrl
    ? options.publicBaseUrl.replace(/\/+$/, '')
    : `http://${urlHost(address.host)}:${address.port}`;
  let closing: Promise<void> | undefined;
  return {
    baseUrl,
    address,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        // A keep-alive connection becomes idle a moment after its last response finished: sweep idle ones
        // until every connection is gone, and cut the rest (slow downloads) after a grace period.
        const sweep = setInterval(() => server.closeIdleConnections(), CLOSE_SWEEP_MS);
        const cut = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        server.close((error) => {
          clearInterval(sweep);
          clearTimeout(cut);
          if (error) reject(error);
          else resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

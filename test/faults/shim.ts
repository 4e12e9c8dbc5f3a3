/**
 * A loopback HTTP shim in front of a FHIR server, for the faults a TCP proxy cannot make: chosen status
 * codes (429 with or without Retry-After, 500/502/503), a job that reports failure or never finishes,
 * rewritten manifests and NDJSON files, and responses cut off after some bytes. Everything else is
 * forwarded unchanged, Host header included, so the server's absolute URLs keep pointing at the shim
 * (or at whatever proxy sits in front of it).
 */
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ShimRequest {
  method: string;
  /** Path and query, as received. */
  path: string;
  /** The Authorization header, if any. */
  authorization?: string;
}

export type ShimAction =
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** Forward, then hand the upstream body to `rewrite` (the reply's status and type are kept). */
  | { kind: 'rewrite'; rewrite: (body: string, req: ShimRequest) => string }
  /** Forward, but destroy the connection after `afterBytes` bytes of the body. */
  | { kind: 'cut'; afterBytes: number };

export interface ShimRule {
  name: string;
  match: (req: ShimRequest) => boolean;
  /** How many matching requests the rule acts on (default 1). */
  times?: number;
  /** What to do instead of a plain forward (default: forward). */
  action?: ShimAction;
  /** Awaited before the request is answered or forwarded (e.g. to add a Toxiproxy toxic just in time). */
  before?: () => Promise<void>;
  /** Called when the reply is over, finished or cut. */
  after?: () => void;
}

export interface RuleHandle {
  /** How many requests the rule has acted on so far. */
  readonly hits: number;
  remove(): void;
}

export interface Shim {
  url: string;
  port: number;
  /** Every request seen, in order. */
  seen: ShimRequest[];
  add(rule: ShimRule): RuleHandle;
  /** Rewrites the path of every forwarded request (e.g. to drop a storage SAS query the server would refuse). */
  forwardPath(rewrite: (path: string) => string): void;
  clear(): void;
  close(): Promise<void>;
}

interface ActiveRule extends ShimRule {
  hits: number;
  removed: boolean;
}

export async function startShim(upstreamBase: string): Promise<Shim> {
  const upstream = new URL(upstreamBase);
  const rules: ActiveRule[] = [];
  const seen: ShimRequest[] = [];
  let pathRewrite: (path: string) => string = (path) => path;

  function take(req: ShimRequest): ActiveRule | undefined {
    const rule = rules.find((r) => !r.removed && r.hits < (r.times ?? 1) && r.match(req));
    if (rule) rule.hits++;
    return rule;
  }

  const server = createServer((req, res) => {
    const shimReq: ShimRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    };
    seen.push(shimReq);
    const rule = take(shimReq);
    const action = rule?.action;
    if (rule?.after) res.once('close', rule.after);
    const answer = () => {
      if (action?.kind === 'status') {
        req.resume();
        res.writeHead(action.status, { 'content-type': 'application/fhir+json', ...action.headers });
        res.end(action.body ?? '');
        return;
      }
      forward(req, res, action);
    };
    if (rule?.before)
      rule.before().then(answer, (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`shim: rule ${rule.name} failed before answering: ${String(err)}`);
      });
    else answer();
  });

  function forward(req: IncomingMessage, res: ServerResponse, action: ShimAction | undefined): void {
    const headers = { ...req.headers };
    // A body to rewrite must arrive uncompressed.
    if (action?.kind === 'rewrite') delete headers['accept-encoding'];
    const up = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: pathRewrite(req.url ?? '/'),
        headers,
      },
      (upRes) => {
        if (action?.kind === 'rewrite') {
          const chunks: Buffer[] = [];
          upRes.on('data', (c: Buffer) => chunks.push(c));
          upRes.on('end', () => {
            const body = Buffer.from(
              action.rewrite(Buffer.concat(chunks).toString('utf8'), {
                method: req.method ?? 'GET',
                path: req.url ?? '/',
              }),
              'utf8',
            );
            const outHeaders = { ...upRes.headers, 'content-length': String(body.length) };
            delete outHeaders['transfer-encoding'];
            res.writeHead(upRes.statusCode ?? 502, outHeaders);
            res.end(body);
          });
          return;
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (action?.kind === 'cut') {
          let sent = 0;
          upRes.on('data', (c: Buffer) => {
            if (res.destroyed) return;
            const room = action.afterBytes - sent;
            if (c.length < room) {
              sent += c.length;
              res.write(c);
              return;
            }
            res.write(c.subarray(0, Math.max(0, room)), () => res.destroy());
            sent = action.afterBytes;
            upRes.destroy();
          });
          upRes.on('end', () => res.end());
          return;
        }
        upRes.pipe(res);
      },
    );
    up.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`shim: upstream error ${err.message}`);
    });
    req.pipe(up);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${upstream.pathname.replace(/\/+$/, '')}`,
    port,
    seen,
    add(rule) {
      const active: ActiveRule = { ...rule, hits: 0, removed: false };
      rules.push(active);
      return {
        get hits() {
          return active.hits;
        },
        remove() {
          active.removed = true;
        },
      };
    },
    forwardPath(rewrite) {
      pathRewrite = rewrite;
    },
    clear() {
      rules.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

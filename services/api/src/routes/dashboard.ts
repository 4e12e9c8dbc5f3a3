/**
 * The dashboard: static files from ./dashboard (no build step, nothing fetched from the internet), served
 * with a strict Content-Security-Policy — the page only talks to this API.
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../problem.ts';

const folder = new URL('../dashboard/', import.meta.url);
const types: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};
const csp =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export async function dashboardRoutes(app: FastifyInstance): Promise<void> {
  const send = async (file: string) => {
    const ext = file.split('.').pop() ?? '';
    const type = types[ext];
    if (!type) throw new ApiError(404, `no dashboard file ${file}`);
    try {
      return { body: await readFile(new URL(file, folder)), type };
    } catch {
      throw new ApiError(404, `no dashboard file ${file}`);
    }
  };
  app.get('/', { schema: { hide: true } }, async (_request, reply) => {
    const { body, type } = await send('index.html');
    return reply
      .type(type)
      .header('content-security-policy', csp)
      .header('cache-control', 'no-cache')
      .send(body);
  });
  app.get(
    '/dashboard/:file',
    {
      schema: { hide: true, params: z.object({ file: z.string().regex(/^[a-z0-9-]+\.(html|js|css|svg)$/) }) },
    },
    async (request, reply) => {
      const { file } = request.params as { file: string };
      const { body, type } = await send(file);
      return reply
        .type(type)
        .header('content-security-policy', csp)
        .header('cache-control', 'no-cache')
        .send(body);
    },
  );
}

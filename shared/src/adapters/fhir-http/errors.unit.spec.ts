import { describe, expect, it } from 'vitest';
import { DisallowedOriginError, FhirHttpError, isFhirHttpError } from './errors.ts';
import type { OperationOutcome } from './operation-outcome.ts';

const secrets = ['s3cr3t-sig', 'hunter2', 'eyJhbGciOi.tokentoken', 'pa55word'];
const url = `https://bob:hunter2@acct.blob.core.windows.net/c/f.ndjson?sv=2022&sig=s3cr3t-sig&access_token=eyJhbGciOi.tokentoken`;

function everyRendering(error: Error): string[] {
  return [error.message, String(error), JSON.stringify(error), error.stack ?? ''];
}

describe('FhirHttpError', () => {
  it('never carries a secret from the URL, the outcome or the body into message, String or JSON', () => {
    const outcome: OperationOutcome = {
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'processing',
          diagnostics: `could not fetch ${url} (password=pa55word)`,
        },
      ],
    };
    const withOutcome = new FhirHttpError({
      kind: 'http',
      method: 'GET',
      url,
      status: 500,
      attempts: 3,
      retryable: true,
      outcome,
    });
    const withBody = new FhirHttpError({
      kind: 'http',
      method: 'POST',
      url: new URL(url),
      status: 502,
      attempts: 1,
      retryable: true,
      body: `<html>upstream https://x.test/?token=eyJhbGciOi.tokentoken Authorization: Bearer hunter2</html>`,
    });
    const network = new FhirHttpError({
      kind: 'network',
      method: 'GET',
      url,
      code: 'ECONNRESET',
      attempts: 6,
      retryable: true,
      cause: new Error('socket hang up'),
    });
    for (const error of [withOutcome, withBody, network]) {
      for (const text of everyRendering(error)) {
        for (const secret of secrets) expect(text).not.toContain(secret);
      }
    }
    expect(withOutcome.message).toBe(
      'GET https://REDACTED@acct.blob.core.windows.net/c/f.ndjson?sv=REDACTED&sig=REDACTED&access_token=REDACTED failed with HTTP 500 after 3 attempts: error processing: could not fetch https://REDACTED@acct.blob.core.windows.net/c/f.ndjson?sv=REDACTED&sig=REDACTED&access_token=REDACTED (password=pa55word)'.replace(
        'password=pa55word',
        'password=REDACTED',
      ),
    );
    expect(withOutcome.outcome?.issue[0]?.diagnostics).not.toContain('s3cr3t');
    expect(network.message).toMatch(/failed with network ECONNRESET after 6 attempts$/);
    expect(JSON.parse(JSON.stringify(withOutcome))).toMatchObject({
      name: 'FhirHttpError',
      kind: 'http',
      status: 500,
      attempts: 3,
      retryable: true,
    });
  });

  it('is recognised by isFhirHttpError and is an Error', () => {
    const error = new FhirHttpError({
      kind: 'timeout',
      method: 'GET',
      url: 'http://h/x',
      attempts: 1,
      retryable: true,
    });
    expect(isFhirHttpError(error)).toBe(true);
    expect(error).toBeInstanceOf(Error);
    expect(isFhirHttpError(new Error('x'))).toBe(false);
  });
});

describe('DisallowedOriginError', () => {
  it('names the redacted URL', () => {
    const error = new DisallowedOriginError(url, 'origin not allowed');
    for (const text of everyRendering(error)) {
      for (const secret of secrets) expect(text).not.toContain(secret);
    }
    expect(error.message).toContain('acct.blob.core.windows.net/c/f.ndjson');
  });
});

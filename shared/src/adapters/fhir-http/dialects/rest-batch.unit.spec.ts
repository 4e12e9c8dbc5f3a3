import { describe, expect, it } from 'vitest';
import { parseBatchResponse } from './rest-batch.ts';

describe('parseBatchResponse', () => {
  it('reads per-entry statuses and the OperationOutcome of failures (HAPI batch-response shape)', () => {
    const body = JSON.stringify({
      resourceType: 'Bundle',
      type: 'batch-response',
      entry: [
        { response: { status: '201 Created', location: 'Patient/a/_history/1' } },
        {
          response: {
            status: '422 Unprocessable Entity',
            outcome: {
              resourceType: 'OperationOutcome',
              issue: [
                {
                  severity: 'error',
                  code: 'exception',
                  diagnostics: "HAPI-0931: Invalid reference found at path 'Observation.subject'",
                },
              ],
            },
          },
        },
        { response: { status: '204 No Content' } },
        { response: { status: '404' } },
        {
          resource: {
            resourceType: 'OperationOutcome',
            issue: [{ severity: 'error', diagnostics: 'in resource' }],
          },
          response: { status: '400 Bad Request' },
        },
        {},
      ],
    });
    expect(parseBatchResponse(body)).toEqual([
      { status: 201 },
      {
        status: 422,
        reason: "HTTP 422: error exception: HAPI-0931: Invalid reference found at path 'Observation.subject'",
      },
      { status: 204 },
      { status: 404, reason: 'HTTP 404: 404' },
      { status: 400, reason: 'HTTP 400: error: in resource' },
      { reason: 'entry has no response status' },
    ]);
  });

  it('returns undefined for anything but a Bundle', () => {
    expect(parseBatchResponse('{"resourceType":"OperationOutcome","issue":[]}')).toBeUndefined();
    expect(parseBatchResponse('<html>')).toBeUndefined();
  });
});

/**
 * The `$import` kick-off both bulk import dialects send: a Parameters body, POSTed asynchronously. What a
 * refusal means differs by server (HAPI's is final and must not be resent; AHDS registration is idempotent
 * and a 423 only waits), so each dialect maps the non-202 reply itself.
 */
import type { FhirClient } from '../client.ts';

export async function postImport(
  client: FhirClient,
  body: string,
  request: { idempotent?: boolean; throwOnError?: boolean } = {},
) {
  const res = await client.text({
    method: 'POST',
    url: '$import',
    headers: {
      accept: 'application/fhir+json',
      'content-type': 'application/fhir+json',
      prefer: 'respond-async',
    },
    body,
    ...request,
  });
  const location = res.headers['content-location'];
  /** The job's status URL when the server accepted the job (202 with Content-Location). */
  const jobUrl = res.status === 202 && location ? new URL(location, res.url).href : undefined;
  return { res, location, jobUrl };
}

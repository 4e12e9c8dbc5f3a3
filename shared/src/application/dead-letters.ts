/**
 * Dead letters across every subscription of the topology: listed for operators, replayed on request.
 * Replay is safe to repeat: handlers are idempotent (they re-read the ledger and do nothing for a step
 * that already happened), so a replayed message that had in fact been handled changes nothing.
 */
import { redactText } from '../adapters/fhir-http/redact.ts';
import { subscriptions as topology } from '../contracts/messages.ts';
import type { Bus, DeadLetter } from '../ports/bus.ts';

export interface DeadLetterRow extends Omit<DeadLetter, 'deadLetteredAt'> {
  deadLetteredAt: string;
  /** The migration the message belongs to, when its body names one. */
  migrationId?: string;
}

function migrationOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || !('migrationId' in body)) return undefined;
  return typeof body.migrationId === 'string' ? body.migrationId : undefined;
}

/** Every dead letter (optionally of one migration), oldest first. */
export async function listAllDeadLetters(bus: Bus, migrationId?: string): Promise<DeadLetterRow[]> {
  const rows: DeadLetterRow[] = [];
  for (const [subscription, topics] of Object.entries(topology)) {
    for (const topic of topics) {
      for (const d of await bus.listDeadLetters(topic, subscription)) {
        const owner = migrationOf(d.body);
        if (migrationId && owner !== undefined && owner !== migrationId) continue;
        rows.push({
          ...d,
          // Bodies carry job and status URLs: shown to operators, so with any secret query strings redacted.
          body: JSON.parse(redactText(JSON.stringify(d.body))) as unknown,
          reason: redactText(d.reason),
          deadLetteredAt: d.deadLetteredAt.toISOString(),
          ...(owner ? { migrationId: owner } : {}),
        });
      }
    }
  }
  return rows.sort((a, b) => a.deadLetteredAt.localeCompare(b.deadLetteredAt));
}

export interface ReplayResult {
  replayed: DeadLetterRow[];
  /** Ids asked for that are not (or no longer) dead letters. */
  notFound: string[];
}

/**
 * Moves dead letters back to their subscriptions: those with the given ids, or all of them. An id names a
 * message on one topic; where several subscriptions dead-lettered the same message, each copy is replayed.
 */
export async function replayDeadLetters(
  bus: Bus,
  selection: { ids: readonly string[] } | { all: true },
  migrationId?: string,
): Promise<ReplayResult> {
  const letters = await listAllDeadLetters(bus, migrationId);
  const wanted = 'all' in selection ? undefined : new Set(selection.ids);
  const replayed: DeadLetterRow[] = [];
  for (const d of letters) {
    if (wanted && !wanted.has(d.id)) continue;
    await bus.replayDeadLetter(d.topic, d.subscription, d.id);
    replayed.push(d);
  }
  const found = new Set(replayed.map((d) => d.id));
  return { replayed, notFound: wanted ? [...wanted].filter((id) => !found.has(id)) : [] };
}

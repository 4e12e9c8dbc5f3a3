/** Events of a migration's own stream (`migration`): start, search parameters, operator controls. */
import { z } from 'zod';
import { resourceIssue } from './events.ts';

export const migrationEventSchemas = {
  MigrationStarted: z.object({
    sourceUrl: z.string(),
    destinationUrl: z.string(),
    exportDialect: z.string(),
    importDialect: z.string(),
    /** Where the first window starts (configured startDate or the earliest lastUpdated on the source). */
    startAt: z.string(),
    resourceTypes: z.array(z.string()),
  }),
  SearchParametersCopied: z.object({
    copied: z.number().int().nonnegative(),
    /** Already on the destination with the same content: not written again. */
    unchanged: z.number().int().nonnegative().optional(),
    failures: z.array(resourceIssue),
    reindex: z.enum(['requested', 'not-needed', 'unsupported', 'failed']),
    reindexDetail: z.string().optional(),
  }),
  MigrationPaused: z.object({ by: z.string() }),
  MigrationResumed: z.object({ by: z.string() }),
  MigrationStopped: z.object({ by: z.string() }),
} as const;

export type MigrationEventType = keyof typeof migrationEventSchemas;
export type MigrationEventData<T extends MigrationEventType> = z.infer<(typeof migrationEventSchemas)[T]>;
export type MigrationEvent = {
  [T in MigrationEventType]: { type: T; at: string; data: MigrationEventData<T> };
}[MigrationEventType];

export function parseMigrationEvent(raw: { type: string; at: string; data: unknown }): MigrationEvent {
  const schema = (migrationEventSchemas as Record<string, z.ZodType>)[raw.type];
  if (!schema) throw new Error(`unknown migration event type '${raw.type}'`);
  return { type: raw.type, at: raw.at, data: schema.parse(raw.data) } as MigrationEvent;
}

import { chunkMessage, importPollMessage, topics } from '@fhir-migrate/shared/contracts/messages.ts';
import { handler } from '@fhir-migrate/shared/runtime/service.ts';
import { onImportPoll, startNextImport } from './handlers.ts';

export { startNextImport };

export const importerHandlers = [
  handler(topics.exportCompleted, chunkMessage, (ctx) => startNextImport(ctx)),
  handler(topics.importCompleted, chunkMessage, (ctx) => startNextImport(ctx)),
  handler(topics.importPoll, importPollMessage, onImportPoll),
];

import { chunkMessage, exportPollMessage, topics } from '@fhir-migrate/shared/contracts/messages.ts';
import { handler } from '@fhir-migrate/shared/runtime/service.ts';
import { onChunkPlanned, onExportPoll } from './handlers.ts';

export const exporterHandlers = [
  handler(topics.chunkPlanned, chunkMessage, onChunkPlanned),
  handler(topics.exportPoll, exportPollMessage, onExportPoll),
];

import { chunkMessage, topics } from '@fhir-migrate/shared/contracts/messages.ts';
import { handler } from '@fhir-migrate/shared/runtime/service.ts';
import { onImportCompleted } from './handlers.ts';

export const verifierHandlers = [handler(topics.importCompleted, chunkMessage, onImportCompleted)];

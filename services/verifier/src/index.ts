import {
  chunkMessage,
  topics,
  verificationRequestedMessage,
} from '@fhir-migrate/shared/contracts/messages.ts';
import { handler } from '@fhir-migrate/shared/runtime/service.ts';
import { onImportCompleted } from './handlers.ts';
import { onVerificationRequested } from './on-verification-requested.ts';

export const verifierHandlers = [
  handler(topics.importCompleted, chunkMessage, onImportCompleted),
  // A full reconciliation of a large server runs for a long time: the request stays locked meanwhile.
  {
    ...handler(topics.verificationRequested, verificationRequestedMessage, onVerificationRequested),
    lockMs: 6 * 3600_000,
  },
];

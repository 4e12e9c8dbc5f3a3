/**
 * Child process for the orphaned-lock test: claims the one message on `work/workers`, says so on stdout,
 * and hangs in its handler until the test kills it with SIGKILL.
 */
import { createSqliteBus } from './bus-sqlite.ts';
import { openSqliteDatabase } from './database.ts';

const db = openSqliteDatabase(process.argv[2] as string);
const bus = createSqliteBus(db, { keepAlive: true });
await bus.subscribe('work', 'workers', async () => {
  process.stdout.write('claimed\n');
  await new Promise(() => {});
});

/**
 * The hub database's WAL checkpoints, in a worker thread of their own (see startCheckpointer in
 * db.ts): a checkpoint copies the WAL's pages into the database file and fsyncs it — tens to
 * hundreds of ms on a busy disk that, done by the hub's own connection at the end of a commit, held
 * its event loop (telemetry acks waiting behind it). A PASSIVE checkpoint from a second connection
 * blocks no writer.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const { path, everyMs } = workerData as { path: string; everyMs: number };
const db = new Database(path, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    // The hub's connection then checkpoints by itself again (startCheckpointer in db.ts).
    parentPort?.postMessage({ error: (err as Error).message });
  }
}, everyMs);
parentPort?.on('message', (m: unknown) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort?.close();
});

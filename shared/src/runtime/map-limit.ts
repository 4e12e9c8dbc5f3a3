/** Bounded concurrency over a list, for any layer outside the pure domain. */

/**
 * Runs `task` over `items` with at most `limit` in flight; results keep the input order. After the first
 * failure no new item starts, the signal given to running tasks is aborted, and the failure is thrown once
 * every running task has ended (so nothing still works on, say, a scratch file the caller closes next).
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, signal: AbortSignal) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  const controller = new AbortController();
  let failure: { error: unknown } | undefined;
  // One iterator shared by the workers: each takes the next item when it is free.
  const iterator = items.entries();
  const worker = async () => {
    for (const [i, item] of iterator) {
      if (failure) return;
      try {
        results[i] = await task(item, controller.signal);
      } catch (error) {
        failure ??= { error };
        controller.abort();
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}

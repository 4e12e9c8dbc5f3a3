/**
 * A reproducible random sample of a stream too large to hold: every item gets a score (a hash of a seed
 * and its name), and the `size` items with the lowest scores are kept in a bounded max-heap. The same seed
 * over the same items gives the same sample whatever order they arrive in, and memory stays O(size).
 */

export interface Scored<T> {
  score: string;
  item: T;
}

export interface LowestSampler<T> {
  /** Offers an item; kept when fewer than `size` are held or its score is below the highest held. */
  offer(score: string, item: T): void;
  /** How many items are held. */
  readonly size: number;
  /** The held items, lowest score first. */
  result(): Scored<T>[];
}

export function createLowestSampler<T>(capacity: number): LowestSampler<T> {
  const max = Math.max(0, Math.floor(capacity));
  // heap[0] holds the highest score kept, the one a better newcomer replaces.
  const heap: Scored<T>[] = [];

  const higher = (i: number, j: number) => (heap[i]?.score ?? '') > (heap[j]?.score ?? '');
  const swap = (i: number, j: number) => {
    const a = heap[i];
    const b = heap[j];
    if (a === undefined || b === undefined) return;
    heap[i] = b;
    heap[j] = a;
  };
  const siftUp = (start: number) => {
    let i = start;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!higher(i, parent)) return;
      swap(i, parent);
      i = parent;
    }
  };
  const siftDown = (start: number) => {
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let top = i;
      if (left < heap.length && higher(left, top)) top = left;
      if (right < heap.length && higher(right, top)) top = right;
      if (top === i) return;
      swap(i, top);
      i = top;
    }
  };

  return {
    offer(score, item) {
      if (max === 0) return;
      if (heap.length < max) {
        heap.push({ score, item });
        siftUp(heap.length - 1);
        return;
      }
      const highest = heap[0];
      // Ties keep the item already held, so the sample does not depend on arrival order for distinct scores.
      if (highest === undefined || score >= highest.score) return;
      heap[0] = { score, item };
      siftDown(0);
    },
    get size() {
      return heap.length;
    },
    result() {
      return [...heap].sort((a, b) => (a.score < b.score ? -1 : a.score > b.score ? 1 : 0));
    },
  };
}

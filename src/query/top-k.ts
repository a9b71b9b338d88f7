/**
 * The first `k` of `n` items in the order given by `less`, sorted. With k much smaller than n this
 * is a bounded max-heap selection, O(n log k), so a page of a large list does not pay for a full
 * sort (DESIGN §5 "partial selection instead of full sorts").
 */
export function topK(n: number, k: number, less: (a: number, b: number) => boolean): number[] {
  if (k <= 0 || n === 0) return [];
  if (k * 4 >= n) {
    const all = Array.from({ length: n }, (_, i) => i);
    all.sort((a, b) => (less(a, b) ? -1 : less(b, a) ? 1 : 0));
    return all.slice(0, k);
  }
  // heap[0] is the largest of the k smallest seen so far.
  const heap: number[] = [];
  const siftUp = (i: number) => {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(heap[p]!, heap[i]!)) break;
      [heap[p], heap[i]] = [heap[i]!, heap[p]!];
      i = p;
    }
  };
  const siftDown = (i: number) => {
    const len = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < len && less(heap[m]!, heap[l]!)) m = l;
      if (r < len && less(heap[m]!, heap[r]!)) m = r;
      if (m === i) break;
      [heap[m], heap[i]] = [heap[i]!, heap[m]!];
      i = m;
    }
  };
  for (let i = 0; i < n; i++) {
    if (heap.length < k) {
      heap.push(i);
      siftUp(heap.length - 1);
    } else if (less(i, heap[0]!)) {
      heap[0] = i;
      siftDown(0);
    }
  }
  heap.sort((a, b) => (less(a, b) ? -1 : less(b, a) ? 1 : 0));
  return heap;
}

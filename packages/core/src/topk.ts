/**
 * Indices of the `n` largest scores, best first; ties go to the lower index (as ONNX TopK and the evaluator).
 * -Infinity entries (masked items) are never returned. A bounded min-heap: O(items · log n).
 */
export function topIndices(scores: Float32Array, n: number): number[] {
  const heapScore = new Float64Array(n);
  const heapIndex = new Int32Array(n);
  let size = 0;
  // a is worse than b: lower score, or equal score and higher index
  const worse = (sa: number, ia: number, sb: number, ib: number) => sa < sb || (sa === sb && ia > ib);
  const siftDown = (k: number) => {
    for (;;) {
      const l = 2 * k + 1;
      const r = l + 1;
      let w = k;
      if (l < size && worse(heapScore[l], heapIndex[l], heapScore[w], heapIndex[w])) w = l;
      if (r < size && worse(heapScore[r], heapIndex[r], heapScore[w], heapIndex[w])) w = r;
      if (w === k) return;
      [heapScore[k], heapScore[w]] = [heapScore[w], heapScore[k]];
      [heapIndex[k], heapIndex[w]] = [heapIndex[w], heapIndex[k]];
      k = w;
    }
  };
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (s === -Infinity || Number.isNaN(s)) continue;
    if (size < n) {
      let k = size++;
      heapScore[k] = s;
      heapIndex[k] = i;
      while (k > 0) {
        const parent = (k - 1) >> 1;
        if (!worse(heapScore[k], heapIndex[k], heapScore[parent], heapIndex[parent])) break;
        [heapScore[k], heapScore[parent]] = [heapScore[parent], heapScore[k]];
        [heapIndex[k], heapIndex[parent]] = [heapIndex[parent], heapIndex[k]];
        k = parent;
      }
    } else if (worse(heapScore[0], heapIndex[0], s, i)) {
      heapScore[0] = s;
      heapIndex[0] = i;
      siftDown(0);
    }
  }
  const order = Array.from({ length: size }, (_v, k) => k);
  order.sort((a, b) => heapScore[b] - heapScore[a] || heapIndex[a] - heapIndex[b]);
  return order.map((k) => heapIndex[k]);
}

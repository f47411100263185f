/**
 * Seeded pseudo-random numbers: xoshiro128** seeded through splitmix32.
 * Every random choice in derrd goes through this so a run is reproducible from its config.
 */
export class Rng {
  /**
   * s0..s3 as int32: in object fields, uint32 values above 2^30 are boxed numbers, and every draw allocated four of
   * them (~110 ns a draw, most of DE's Gumbel noise and RRD's sampling); an Int32Array holds them unboxed, and the
   * stream is the same bits.
   */
  private readonly s = new Int32Array(4);

  constructor(seed: number) {
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    for (let k = 0; k < 4; k++) this.s[k] = next();
  }

  /** A new generator whose stream is independent of this one's future draws (for sub-tasks). */
  fork(label: number): Rng {
    return new Rng((this.uint32() ^ Math.imul(label + 1, 0x27d4eb2d)) >>> 0);
  }

  uint32(): number {
    const s = this.s;
    const s0 = s[0];
    const s1 = s[1];
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const s2 = s[2] ^ s0;
    const s3 = s[3] ^ s1;
    s[0] = s0 ^ s3;
    s[1] = s1 ^ s2;
    s[2] = s2 ^ (s1 << 9);
    s[3] = rotl(s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  float(): number {
    const hi = this.uint32() >>> 5;
    const lo = this.uint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Standard normal (Box-Muller; one value per call keeps the stream simple to reason about). */
  normal(): number {
    let u = this.float();
    while (u === 0) u = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.float());
  }

  /** Standard Gumbel(0, 1). */
  gumbel(): number {
    let u = this.float();
    while (u === 0) u = this.float();
    return -Math.log(-Math.log(u));
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T extends { length: number; [i: number]: unknown }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }
}

/** 32-bit rotate left; the bits as an int32 (callers store them in an Int32Array or take >>> 0). */
function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

// A small seeded generator for deterministic corpora: a Weyl sequence (step 0x9e3779b9) finished by a
// 32-bit avalanche mix. wa-proto's replay test carries the same `fill` function so that large
// binaries can be stored as (seed, length) instead of their bytes.

export class Prng {
  constructor(seed) {
    this.state = seed >>> 0;
  }

  /** The next 32-bit unsigned value. */
  next() {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** An integer in [0, n). */
  below(n) {
    return Math.floor((this.next() / 4294967296) * n);
  }

  /** An integer in [lo, hi]. */
  int(lo, hi) {
    return lo + this.below(hi - lo + 1);
  }

  chance(p) {
    return this.next() / 4294967296 < p;
  }

  pick(items) {
    return items[this.below(items.length)];
  }

  /** Picks from [[weight, value], ...]. */
  weighted(choices) {
    const total = choices.reduce((sum, [w]) => sum + w, 0);
    let x = this.below(total);
    for (const [w, value] of choices) {
      if (x < w) return value;
      x -= w;
    }
    return choices[choices.length - 1][1];
  }

  /** `n` bytes, four per step, little-endian. */
  bytes(n) {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i += 4) {
      let v = this.next();
      for (let j = i; j < Math.min(i + 4, n); j++) {
        out[j] = v & 0xff;
        v >>>= 8;
      }
    }
    return out;
  }
}

/** The bytes a `{"fill": [seed, len]}` stands for. */
export function fillBytes(seed, len) {
  return new Prng(seed).bytes(len);
}

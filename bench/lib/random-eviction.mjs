// What CoreDNS's cache does, for the hit-ratio comparison: 256 shards, each holding
// capacity/256 items (at least 4), and a full shard evicts an arbitrary item (Go map iteration
// order, effectively random) to make room. Keys are small integers (ranks of the Zipf stream).
import { seededRandom } from './zipf.mjs';

const SHARDS = 256;

export class RandomEvictionCache {
  constructor(capacity, seed = 7) {
    this.shardCap = Math.max(4, Math.floor(capacity / SHARDS));
    this.capacity = this.shardCap * SHARDS;
    // Per shard: key → slot, and the slots' keys, so a random victim is O(1) (swap-remove).
    this.index = Array.from({ length: SHARDS }, () => new Map());
    this.slots = Array.from({ length: SHARDS }, () => []);
    this.rand = seededRandom(seed);
  }

  // CoreDNS hashes the key (FNV-1a) to pick the shard; a multiplicative hash spreads ranks as well.
  shardOf(key) {
    return (Math.imul(key, 0x9e3779b1) >>> 24) & (SHARDS - 1);
  }

  /** true on a hit; on a miss the key is inserted, evicting a random one if the shard is full. */
  access(key) {
    const sh = this.shardOf(key);
    const index = this.index[sh];
    if (index.has(key)) return true;
    const slots = this.slots[sh];
    if (slots.length >= this.shardCap) {
      const victimSlot = Math.floor(this.rand() * slots.length);
      const victim = slots[victimSlot];
      const last = slots.pop();
      index.delete(victim);
      if (victimSlot < slots.length) {
        slots[victimSlot] = last;
        index.set(last, victimSlot);
      }
    }
    index.set(key, slots.length);
    slots.push(key);
    return false;
  }
}

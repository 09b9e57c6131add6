// Addresses and ports for tests: each test takes its own random 127.x.y.z so files running in
// parallel (tap runs test files at once) never collide.
import { randomInt } from 'node:crypto';

export function randomLoopback(): string {
  return `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}

/**
 * Below Linux's ephemeral range (32768-60999): a client socket's wildcard bind to an ephemeral port
 * made a test's later bind of the same port on its own address fail with EADDRINUSE.
 */
export function randomPort(): number {
  return randomInt(10_000, 32_768);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Retry `fn` until it returns truthy or `ms` passes; returns the last value. Bounded. */
export async function until<T>(fn: () => Promise<T> | T, ms: number, stepMs = 50): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await fn();
  while (!v && Date.now() < deadline) {
    await sleep(stepMs);
    v = await fn();
  }
  return v;
}

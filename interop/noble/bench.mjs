// Times @noble/post-quantum ML-KEM keygen / encapsulate / decapsulate for the three parameter sets and prints
// JSON on stdout. Inputs are fixed (seed, message m) so every call does the same work, as in the C# benchmarks.
// Method per operation: warm-up for ~WARMUP_MS, then BATCHES batches of a fixed iteration count (chosen so one
// batch takes ~BATCH_MS); reports the median (and min) over batches of the mean time per call, in microseconds.
//   node bench.mjs [--quick]
import { ml_kem512, ml_kem768, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { readFileSync } from 'node:fs';
import os from 'node:os';

const quick = process.argv.includes('--quick');
const WARMUP_MS = quick ? 300 : 1000;
const BATCH_MS = quick ? 100 : 250;
const BATCHES = quick ? 9 : 15;

const sets = { 'ML-KEM-512': ml_kem512, 'ML-KEM-768': ml_kem768, 'ML-KEM-1024': ml_kem1024 };
const filled = (length, start) => Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);
let sink = 0; // consumes results so the JIT cannot drop the calls

function timeBatch(fn, iterations) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sink ^= fn()[0];
  return Number(process.hrtime.bigint() - start) / 1000 / iterations; // µs per call
}

function measure(fn) {
  const warmEnd = performance.now() + WARMUP_MS;
  let calls = 0;
  while (performance.now() < warmEnd) { sink ^= fn()[0]; calls++; }
  const iterations = Math.max(1, Math.round((calls * BATCH_MS) / WARMUP_MS));
  const perCall = [];
  for (let b = 0; b < BATCHES; b++) perCall.push(timeBatch(fn, iterations));
  perCall.sort((a, b) => a - b);
  const median = perCall[Math.floor(perCall.length / 2)];
  return { median_us: round(median), min_us: round(perCall[0]), max_us: round(perCall.at(-1)), batches: BATCHES, iterations };
}

const round = (x) => Math.round(x * 1000) / 1000;
const nobleVersion = JSON.parse(
  readFileSync(new URL('./node_modules/@noble/post-quantum/package.json', import.meta.url), 'utf8')).version;

const results = [];
for (const [name, kem] of Object.entries(sets)) {
  const seed = filled(64, 0x11);
  const m = filled(32, 0x22);
  const { publicKey, secretKey } = kem.keygen(seed);
  const { cipherText } = kem.encapsulate(publicKey, m);
  results.push({ set: name, op: 'keygen', ...measure(() => kem.keygen(seed).publicKey) });
  results.push({ set: name, op: 'encapsulate', ...measure(() => kem.encapsulate(publicKey, m).sharedSecret) });
  results.push({ set: name, op: 'decapsulate', ...measure(() => kem.decapsulate(cipherText, secretKey)) });
}

process.stdout.write(JSON.stringify({
  library: '@noble/post-quantum',
  version: nobleVersion,
  node: process.version,
  v8: process.versions.v8,
  cpus: os.cpus().length,
  loadavg: os.loadavg().map(round),
  settings: { warmup_ms: WARMUP_MS, batch_ms: BATCH_MS, batches: BATCHES },
  results,
  sink,
}, null, 2) + '\n');

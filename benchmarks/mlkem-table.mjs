// Renders the ML-KEM comparison (BenchmarkDotNet JSON + interop/noble/bench.mjs JSON) as markdown tables.
//   node mlkem-table.mjs <results dir of BenchmarkDotNet> <noble.json>
// Figures are medians in microseconds. Noble's encapsulate(pk, m) and decapsulate(ct, sk) take key bytes on
// every call, so they line up with our "from key bytes" rows; our "imported key" rows have no noble equivalent.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const [resultsDir, noblePath] = process.argv.slice(2);
if (!resultsDir || !noblePath) {
  console.error('usage: node mlkem-table.mjs <BenchmarkDotNet results dir> <noble.json>');
  process.exit(2);
}

const report = (suffix) => {
  const file = readdirSync(resultsDir).find((f) => f.endsWith(`${suffix}-report-full.json`));
  if (!file) throw new Error(`no ${suffix} report in ${resultsDir}`);
  return JSON.parse(readFileSync(join(resultsDir, file), 'utf8'));
};
const mlkem = report('MLKemBenchmarks');
const xwing = report('XWingBenchmarks');
const noble = JSON.parse(readFileSync(noblePath, 'utf8'));

const us = (b) => b.Statistics.Median / 1000;
const fmt = (x) => (x === undefined ? '—' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const param = (b, name) => new RegExp(`${name}=([^&]+)`).exec(b.Parameters)?.[1];
const ours = (set, method, path) =>
  mlkem.Benchmarks.find((b) => b.Method === method && param(b, 'Set') === set && param(b, 'Path') === path);
const nobleUs = (set, op) => noble.results.find((r) => r.set === set && r.op === op)?.median_us;

const rows = [
  ['KeyGen', 'keygen (from 64-byte seed)', 'keygen'],
  ['Encapsulate', 'encapsulate, imported key', undefined],
  ['EncapsulateFreshKey', 'encapsulate, from key bytes', 'encapsulate'],
  ['Decapsulate', 'decapsulate, imported key', undefined],
  ['DecapsulateFreshKey', 'decapsulate, from key bytes', 'decapsulate'],
];

const out = [];
out.push(`| Set | Operation | ours, AVX2 (µs) | ours, scalar (µs) | noble ${noble.version} (µs) | noble ÷ ours AVX2 |`);
out.push('|---|---|---:|---:|---:|---:|');
for (const set of ['ML-KEM-512', 'ML-KEM-768', 'ML-KEM-1024']) {
  for (const [method, label, nobleOp] of rows) {
    const simd = ours(set, method, 'Simd');
    const scalar = ours(set, method, 'Scalar');
    const n = nobleOp ? nobleUs(set, nobleOp) : undefined;
    const ratio = n !== undefined && simd ? `${(n / us(simd)).toFixed(1)}×` : '—';
    out.push(`| ${set} | ${label} | ${fmt(simd && us(simd))} | ${fmt(scalar && us(scalar))} | ${fmt(n)} | ${ratio} |`);
  }
}
out.push('');
out.push('| X-Wing / X25519 operation | ours (µs) | allocated per op |');
out.push('|---|---:|---:|');
for (const b of xwing.Benchmarks) {
  const kb = b.Memory?.BytesAllocatedPerOperation;
  out.push(`| ${b.Method} | ${fmt(us(b))} | ${kb === undefined ? '—' : `${(kb / 1024).toFixed(1)} KB`} |`);
}
out.push('');
out.push('Allocated per ML-KEM operation (ours, AVX2 path, ML-KEM-768): ' + rows.map(([method]) => {
  const kb = ours('ML-KEM-768', method, 'Simd')?.Memory?.BytesAllocatedPerOperation;
  return `${method} ${kb === undefined ? '—' : `${(kb / 1024).toFixed(1)} KB`}`;
}).join(', ') + '.');
console.log(out.join('\n'));

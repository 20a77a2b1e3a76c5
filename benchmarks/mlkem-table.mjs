// Renders the ML-KEM comparison (BenchmarkDotNet JSON + interop/noble/bench.mjs JSON) as markdown tables.
//   node mlkem-table.mjs <results dir of BenchmarkDotNet> <noble.json>
// Figures are "median (min)" in microseconds: median over measured iterations (BenchmarkDotNet) or batches
// (noble); the min is the least disturbed by other load on a shared machine. Noble's encapsulate(pk, m) and decapsulate(ct, sk) take key bytes on
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
const usMin = (b) => b.Statistics.Min / 1000;
const cell = (b) => (b ? `${fmt(us(b))} (${fmt(usMin(b))})` : '—');
const fmt = (x) => (x === undefined ? '—' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const param = (b, name) => new RegExp(`${name}=([^&]+)`).exec(b.Parameters)?.[1];
const ours = (set, method, path) =>
  mlkem.Benchmarks.find((b) => b.Method === method && param(b, 'Set') === set && param(b, 'Path') === path);
const nobleResult = (set, op) => noble.results.find((r) => r.set === set && r.op === op);

const rows = [
  ['KeyGen', 'keygen (from 64-byte seed)', 'keygen'],
  ['Encapsulate', 'encapsulate, imported key', undefined],
  ['EncapsulateFreshKey', 'encapsulate, from key bytes', 'encapsulate'],
  ['Decapsulate', 'decapsulate, imported key', undefined],
  ['DecapsulateFreshKey', 'decapsulate, from key bytes', 'decapsulate'],
];

const out = ['Times in µs, as median (min).', ''];
out.push(`| Set | Operation | ours, AVX2 | ours, scalar | noble ${noble.version} | noble ÷ ours AVX2 (medians) |`);
out.push('|---|---|---:|---:|---:|---:|');
for (const set of ['ML-KEM-512', 'ML-KEM-768', 'ML-KEM-1024']) {
  for (const [method, label, nobleOp] of rows) {
    const simd = ours(set, method, 'Simd');
    const scalar = ours(set, method, 'Scalar');
    const n = nobleOp ? nobleResult(set, nobleOp) : undefined;
    const nobleCell = n ? `${fmt(n.median_us)} (${fmt(n.min_us)})` : '—';
    const ratio = n && simd ? `${(n.median_us / us(simd)).toFixed(0)}×` : '—';
    out.push(`| ${set} | ${label} | ${cell(simd)} | ${cell(scalar)} | ${nobleCell} | ${ratio} |`);
  }
}
out.push('');
out.push('Allocated per ML-KEM operation (ours, AVX2 path, ML-KEM-768): ' + rows.map(([method]) => {
  const kb = ours('ML-KEM-768', method, 'Simd')?.Memory?.BytesAllocatedPerOperation;
  return `${method} ${kb === undefined ? '—' : `${(kb / 1024).toFixed(1)} KB`}`;
}).join(', ') + '.');
out.push('', '<!-- X-Wing section -->', '', 'Times in µs, as median (min).', '');
out.push('| X-Wing / X25519 operation (AVX2 path) | ours | allocated per op |');
out.push('|---|---:|---:|');
for (const b of xwing.Benchmarks) {
  const kb = b.Memory?.BytesAllocatedPerOperation;
  out.push(`| ${b.Method} | ${cell(b)} | ${kb === undefined ? '—' : `${(kb / 1024).toFixed(1)} KB`} |`);
}
console.log(out.join('\n'));

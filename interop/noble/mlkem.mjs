// Runs @noble/post-quantum ML-KEM for interop tests. Reads a JSON array of commands on stdin, writes a JSON
// array of results (same order) on stdout. All byte strings are lowercase hex.
//   { "op": "keygen",      "alg": "ML-KEM-768", "seed": d||z }        -> { "ek", "dk" }
//   { "op": "encapsulate", "alg": ..., "ek": ..., "m": 32 bytes? }      -> { "c", "k" }
//   { "op": "decapsulate", "alg": ..., "dk": ..., "c": ... }            -> { "k" }
// A failing command yields { "error": message }.
import { ml_kem512, ml_kem768, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';

const kems = { 'ML-KEM-512': ml_kem512, 'ML-KEM-768': ml_kem768, 'ML-KEM-1024': ml_kem1024 };
const hex = (bytes) => Buffer.from(bytes).toString('hex');
const bytes = (text) => {
  if (typeof text !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(text)) throw new Error('expected a hex string');
  return new Uint8Array(Buffer.from(text, 'hex'));
};

function run(cmd) {
  const kem = kems[cmd.alg];
  if (!kem) throw new Error(`unknown algorithm ${cmd.alg}`);
  switch (cmd.op) {
    case 'keygen': {
      const { publicKey, secretKey } = kem.keygen(bytes(cmd.seed));
      return { ek: hex(publicKey), dk: hex(secretKey) };
    }
    case 'encapsulate': {
      const { cipherText, sharedSecret } = cmd.m === undefined
        ? kem.encapsulate(bytes(cmd.ek))
        : kem.encapsulate(bytes(cmd.ek), bytes(cmd.m));
      return { c: hex(cipherText), k: hex(sharedSecret) };
    }
    case 'decapsulate':
      return { k: hex(kem.decapsulate(bytes(cmd.c), bytes(cmd.dk))) };
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const commands = JSON.parse(input);
  const results = commands.map((cmd) => {
    try {
      return run(cmd);
    } catch (e) {
      return { error: String(e && e.message ? e.message : e) };
    }
  });
  process.stdout.write(JSON.stringify(results));
});

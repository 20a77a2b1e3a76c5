// Generates TestData/ipns-records.json with js-ipns 10.1.6 for the IpnsRecordValidator tests. Run it in a scratch
// directory with `npm install ipns@10.1.6 @libp2p/crypto@5.1.23` and Node 22: node ipns-gen.mjs > ipns-records.json
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createIPNSRecord, createIPNSRecordWithExpiration, marshalIPNSRecord, multihashToIPNSRoutingKey } from 'ipns'
import { ipnsValidator } from 'ipns/validator'

const hex = (b) => Buffer.from(b).toString('hex')
const value = '/ipfs/bafkqadtwgeww63tmpeqhezldn5zgi'
const hundredYears = 100 * 365 * 24 * 3600 * 1000
const out = []
async function add (name, key, record, valid, extra = {}) {
  const routingKey = multihashToIPNSRoutingKey(key.publicKey.toMultihash())
  const bytes = marshalIPNSRecord(record)
  let jsValid = true
  try { await ipnsValidator(routingKey, bytes) } catch (e) { jsValid = false }
  if (jsValid !== valid) throw new Error(`${name}: js says valid=${jsValid}`)
  out.push({ name, keyHex: hex(routingKey), recordHex: hex(bytes), valid, sequence: String(record.sequence), ...extra })
}
const ed = await generateKeyPair('Ed25519')
const rsa = await generateKeyPair('RSA', 2048)
const secp = await generateKeyPair('secp256k1')
await add('ed25519 v1+v2', ed, await createIPNSRecord(ed, value, 5n, hundredYears), true)
await add('ed25519 v2-only', ed, await createIPNSRecord(ed, value, 6n, hundredYears, { v1Compatible: false }), true)
await add('ed25519 v2-only same seq, shorter life', ed, await createIPNSRecord(ed, value, 6n, hundredYears / 2, { v1Compatible: false }), true)
await add('rsa v1+v2 (public key embedded)', rsa, await createIPNSRecord(rsa, value, 1n, hundredYears), true)
await add('secp256k1 v2-only', secp, await createIPNSRecord(secp, value, 2n, hundredYears, { v1Compatible: false }), true)
await add('ed25519 expired', ed, await createIPNSRecordWithExpiration(ed, value, 7n, '2020-01-01T00:00:00.000000000Z'), false)
// Tampered: a V1 value that no longer matches the signed CBOR data.
const tampered = await createIPNSRecord(ed, value, 8n, hundredYears)
tampered.value = '/ipfs/bafkqaaa'
await add('ed25519 v1 value differs from signed data', ed, tampered, false)
// A valid record under another key's routing key.
const other = await generateKeyPair('Ed25519')
const foreign = await createIPNSRecord(other, value, 9n, hundredYears, { v1Compatible: false })
const routingKey = multihashToIPNSRoutingKey(ed.publicKey.toMultihash())
const bytes = marshalIPNSRecord(foreign)
let ok = true; try { await ipnsValidator(routingKey, bytes) } catch { ok = false }
if (ok) throw new Error('foreign accepted')
out.push({ name: 'record of another key', keyHex: hex(routingKey), recordHex: hex(bytes), valid: false, sequence: '9' })
console.log(JSON.stringify({ generator: 'ipns 10.1.6 + @libp2p/crypto 5.1.23 (js), TestData/ipns-gen.mjs', value, records: out }, null, 2))

#!/usr/bin/env node
// Runs two peer.mjs processes against each other over TCP and WebSockets on 127.0.0.1 and checks
// every command of the stdin/stdout protocol. Usage: node selftest.mjs [--perf-bytes N]
// Prints one line per check and closes with "N passed, N failed"; exit code 1 on any failure.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'

const here = dirname(fileURLToPath(import.meta.url))
const { values } = parseArgs({ options: { 'perf-bytes': { type: 'string', default: String(256 * 1024 * 1024) } } })
const PERF_BYTES = Number(values['perf-bytes'])
const MiB = 1024 * 1024

class PeerProcess {
  constructor (name, args) {
    this.name = name
    this.nextId = 1
    this.waiting = new Map()
    this.child = spawn(process.execPath, [join(here, 'peer.mjs'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.stderr = []
    this.child.stderr.on('data', (d) => { this.stderr.push(d.toString()) })
    this.ready = new Promise((resolve, reject) => {
      this.child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before ready: ${this.stderr.join('')}`)))
      createInterface({ input: this.child.stdout }).on('line', (line) => {
        const msg = JSON.parse(line)
        if (msg.event === 'ready') { resolve(msg); return }
        const waiter = this.waiting.get(msg.id)
        if (waiter == null) throw new Error(`${name}: unexpected line ${line}`)
        this.waiting.delete(msg.id)
        waiter(msg)
      })
    })
  }

  send (cmd) {
    const id = this.nextId++
    return new Promise((resolve) => {
      this.waiting.set(id, resolve)
      this.child.stdin.write(JSON.stringify({ id, ...cmd }) + '\n')
    })
  }

  async stop () {
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    const answer = await this.send({ cmd: 'stop' })
    return { answer, code: await exited }
  }
}

let passed = 0
let failed = 0
async function check (name, fn) {
  const t0 = performance.now()
  try {
    const detail = await fn()
    passed++
    console.log(`PASS ${name} (${(performance.now() - t0).toFixed(0)} ms)${detail ? ' ' + detail : ''}`)
  } catch (err) {
    failed++
    console.log(`FAIL ${name}: ${err.message}`)
  }
}
function expect (cond, message) { if (!cond) throw new Error(message) }
function expectOk (res) { expect(res.ok === true, `answer not ok: ${JSON.stringify(res).slice(0, 400)}`); return res }

const listen = ['--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/ip4/127.0.0.1/tcp/0/ws']
// B gets a fixed key so the key option is exercised: Ed25519 protobuf private key (seed || public key).
const keyB = '0801124001010101010101010101010101010101010101010101010101010101010101018a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c'
const a = new PeerProcess('A', listen)
const b = new PeerProcess('B', [...listen, '--key', keyB])
let readyA, readyB
try {
  [readyA, readyB] = await Promise.all([a.ready, b.ready])
} catch (err) {
  console.log(`FAIL start: ${err.message}`)
  console.log('0 passed, 1 failed')
  a.child.kill(); b.child.kill()
  process.exit(1)
}
const tcpB = readyB.addresses.find(x => !x.includes('/ws/'))
const wsB = readyB.addresses.find(x => x.includes('/ws/'))
const wsA = readyA.addresses.find(x => x.includes('/ws/'))

await check('ready events', async () => {
  expect(readyB.peerId === '12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5', `--key not applied: ${readyB.peerId}`)
  for (const r of [readyA, readyB]) {
    expect(r.addresses.length === 2, `addresses ${r.addresses}`)
    for (const p of ['/echo/1.0.0', '/perf/1.0.0', '/ipfs/ping/1.0.0', '/ipfs/id/1.0.0']) expect(r.protocols.includes(p), `missing ${p}`)
  }
  return `A=${readyA.peerId} B=${readyB.peerId}`
})

await check('dial tcp', async () => {
  const r = expectOk(await a.send({ cmd: 'dial', addr: tcpB }))
  expect(r.remotePeer === readyB.peerId, `remotePeer ${r.remotePeer}`)
  expect(r.encryption === '/noise' && r.multiplexer === '/yamux/1.0.0', `${r.encryption} ${r.multiplexer}`)
  return r.remoteAddr
})

await check('ping tcp (5 on one stream, and js ping service)', async () => {
  const r = expectOk(await a.send({ cmd: 'ping', addr: tcpB, count: 5 }))
  expect(r.rtts.length === 5 && r.rtts.every(x => x >= 0), `rtts ${r.rtts}`)
  const s = expectOk(await a.send({ cmd: 'ping', peer: readyB.peerId, service: true }))
  return `rtt ${r.rttMs.toFixed(2)} ms, service ${s.rttMs} ms`
})

await check('identify', async () => {
  const r = expectOk(await a.send({ cmd: 'identify', peer: readyB.peerId }))
  for (const p of ['/echo/1.0.0', '/perf/1.0.0', '/ipfs/ping/1.0.0']) expect(r.protocols.includes(p), `missing ${p} in ${r.protocols}`)
  expect(r.agentVersion?.length > 0 && r.protocolVersion?.length > 0, 'no agent/protocol version')
  expect(r.observedAddr?.startsWith('/ip4/127.0.0.1/tcp/'), `observedAddr ${r.observedAddr}`)
  expect(r.listenAddrs.length === 2 && r.signedPeerRecord, `listenAddrs ${r.listenAddrs} spr ${r.signedPeerRecord}`)
  expect(r.addresses.some(x => x.certified), 'no certified address in peer store')
  const f = expectOk(await a.send({ cmd: 'identify', peer: readyB.peerId, fresh: true }))
  expect(f.agentVersion === r.agentVersion, 'fresh identify differs')
  return `agent "${r.agentVersion}", observed ${r.observedAddr}`
})

await check('echo 16 MiB tcp', async () => {
  const r = expectOk(await a.send({ cmd: 'echo', addr: tcpB, bytes: 16 * MiB, streams: 1 }))
  expect(!r.remoteAddr.includes('/ws'), r.remoteAddr)
  return `${(16 / (r.ms / 1000)).toFixed(1)} MiB/s round trip`
})

await check('echo 200 concurrent streams x 64 KiB tcp', async () => {
  const r = expectOk(await a.send({ cmd: 'echo', addr: tcpB, bytes: 64 * 1024, streams: 200 }))
  expect(r.sha256.length === 200 && new Set(r.sha256).size === 200, 'hash list')
})

await check('dial ws (second connection, same peer)', async () => {
  const r = expectOk(await a.send({ cmd: 'dial', addr: wsB }))
  expect(r.remoteAddr.includes('/ws'), r.remoteAddr)
  const p = expectOk(await a.send({ cmd: 'peers' }))
  expect(p.connections.filter(c => c.remotePeer === readyB.peerId).length === 2, JSON.stringify(p.connections))
})

await check('ping ws', async () => {
  const r = expectOk(await a.send({ cmd: 'ping', addr: wsB }))
  expect(r.remoteAddr.includes('/ws'), r.remoteAddr)
  return `rtt ${r.rttMs.toFixed(2)} ms`
})

await check('echo 16 MiB ws', async () => {
  const r = expectOk(await a.send({ cmd: 'echo', addr: wsB, bytes: 16 * MiB }))
  expect(r.remoteAddr.includes('/ws'), r.remoteAddr)
})

await check('echo 200 concurrent streams x 64 KiB ws', async () => {
  expectOk(await a.send({ cmd: 'echo', addr: wsB, bytes: 64 * 1024, streams: 200 }))
})

await check('B dials A over ws and echoes 1 MiB x 20', async () => {
  const r = expectOk(await b.send({ cmd: 'echo', addr: wsA, bytes: MiB, streams: 20 }))
  expect(r.remoteAddr.includes('/ws'), r.remoteAddr)
})

await check('echo of 0 bytes', async () => {
  expectOk(await a.send({ cmd: 'echo', addr: tcpB, bytes: 0, streams: 3 }))
})

await check(`perf upload ${PERF_BYTES / MiB} MiB tcp`, async () => {
  const r = expectOk(await a.send({ cmd: 'perf', addr: tcpB, upload: PERF_BYTES, download: 0 }))
  expect(!r.remoteAddr.includes('/ws'), r.remoteAddr)
  return `${r.totalMiBps.toFixed(1)} MiB/s (${(r.totalMiBps * 8 * 1.048576).toFixed(0)} Mbit/s) in ${r.totalMs.toFixed(0)} ms`
})

await check(`perf download ${PERF_BYTES / MiB} MiB tcp`, async () => {
  const r = expectOk(await a.send({ cmd: 'perf', addr: tcpB, upload: 0, download: PERF_BYTES }))
  return `${r.totalMiBps.toFixed(1)} MiB/s (${(r.totalMiBps * 8 * 1.048576).toFixed(0)} Mbit/s) in ${r.totalMs.toFixed(0)} ms`
})

await check('perf 16 MiB up + 16 MiB down ws', async () => {
  const r = expectOk(await a.send({ cmd: 'perf', addr: wsB, upload: 16 * MiB, download: 16 * MiB }))
  expect(r.remoteAddr.includes('/ws'), r.remoteAddr)
  return `${r.totalMiBps.toFixed(1)} MiB/s`
})

await check('failed commands answer ok:false and the peer keeps working', async () => {
  const refused = await a.send({ cmd: 'dial', addr: '/ip4/127.0.0.1/tcp/1', timeoutMs: 5000 })
  expect(refused.ok === false && refused.error.length > 0, JSON.stringify(refused))
  const bad = await a.send({ cmd: 'echo', addr: 'not-a-multiaddr' })
  expect(bad.ok === false, JSON.stringify(bad))
  const unknown = await a.send({ cmd: 'frobnicate' })
  expect(unknown.ok === false, JSON.stringify(unknown))
  const badArgs = await a.send({ cmd: 'echo', peer: readyB.peerId, bytes: -1 })
  expect(badArgs.ok === false, JSON.stringify(badArgs))
  expectOk(await a.send({ cmd: 'ping', peer: readyB.peerId }))
})

await check('hangup closes every connection to the peer', async () => {
  expectOk(await a.send({ cmd: 'hangup', peer: readyB.peerId }))
  const p = expectOk(await a.send({ cmd: 'peers' }))
  expect(!p.connections.some(c => c.remotePeer === readyB.peerId), JSON.stringify(p.connections))
})

await check('stop', async () => {
  const [sa, sb] = await Promise.all([a.stop(), b.stop()])
  expect(sa.answer.ok && sb.answer.ok && sa.code === 0 && sb.code === 0, `${JSON.stringify(sa)} ${JSON.stringify(sb)}`)
})

console.log(`${passed} passed, ${failed} failed`)
if (failed > 0) {
  console.log('--- stderr A ---\n' + a.stderr.join('').slice(-4000))
  console.log('--- stderr B ---\n' + b.stderr.join('').slice(-4000))
}
process.exit(failed > 0 ? 1 : 0)

#!/usr/bin/env node
// Connection-stack benchmarks on the js side (benchmarks/run-stack.sh drives them; see docs/benchmarks.md).
// A bare js-libp2p 3 stack, the same pinned packages as peer.mjs: TCP + Noise + Yamux, ping and /perf/1.0.0,
// no identify, so the figures are those of the connection stack. One mode per run, result as one JSON line:
//   serve                                  listen on 127.0.0.1, print {"event":"ready","addresses":[..]}, run until stdin closes
//   perf --addr A --bytes N --runs R       perf client, one connection; each run moves N bytes one way only
//   connect --addr A --count N             N new connections: dial, then one ping round trip on a new stream, close
//   memory --connections N                 two nodes in this process, N idle connections, heap/RSS delta per connection
// Run with node_modules/.bin/node (Node 22); memory needs --expose-gc.
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { emit, log } from './jsonl-peer.mjs'

const PERF_PROTOCOL = '/perf/1.0.0'
const PING_PROTOCOL = '/ipfs/ping/1.0.0'
const CHUNK = 64 * 1024
const MiB = 1024 * 1024

async function createNode (listen) {
  const node = await createLibp2p({
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    // As in peer.mjs: a stream may receive a whole 16 MiB window before js dispatches it; the 4 MiB default
    // read buffer then aborts the stream when the machine is loaded.
    streamMuxers: [yamux({ streamOptions: { maxReadBufferLength: 64 * 1024 * 1024 } })],
    connectionManager: {
      maxConnections: 4096,
      maxIncomingPendingConnections: 256,
      inboundConnectionThreshold: 100_000,
      maxParallelDials: 100
    },
    connectionMonitor: { enabled: false },
    services: { ping: ping({ maxInboundStreams: 256, maxOutboundStreams: 256 }) }
  })
  node.handle(PERF_PROTOCOL, handlePerf, { maxInboundStreams: 256, maxOutboundStreams: 256 })
  await node.start()
  return node
}

/**
 * Calls onChunk for every received byte run until the remote closes its write side.
 * js-libp2p 3.3 race: when the remote sends its protocol proposal, data and FIN at once (optimistic
 * multistream-select, as our C# client and go-libp2p do), multistream-select may put the data back into the
 * stream after 'end' was already dispatched; readableEnded is then true with bytes still buffered. Adding a
 * 'message' listener dispatches those bytes in a microtask, so read them before returning.
 */
function readAll (stream, onChunk) {
  if (stream.readableEnded) {
    const onMessage = (evt) => {
      if (evt.data instanceof Uint8Array) onChunk(evt.data)
      else for (const buf of evt.data) onChunk(buf)
    }
    stream.addEventListener('message', onMessage)
    return new Promise(resolve => setTimeout(resolve, 0)).finally(() => stream.removeEventListener('message', onMessage))
  }
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('end', onEnd)
      stream.removeEventListener('close', onClose)
    }
    const onMessage = (evt) => {
      try {
        if (evt.data instanceof Uint8Array) onChunk(evt.data)
        else for (const buf of evt.data) onChunk(buf)
      } catch (err) { cleanup(); stream.abort(err); reject(err) }
    }
    const onEnd = () => { cleanup(); resolve() }
    const onClose = (evt) => { cleanup(); if (evt.error != null) reject(evt.error); else resolve() }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('end', onEnd)
    stream.addEventListener('close', onClose)
  })
}

async function sendZeros (stream, count) {
  const block = new Uint8Array(CHUNK)
  for (let left = count; left > 0; left -= CHUNK) {
    if (!stream.send(left >= CHUNK ? block : block.subarray(0, left))) await stream.onDrain()
  }
}

/** /perf/1.0.0 server (libp2p perf spec): u64 BE size, drain the upload, send that many bytes, close. */
async function handlePerf (stream) {
  if (process.env.BENCH_DEBUG) log("perf handler start, buffered", stream.readBuffer?.byteLength, stream.readStatus)
  const header = new Uint8Array(8)
  let headerLen = 0
  try {
    await readAll(stream, (buf) => {
      const take = Math.min(8 - headerLen, buf.byteLength)
      if (take > 0) { header.set(buf.subarray(0, take), headerLen); headerLen += take }
    })
    if (headerLen < 8) throw new Error(`perf stream ended after ${headerLen} header bytes`)
    await sendZeros(stream, Number(new DataView(header.buffer).getBigUint64(0, false)))
    await stream.close()
  } catch (err) {
    log('perf handler:', err.message)
    stream.abort(err)
  }
}

/** One perf exchange; returns ms from opening the stream to the end of the response. */
async function perfOnce (connection, upload, download) {
  const t0 = performance.now()
  const stream = await connection.newStream(PERF_PROTOCOL)
  let received = 0
  const reading = readAll(stream, (buf) => { received += buf.byteLength })
  const header = new Uint8Array(8)
  new DataView(header.buffer).setBigUint64(0, BigInt(download), false)
  if (!stream.send(header)) await stream.onDrain()
  await sendZeros(stream, upload)
  await stream.close()
  await reading
  const ms = performance.now() - t0
  if (received !== download) throw new Error(`perf server sent ${received} bytes, asked for ${download}`)
  return ms
}

/** One ping round trip on a new stream. */
async function pingOnce (connection) {
  const stream = await connection.newStream(PING_PROTOCOL)
  const data = randomBytes(32)
  const received = []
  let got = 0
  let done
  const pong = new Promise((resolve, reject) => { done = { resolve, reject } })
  const reading = readAll(stream, (buf) => {
    received.push(buf.slice())
    got += buf.byteLength
    if (got >= 32) done.resolve()
  })
  reading.then(() => done.reject(new Error('ping stream ended early')), done.reject)
  if (!stream.send(data)) await stream.onDrain()
  await pong
  if (!Buffer.concat(received).subarray(0, 32).equals(data)) throw new Error('ping answer differs')
  await stream.close()
}

/** utime + stime of a process from /proc/PID/stat (clock ticks of 1/100 s), or null. */
function processCpuSeconds (pid) {
  if (!pid || !existsSync(`/proc/${pid}/stat`)) return null
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

async function serve () {
  const node = await createNode(['/ip4/127.0.0.1/tcp/0'])
  emit({ event: 'ready', peerId: node.peerId.toString(), addresses: node.getMultiaddrs().map(a => a.toString()) })
  process.stdin.resume()
  await new Promise(resolve => process.stdin.on('end', resolve))
  await node.stop()
}

async function perf (opts) {
  const bytes = Number(opts.bytes)
  const runs = Number(opts.runs)
  const warmup = Number(opts['warmup-bytes'])
  const node = await createNode([])
  const connection = await node.dial(multiaddr(opts.addr))
  if (warmup > 0) { await perfOnce(connection, warmup, 0); await perfOnce(connection, 0, warmup) }
  const upload = []
  const download = []
  const mibps = (ms) => bytes / MiB / (ms / 1000)
  const serverPid = Number(opts['server-pid'])
  const cpu0 = process.cpuUsage()
  const server0 = processCpuSeconds(serverPid)
  for (let i = 0; i < runs; i++) {
    upload.push(mibps(await perfOnce(connection, bytes, 0)))
    download.push(mibps(await perfOnce(connection, 0, bytes)))
  }
  const cpu = process.cpuUsage(cpu0)
  const server1 = processCpuSeconds(serverPid)
  const gib = 2 * runs * bytes / (1024 * MiB)
  emit({
    bytes,
    runs,
    security: connection.encryption,
    muxer: connection.multiplexer,
    upload,
    download,
    clientCpuPerGiB: (cpu.user + cpu.system) / 1e6 / gib,
    serverCpuPerGiB: server0 != null && server1 != null ? (server1 - server0) / gib : null
  })
  await node.stop()
}

async function connect (opts) {
  const count = Number(opts.count)
  const warmup = Number(opts.warmup)
  const target = multiaddr(opts.addr)
  const node = await createNode([])
  const dialMs = []
  const pingMs = []
  let security
  for (let i = 0; i < warmup + count; i++) {
    const t0 = performance.now()
    const connection = await node.dial(target, { force: true })
    const t1 = performance.now()
    await pingOnce(connection)
    const t2 = performance.now()
    security = connection.encryption
    await connection.close()
    if (i >= warmup) { dialMs.push(t1 - t0); pingMs.push(t2 - t0) }
  }
  emit({ count, security, dialMs, pingMs })
  await node.stop()
}

async function memory (opts) {
  if (typeof globalThis.gc !== 'function') throw new Error('memory needs node --expose-gc')
  const count = Number(opts.connections)
  const parallel = Number(opts.parallel)
  const server = await createNode(['/ip4/127.0.0.1/tcp/0'])
  const client = await createNode([])
  const target = server.getMultiaddrs()[0]
  for (let i = 0; i < 16; i++) await (await client.dial(target, { force: true })).close()
  const measure = async () => {
    for (let i = 0; i < 3; i++) { globalThis.gc(); await sleep(50) }
    return process.memoryUsage()
  }
  const before = await measure()
  let next = 0
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < count) { next++; await client.dial(target, { force: true }) }
  }))
  await sleep(Number(opts['settle-ms']))
  const after = await measure()
  const open = client.getConnections().filter(c => c.status === 'open').length
  if (open !== count) throw new Error(`${open} connections open, expected ${count}`)
  const per = (key) => (after[key] - before[key]) / count
  emit({
    connections: count,
    heapBytesPerConnection: per('heapUsed'),
    externalBytesPerConnection: per('external'),
    rssBytesPerConnection: per('rss'),
    before,
    after
  })
  await client.stop()
  await server.stop()
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    addr: { type: 'string' },
    bytes: { type: 'string', default: String(256 * MiB) },
    runs: { type: 'string', default: '3' },
    'warmup-bytes': { type: 'string', default: String(64 * MiB) },
    'server-pid': { type: 'string', default: '0' },
    count: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '100' },
    connections: { type: 'string', default: '1000' },
    // js-libp2p joins concurrent dials to one peer into one, even with force: dial one after the other.
    parallel: { type: 'string', default: '1' },
    'settle-ms': { type: 'string', default: '2000' }
  }
})
const modes = { serve, perf, connect, memory }
const mode = modes[positionals[0]]
if (mode == null) {
  log(`usage: bench-node.mjs ${Object.keys(modes).join('|')} [options]`)
  process.exit(2)
}
try {
  await mode(values)
  process.exit(0)
} catch (err) {
  log(`${positionals[0]} failed:`, err.stack ?? err.message)
  process.exit(1)
}

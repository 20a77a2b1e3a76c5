#!/usr/bin/env node
// A js-libp2p 3 peer controlled over stdin/stdout with one JSON object per line.
// Used by the P2PStack interop tests as a reference implementation. Logs go to stderr only:
// stdout carries nothing but protocol lines.
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { identify, identifyPush } from '@libp2p/identify'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { commandSignal, loadPrivateKey, log, runJsonLinesPeer, toHex } from './jsonl-peer.mjs'
import { CHUNK, handleEcho, readAll, writeAll } from './streams.mjs'

const ECHO_PROTOCOL = '/echo/1.0.0'
const PERF_PROTOCOL = '/perf/1.0.0'
const PING_PROTOCOL = '/ipfs/ping/1.0.0'
const PING_LENGTH = 32
const P2P_CODE = 0x01a5
const MAX_STREAMS = 4096
const DEFAULT_TIMEOUT_MS = 120_000

const ENCRYPTERS = { noise: () => noise(), tls: () => tls() }

/** `--encrypters noise,tls` (preference order; default noise) as js-libp2p connection encrypters. */
function encryptersOf (list) {
  return (list ?? 'noise').split(',').map(s => s.trim()).filter(Boolean).map(name => {
    if (!Object.hasOwn(ENCRYPTERS, name)) throw new Error(`unknown encrypter ${name} (noise, tls)`)
    return ENCRYPTERS[name]()
  })
}

async function createNode (opts) {
  const privateKey = await loadPrivateKey(opts.key)
  const node = await createLibp2p({
    privateKey,
    addresses: { listen: opts.listen },
    transports: [tcp(), webSockets()],
    connectionEncrypters: encryptersOf(opts.encrypters),
    // --psk FILE: a libp2p private network (swarm key file, PSK v1)
    ...(opts.psk != null ? { connectionProtector: preSharedKey({ psk: readFileSync(opts.psk) }) } : {}),
    streamMuxers: [yamux({
      maxInboundStreams: MAX_STREAMS,
      maxOutboundStreams: MAX_STREAMS,
      // A paused stream may still receive up to one full window (16 MiB max) from the remote.
      streamOptions: { maxReadBufferLength: 64 * 1024 * 1024 }
    })],
    connectionManager: {
      maxConnections: 1024,
      maxIncomingPendingConnections: 256,
      inboundConnectionThreshold: 10_000, // per-host rate limit; tests connect often from 127.0.0.1
      maxParallelDials: 100
    },
    // The monitor pings every connection and aborts it when ping fails: off unless asked for,
    // so a test controls all traffic itself.
    connectionMonitor: { enabled: opts.connectionMonitor },
    services: {
      identify: identify(),
      identifyPush: identifyPush(),
      ping: ping({ maxInboundStreams: 256, maxOutboundStreams: 256 })
    }
  })
  return { node, privateKey }
}

// ---- protocol handlers ----

/** /perf/1.0.0 server: read the u64 BE response size, drain the upload until EOF, then send that many bytes. */
async function handlePerf (stream) {
  const header = new Uint8Array(8)
  let headerLen = 0
  try {
    await readAll(stream, (buf) => {
      if (headerLen < 8) {
        const take = Math.min(8 - headerLen, buf.byteLength)
        header.set(buf.subarray(0, take), headerLen)
        headerLen += take
      }
    })
    if (headerLen < 8) throw new Error(`perf stream ended after ${headerLen} header bytes`)
    let remaining = new DataView(header.buffer).getBigUint64(0, false)
    const block = new Uint8Array(CHUNK)
    while (remaining > 0n) {
      const n = remaining < BigInt(CHUNK) ? Number(remaining) : CHUNK
      if (!stream.send(n === CHUNK ? block : block.subarray(0, n))) await stream.onDrain()
      remaining -= BigInt(n)
    }
    await stream.close()
  } catch (err) {
    log('perf handler:', err.message)
    stream.abort(err)
  }
}

// ---- commands ----

function targetOf (cmd) {
  if (typeof cmd.addr === 'string') return multiaddr(cmd.addr)
  if (typeof cmd.peer === 'string') return peerIdFromString(cmd.peer)
  throw new Error('command needs "addr" (multiaddr) or "peer" (peer id)')
}

const withoutPeerId = (ma) => ma.decapsulateCode(P2P_CODE).toString()

/**
 * The connection a command runs on. With "peer": any open connection to that peer, else a dial.
 * With "addr": an open connection to exactly that address, else a new connection to it (forced,
 * so a test can choose the transport even when the peer is already connected another way).
 */
async function connectionFor (node, cmd, signal) {
  const target = targetOf(cmd)
  if (typeof cmd.addr !== 'string') {
    return node.getConnections(target).find(c => c.status === 'open') ?? await node.dial(target, { signal })
  }
  const wanted = withoutPeerId(target)
  const existing = node.getConnections().find(c => c.status === 'open' && withoutPeerId(c.remoteAddr) === wanted)
  return existing ?? await node.dial(target, { signal, force: true })
}

const timeoutSignal = (cmd) => commandSignal(cmd, DEFAULT_TIMEOUT_MS)

function nonNegativeInt (value, name) {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`"${name}" must be a non-negative integer`)
  return value
}

function describeConnection (c) {
  return {
    remotePeer: c.remotePeer.toString(),
    remoteAddr: c.remoteAddr.toString(),
    direction: c.direction,
    status: c.status,
    encryption: c.encryption,
    multiplexer: c.multiplexer,
    streams: c.streams.map(s => ({ protocol: s.protocol, direction: s.direction }))
  }
}

/** /ipfs/ping/1.0.0 client: `count` round trips of 32 random bytes on one stream. */
async function pingClient (connection, count, signal) {
  const stream = await connection.newStream(PING_PROTOCOL, { signal })
  let pending = null
  let got = 0
  const received = new Uint8Array(PING_LENGTH)
  const reading = readAll(stream, (buf) => {
    if (pending == null || got + buf.byteLength > PING_LENGTH) throw new Error('unexpected ping bytes')
    received.set(buf, got)
    got += buf.byteLength
    if (got === PING_LENGTH) { const p = pending; pending = null; p() }
  }, signal)
  reading.catch(() => {})
  const rtts = []
  try {
    for (let i = 0; i < count; i++) {
      const data = randomBytes(PING_LENGTH)
      got = 0
      const pong = new Promise((resolve, reject) => { pending = resolve; reading.then(() => reject(new Error('ping stream ended early')), reject) })
      const t0 = performance.now()
      if (!stream.send(data)) await stream.onDrain({ signal })
      await pong
      rtts.push(performance.now() - t0)
      if (!Buffer.from(received).equals(data)) throw new Error('ping answer differs from the bytes sent')
    }
    await stream.close({ signal })
    await reading
  } catch (err) {
    stream.abort(err)
    throw err
  }
  return rtts
}

async function echoOne (connection, size, signal) {
  const payload = randomBytes(size)
  const sentHash = createHash('sha256').update(payload).digest('hex')
  const recvHash = createHash('sha256')
  let received = 0
  const stream = await connection.newStream(ECHO_PROTOCOL, { signal })
  const reading = readAll(stream, (buf) => {
    received += buf.byteLength
    if (received > size) throw new Error(`echo returned more than the ${size} bytes sent`)
    recvHash.update(buf)
  }, signal)
  await writeAll(stream, payload, signal)
  await stream.close({ signal })
  await reading
  const got = recvHash.digest('hex')
  if (received !== size) throw new Error(`echo returned ${received} bytes, sent ${size}`)
  if (got !== sentHash) throw new Error(`echo payload differs: sent sha256 ${sentHash}, got ${got}`)
  return sentHash
}

async function perfClient (connection, upload, download, signal) {
  const t0 = performance.now()
  const stream = await connection.newStream(PERF_PROTOCOL, { signal })
  const tOpen = performance.now()
  let received = 0
  let tFirstByte
  const reading = readAll(stream, (buf) => {
    tFirstByte ??= performance.now()
    received += buf.byteLength
  }, signal)
  const header = new Uint8Array(8)
  new DataView(header.buffer).setBigUint64(0, BigInt(download), false)
  if (!stream.send(header)) await stream.onDrain({ signal })
  const block = new Uint8Array(CHUNK)
  for (let left = upload; left > 0; left -= CHUNK) {
    if (!stream.send(left >= CHUNK ? block : block.subarray(0, left))) await stream.onDrain({ signal })
  }
  await stream.close({ signal })
  const tUploaded = performance.now()
  await reading
  const tEnd = performance.now()
  if (received !== download) throw new Error(`perf server sent ${received} bytes, asked for ${download}`)
  const totalMs = tEnd - t0
  const mib = (n, ms) => ms > 0 ? (n / (1024 * 1024)) / (ms / 1000) : null
  return {
    upload,
    download,
    openMs: tOpen - t0,
    uploadMs: tUploaded - tOpen,
    downloadMs: tEnd - tUploaded,
    firstByteMs: tFirstByte != null ? tFirstByte - tUploaded : null,
    totalMs,
    uploadMiBps: upload > 0 ? mib(upload, tUploaded - tOpen) : null,
    downloadMiBps: download > 0 ? mib(download, tEnd - tUploaded) : null,
    totalMiBps: mib(upload + download, totalMs)
  }
}

function makeCommands (node, privateKey, identifyResults) {
  const identifyWaiters = new Map() // peerId -> [resolve]
  node.addEventListener('peer:identify', (evt) => {
    const key = evt.detail.peerId.toString()
    identifyResults.set(key, evt.detail)
    for (const resolve of identifyWaiters.get(key) ?? []) resolve(evt.detail)
    identifyWaiters.delete(key)
  })
  // A reconnect brings a new observed address: forget results of peers we are no longer connected to.
  node.addEventListener('peer:disconnect', (evt) => { identifyResults.delete(evt.detail.toString()) })
  const waitForIdentify = (key, signal) => {
    const known = identifyResults.get(key)
    if (known != null) return Promise.resolve(known)
    return new Promise((resolve, reject) => {
      const list = identifyWaiters.get(key) ?? []
      list.push(resolve)
      identifyWaiters.set(key, list)
      signal.addEventListener('abort', () => reject(new Error(`no identify result from ${key} in time`)), { once: true })
    })
  }

  return {
    async dial (cmd) {
      const c = cmd.force === true
        ? await node.dial(targetOf(cmd), { signal: timeoutSignal(cmd), force: true })
        : await connectionFor(node, cmd, timeoutSignal(cmd))
      return { remotePeer: c.remotePeer.toString(), remoteAddr: c.remoteAddr.toString(), encryption: c.encryption, multiplexer: c.multiplexer }
    },
    async hangup (cmd) {
      await node.hangUp(targetOf(cmd), { signal: timeoutSignal(cmd) })
      return {}
    },
    async ping (cmd) {
      const signal = timeoutSignal(cmd)
      const connection = await connectionFor(node, cmd, signal)
      if (cmd.service === true) {
        // js-libp2p's own ping client (one ping per stream, opened on any connection to the peer)
        const rttMs = await node.services.ping.ping(connection.remotePeer, { signal })
        return { rttMs, remoteAddr: connection.remoteAddr.toString() }
      }
      const count = nonNegativeInt(cmd.count ?? 1, 'count')
      if (count < 1) throw new Error('"count" must be at least 1')
      const rtts = await pingClient(connection, count, signal)
      return { rttMs: rtts[0], rtts, remoteAddr: connection.remoteAddr.toString() }
    },
    async echo (cmd) {
      const bytes = nonNegativeInt(cmd.bytes ?? 1024, 'bytes')
      const streams = nonNegativeInt(cmd.streams ?? 1, 'streams')
      if (streams < 1 || streams > MAX_STREAMS) throw new Error(`"streams" must be 1..${MAX_STREAMS}`)
      const signal = timeoutSignal(cmd)
      const connection = await connectionFor(node, cmd, signal)
      const t0 = performance.now()
      const hashes = await Promise.all(Array.from({ length: streams }, () => echoOne(connection, bytes, signal)))
      return { bytes, streams, ms: performance.now() - t0, sha256: hashes, remoteAddr: connection.remoteAddr.toString() }
    },
    async perf (cmd) {
      const upload = nonNegativeInt(cmd.upload ?? 0, 'upload')
      const download = nonNegativeInt(cmd.download ?? 0, 'download')
      const signal = timeoutSignal(cmd)
      const connection = await connectionFor(node, cmd, signal)
      return { ...await perfClient(connection, upload, download, signal), remoteAddr: connection.remoteAddr.toString() }
    },
    async identify (cmd) {
      const signal = timeoutSignal(cmd)
      let peerId
      if (typeof cmd.addr === 'string') peerId = (await connectionFor(node, cmd, signal)).remotePeer
      else if (typeof cmd.peer === 'string') peerId = peerIdFromString(cmd.peer)
      else throw new Error('identify needs "peer" or "addr"')
      const key = peerId.toString()
      let result
      if (cmd.fresh === true) {
        const connection = await connectionFor(node, { peer: key }, signal)
        result = await node.services.identify.identify(connection, { signal })
      } else {
        result = await waitForIdentify(key, signal)
      }
      const peer = await node.peerStore.get(peerId)
      const meta = (name) => {
        const v = peer.metadata.get(name)
        return v == null ? null : Buffer.from(v).toString('utf8')
      }
      return {
        peer: key,
        protocols: [...peer.protocols].sort(),
        addresses: peer.addresses.map(a => ({ addr: a.multiaddr.toString(), certified: a.isCertified })),
        agentVersion: meta('AgentVersion'),
        protocolVersion: meta('ProtocolVersion'),
        observedAddr: result.observedAddr?.toString() ?? null,
        listenAddrs: result.listenAddrs.map(a => a.toString()),
        signedPeerRecord: result.signedPeerRecord != null,
        publicKey: result.publicKey != null ? toHex(result.publicKey) : null
      }
    },
    async peers () {
      return { connections: node.getConnections().map(describeConnection), peers: node.getPeers().map(p => p.toString()) }
    },
    async info () {
      return {
        peerId: node.peerId.toString(),
        privateKey: toHex(privateKeyToProtobuf(privateKey)),
        addresses: node.getMultiaddrs().map(a => a.toString()),
        protocols: node.getProtocols()
      }
    }
  }
}

runJsonLinesPeer({
  flags: { 'connection-monitor': 'JSPEER_CONNECTION_MONITOR' },
  strings: { psk: 'JSPEER_PSK', encrypters: 'JSPEER_ENCRYPTERS' },
  async start (opts) {
    const { node, privateKey } = await createNode(opts)
    node.handle(ECHO_PROTOCOL, handleEcho, { maxInboundStreams: MAX_STREAMS, maxOutboundStreams: MAX_STREAMS })
    node.handle(PERF_PROTOCOL, handlePerf, { maxInboundStreams: 256, maxOutboundStreams: 256 })
    await node.start()
    node.addEventListener('connection:open', (e) => log('connection open', e.detail.remotePeer.toString(), e.detail.remoteAddr.toString()))
    node.addEventListener('connection:close', (e) => log('connection closed', e.detail.remotePeer.toString()))
    return { node, commands: makeCommands(node, privateKey, new Map()) }
  }
})

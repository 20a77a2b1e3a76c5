#!/usr/bin/env node
// A js-libp2p 3 peer with the NAT traversal modules (@libp2p/circuit-relay-v2 transport and optional server,
// @libp2p/dcutr, @libp2p/autonat, @libp2p/autonat-v2), controlled over stdin/stdout with one JSON object per line
// (same conventions as peer.mjs). Used by the P2PStack NAT interop tests, which run it inside network namespaces with
// public addresses (js AutoNAT servers refuse private and loopback addresses). Logs go to stderr only.
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { autoNAT } from '@libp2p/autonat'
import { autoNATv2 } from '@libp2p/autonat-v2'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { identify, identifyPush } from '@libp2p/identify'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { randomBytes } from 'node:crypto'
import { commandSignal, loadPrivateKey, log, runJsonLinesPeer } from './jsonl-peer.mjs'
import { handleEcho, readAll, writeAll } from './streams.mjs'

const ECHO_PROTOCOL = '/echo/1.0.0'
const DEFAULT_TIMEOUT_MS = 60_000

async function createNode (opts) {
  const privateKey = await loadPrivateKey(opts.key)
  const services = {
    identify: identify(),
    identifyPush: identifyPush(),
    ping: ping(),
    dcutr: dcutr()
  }
  if (opts.autonat || opts.autonatV1) services.autoNAT = autoNAT()
  if (opts.autonat) services.autoNATv2 = autoNATv2()
  if (opts.relayService) {
    // js-libp2p's defaults (2 min, 128 KiB), sent as Limit.duration = 120000: js puts milliseconds there.
    services.relay = circuitRelayServer({ reservations: { maxReservations: 64, applyDefaultLimit: !opts.relayUnlimited } })
  }
  const node = await createLibp2p({
    privateKey,
    addresses: { listen: opts.listen },
    transports: [tcp(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { maxConnections: 256, inboundConnectionThreshold: 10_000 },
    connectionMonitor: { enabled: false },
    services
  })
  return node
}

const describeConnection = (c) => ({
  connectionId: c.id,
  remotePeer: c.remotePeer.toString(),
  remoteAddr: c.remoteAddr.toString(),
  direction: c.direction,
  limited: c.limits != null,
  limits: c.limits == null ? null : { seconds: c.limits.seconds ?? null, bytes: c.limits.bytes?.toString() ?? null },
  relayed: c.remoteAddr.toString().includes('/p2p-circuit')
})

const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))

function makeCommands (node) {
  const timeoutSignal = (cmd) => commandSignal(cmd, DEFAULT_TIMEOUT_MS)
  const target = (cmd) => typeof cmd.addr === 'string' ? multiaddr(cmd.addr) : peerIdFromString(cmd.peer)
  return {
    async dial (cmd) {
      const c = await node.dial(target(cmd), { signal: timeoutSignal(cmd) })
      return describeConnection(c)
    },
    async connections () {
      return { connections: node.getConnections().map(describeConnection) }
    },
    async addresses () {
      const am = node.components?.addressManager
      const meta = am?.getAddressesWithMetadata?.() ?? []
      return {
        addresses: node.getMultiaddrs().map(a => a.toString()),
        metadata: meta.map(m => ({ addr: m.multiaddr.toString(), type: m.type, verified: m.verified, expires: m.expires }))
      }
    },
    /** Polls until an address containing `contains` is announced (e.g. "/p2p-circuit" once a reservation holds). */
    async waitAddress (cmd) {
      const signal = timeoutSignal(cmd)
      while (!signal.aborted) {
        const found = node.getMultiaddrs().map(a => a.toString()).filter(a => a.includes(cmd.contains))
        if (found.length > 0) return { addresses: found }
        await sleep(100)
      }
      throw new Error(`no address containing ${cmd.contains} within the timeout`)
    },
    /** Polls until a connection to `peer` satisfies `direct` (true: a direct one exists; false: only relayed ones). */
    async waitConnection (cmd) {
      const signal = timeoutSignal(cmd)
      while (!signal.aborted) {
        const cs = node.getConnections(peerIdFromString(cmd.peer))
        if (cs.some(c => c.limits == null && !c.remoteAddr.toString().includes('/p2p-circuit')) === cmd.direct) {
          return { connections: cs.map(describeConnection) }
        }
        await sleep(100)
      }
      throw new Error(`connection to ${cmd.peer} with direct=${cmd.direct} not seen within the timeout`)
    },
    async echo (cmd) {
      const signal = timeoutSignal(cmd)
      const size = cmd.size ?? 1024
      const connection = await node.dial(target(cmd), { signal })
      const stream = await connection.newStream(ECHO_PROTOCOL, { signal, runOnLimitedConnection: true })
      const payload = randomBytes(size)
      const chunks = []
      const reading = readAll(stream, (buf) => chunks.push(Buffer.from(buf)), signal)
      await writeAll(stream, payload, signal)
      await stream.close({ signal })
      await reading
      const received = Buffer.concat(chunks)
      if (!received.equals(payload)) throw new Error(`echo returned ${received.length} different bytes (sent ${size})`)
      return { bytes: size, connection: describeConnection(connection) }
    },
    async ping (cmd) {
      const rttMs = await node.services.ping.ping(target(cmd), { signal: timeoutSignal(cmd) })
      return { rttMs }
    },
    async info () {
      return { peerId: node.peerId.toString(), addresses: node.getMultiaddrs().map(a => a.toString()), protocols: node.getProtocols() }
    }
  }
}

runJsonLinesPeer({
  flags: {
    'relay-service': 'JSPEER_RELAY_SERVICE',
    'relay-unlimited': 'JSPEER_RELAY_UNLIMITED',
    autonat: 'JSPEER_AUTONAT', // AutoNAT v1 and v2, client and server
    'autonat-v1': 'JSPEER_AUTONAT_V1' // AutoNAT v1 only
  },
  async start (opts) {
    const node = await createNode(opts)
    node.handle(ECHO_PROTOCOL, handleEcho, { runOnLimitedConnection: true })
    await node.start()
    node.addEventListener('connection:open', (e) => log('connection open', e.detail.remotePeer.toString(), e.detail.remoteAddr.toString()))
    node.addEventListener('connection:close', (e) => log('connection closed', e.detail.remotePeer.toString(), e.detail.remoteAddr.toString()))
    return { node, commands: makeCommands(node) }
  }
})

#!/usr/bin/env node
// A js-libp2p 3 peer with @libp2p/kad-dht and @libp2p/gossipsub, controlled over stdin/stdout with one JSON
// object per line (same conventions as peer.mjs). Used by the P2PStack discovery interop tests: a mixed
// network of js and C# nodes on 127.0.0.1. Logs go to stderr only; stdout carries protocol lines only.
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { gossipsub } from '@libp2p/gossipsub'
import { identify, identifyPush } from '@libp2p/identify'
import { EventTypes, kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import { commandSignal, loadPrivateKey, log, runJsonLinesPeer, toHex } from './jsonl-peer.mjs'

const DHT_PROTOCOL = '/ipfs/kad/1.0.0'
const TEST_NAMESPACE = 'test'
const MAX_TEST_VALUE = 1024
const MAX_KEPT_MESSAGES = 10_000
const DEFAULT_TIMEOUT_MS = 60_000

const utf8 = new TextEncoder()
const utf8Strict = new TextDecoder('utf-8', { fatal: true })

/** Byte-wise comparison, as the C# side's selector uses (ordinal on raw bytes). */
function compareBytes (a, b) {
  const n = Math.min(a.byteLength, b.byteLength)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return a.byteLength - b.byteLength
}

/**
 * The /test namespace, registered identically on the C# side: key /test/<non-empty>, value 1..1024 bytes of
 * UTF-8; the best of several values is the lexicographically greatest (raw bytes).
 */
function validateTestRecord (key, value) {
  const text = Buffer.from(key).toString('latin1')
  if (!text.startsWith(`/${TEST_NAMESPACE}/`) || key.byteLength <= TEST_NAMESPACE.length + 2) throw new Error('a /test key needs a name after /test/')
  if (value.byteLength === 0 || value.byteLength > MAX_TEST_VALUE) throw new Error(`a /test value must be 1..${MAX_TEST_VALUE} bytes`)
  utf8Strict.decode(value) // throws on invalid UTF-8
}

function selectTestRecord (key, values) {
  let best = 0
  for (let i = 1; i < values.length; i++) if (compareBytes(values[i], values[best]) > 0) best = i
  return best
}

async function createNode (opts) {
  const privateKey = await loadPrivateKey(opts.key)
  const node = await createLibp2p({
    privateKey,
    addresses: { listen: opts.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: 256,
      inboundConnectionThreshold: 10_000 // per-host rate limit: every test peer is on 127.0.0.1
    },
    connectionMonitor: { enabled: false },
    services: {
      identify: identify(),
      identifyPush: identifyPush(),
      ping: ping(),
      dht: kadDHT({
        protocol: DHT_PROTOCOL, // not the /ipfs/lan/kad/1.0.0 of libp2p's LAN preset
        clientMode: opts.dhtClient, // explicit: otherwise js waits for a public address before serving
        peerInfoMapper: passthroughMapper, // keep 127.0.0.1 addresses (the default mapper drops private ones)
        allowQueryWithZeroPeers: true, // answer "not found" instead of waiting for a first peer
        validators: { [TEST_NAMESPACE]: validateTestRecord },
        selectors: { [TEST_NAMESPACE]: selectTestRecord },
        initialQuerySelfInterval: 500
      }),
      pubsub: gossipsub({
        emitSelf: false,
        allowPublishToZeroTopicPeers: true,
        globalSignaturePolicy: 'StrictSign',
        fallbackToFloodsub: false,
        // Small meshes: every node of a 6-8 node test network fits, and D_out stays below D_lo.
        D: 6,
        Dlo: 4,
        Dhi: 12,
        Dout: 2,
        heartbeatInterval: 700,
        // All test peers share 127.0.0.1: do not treat that as a sybil attack (the C# side whitelists loopback too).
        scoreParams: { IPColocationFactorWhitelist: new Set(['127.0.0.1', '::1']) }
      })
    }
  })
  return node
}

// ---- argument helpers ----

function bytesArg (cmd, name) {
  if (typeof cmd[name] === 'string') return utf8.encode(cmd[name])
  if (typeof cmd[`${name}Hex`] === 'string') return Uint8Array.from(Buffer.from(cmd[`${name}Hex`], 'hex'))
  throw new Error(`command needs "${name}" (UTF-8 text) or "${name}Hex"`)
}

function peerArg (cmd, name = 'peer') {
  if (typeof cmd[name] !== 'string') throw new Error(`command needs "${name}" (a peer id)`)
  return peerIdFromString(cmd[name])
}

function cidArg (cmd) {
  if (typeof cmd.cid !== 'string') throw new Error('command needs "cid"')
  return CID.parse(cmd.cid)
}

function textOrNull (bytes) {
  try { return utf8Strict.decode(bytes) } catch { return null }
}

const signalOf = (cmd) => commandSignal(cmd, DEFAULT_TIMEOUT_MS)
const describePeer = (p) => ({ peer: p.id.toString(), addresses: p.multiaddrs.map(a => a.toString()) })
const queryOptions = (cmd) => ({ signal: signalOf(cmd), useCache: cmd.useCache === true })

function makeCommands (node) {
  const dht = node.services.dht
  const pubsub = node.services.pubsub
  const received = []
  pubsub.addEventListener('message', (evt) => {
    const m = evt.detail
    if (received.length >= MAX_KEPT_MESSAGES) received.shift()
    received.push({
      topic: m.topic,
      type: m.type,
      from: m.type === 'signed' ? m.from.toString() : null,
      seqno: m.type === 'signed' ? m.sequenceNumber.toString() : null,
      signed: m.type === 'signed' && m.signature != null && m.signature.byteLength > 0,
      data: textOrNull(m.data),
      dataHex: toHex(m.data)
    })
  })

  return {
    async dial (cmd) {
      const target = typeof cmd.addr === 'string' ? multiaddr(cmd.addr) : peerArg(cmd)
      const c = await node.dial(target, { signal: signalOf(cmd) })
      return { remotePeer: c.remotePeer.toString(), remoteAddr: c.remoteAddr.toString() }
    },
    async hangup (cmd) {
      await node.hangUp(peerArg(cmd), { signal: signalOf(cmd) })
      return {}
    },
    /** A DHT lookup (FIND_NODE) for a peer's addresses; `from` lists every peer whose answer named it. */
    async findPeer (cmd) {
      const target = peerArg(cmd)
      const found = []
      for await (const event of dht.findPeer(target, queryOptions(cmd))) {
        if (event.name === 'FINAL_PEER') found.push({ from: event.from.toString(), ...describePeer(event.peer) })
      }
      if (found.length === 0) throw new Error(`no DHT peer knew ${target}`)
      const addresses = [...new Set(found.flatMap(f => f.addresses))]
      return { peer: target.toString(), addresses, from: [...new Set(found.map(f => f.from))] }
    },
    async getClosestPeers (cmd) {
      const key = typeof cmd.peer === 'string' ? peerArg(cmd).toMultihash().bytes : bytesArg(cmd, 'key')
      const peers = []
      for await (const event of dht.getClosestPeers(key, { signal: signalOf(cmd) })) {
        if (event.name === 'FINAL_PEER') peers.push(describePeer(event.peer))
      }
      return { peers }
    },
    async putValue (cmd) {
      const key = bytesArg(cmd, 'key')
      const value = bytesArg(cmd, 'value')
      const storedOn = new Set()
      for await (const event of dht.put(key, value, { signal: signalOf(cmd) })) {
        if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE') storedOn.add(event.from.toString())
      }
      return { storedOn: [...storedOn] }
    },
    /**
     * The best value (js's get ends with one VALUE event: the one its selector chose) and every record a remote peer
     * answered with (PEER_RESPONSE events carrying a record), by source.
     */
    async getValue (cmd) {
      const key = bytesArg(cmd, 'key')
      const values = []
      let best = null
      for await (const event of dht.get(key, { signal: signalOf(cmd) })) {
        if (event.name === 'VALUE') best = event
        if (event.name === 'PEER_RESPONSE' && event.record != null) {
          values.push({ from: event.from.toString(), value: textOrNull(event.record.value), valueHex: toHex(event.record.value) })
        }
      }
      if (best == null) throw new Error('no value found')
      return { value: textOrNull(best.value), valueHex: toHex(best.value), bestFrom: best.from.toString(), values }
    },
    async provide (cmd) {
      const sentTo = new Set()
      for await (const event of dht.provide(cidArg(cmd), { signal: signalOf(cmd) })) {
        if (event.name === 'PEER_RESPONSE' && event.messageName === 'ADD_PROVIDER') sentTo.add(event.from.toString())
        if (event.type === EventTypes.SEND_QUERY && event.messageName === 'ADD_PROVIDER') sentTo.add(event.to.toString())
      }
      return { sentTo: [...sentTo] }
    },
    async findProviders (cmd) {
      const providers = new Map()
      for await (const event of dht.findProviders(cidArg(cmd), { signal: signalOf(cmd) })) {
        if (event.name !== 'PROVIDER') continue
        for (const p of event.providers) {
          const entry = providers.get(p.id.toString()) ?? { peer: p.id.toString(), addresses: new Set(), from: new Set() }
          for (const a of p.multiaddrs) entry.addresses.add(a.toString())
          entry.from.add(event.from.toString())
          providers.set(entry.peer, entry)
        }
      }
      return { providers: [...providers.values()].map(p => ({ peer: p.peer, addresses: [...p.addresses], from: [...p.from] })) }
    },
    async routingTable () {
      return { size: dht.routingTable.size, mode: dht.getMode() }
    },
    async subscribe (cmd) {
      if (typeof cmd.topic !== 'string') throw new Error('command needs "topic"')
      pubsub.subscribe(cmd.topic)
      return { topics: pubsub.getTopics() }
    },
    async unsubscribe (cmd) {
      if (typeof cmd.topic !== 'string') throw new Error('command needs "topic"')
      pubsub.unsubscribe(cmd.topic)
      return { topics: pubsub.getTopics() }
    },
    async publish (cmd) {
      if (typeof cmd.topic !== 'string') throw new Error('command needs "topic"')
      const result = await pubsub.publish(cmd.topic, bytesArg(cmd, 'data'))
      return { recipients: result.recipients.map(p => p.toString()) }
    },
    /** Messages received so far (optionally of one topic), oldest first; own messages are not included. */
    async messages (cmd) {
      const list = typeof cmd.topic === 'string' ? received.filter(m => m.topic === cmd.topic) : received
      return { messages: list }
    },
    async peers (cmd) {
      const topic = typeof cmd.topic === 'string' ? cmd.topic : null
      return {
        connections: node.getConnections().map(c => ({ remotePeer: c.remotePeer.toString(), remoteAddr: c.remoteAddr.toString(), direction: c.direction })),
        peers: node.getPeers().map(p => p.toString()),
        pubsubPeers: pubsub.getPeers().map(p => p.toString()),
        topicPeers: topic != null ? pubsub.getSubscribers(topic).map(p => p.toString()) : [],
        meshPeers: topic != null ? pubsub.getMeshPeers(topic) : [],
        dhtRoutingTableSize: dht.routingTable.size
      }
    },
    async info () {
      return { peerId: node.peerId.toString(), publicKeyHex: toHex(publicKeyToProtobuf(node.peerId.publicKey)), addresses: node.getMultiaddrs().map(a => a.toString()), protocols: node.getProtocols() }
    }
  }
}

runJsonLinesPeer({
  flags: { 'dht-client': 'JSPEER_DHT_CLIENT' },
  async start (opts) {
    const node = await createNode(opts)
    await node.start()
    node.addEventListener('connection:open', (e) => log('connection open', e.detail.remotePeer.toString(), e.detail.remoteAddr.toString()))
    return { node, commands: makeCommands(node) }
  }
})

// @libp2p/daemon-client drives our daemon through every request type of the control protocol: with its own methods
// where it has one, and with hand-built requests (client.send) for the rest (DISCONNECT, PEERSTORE, CONNMANAGER,
// FIND_PEERS_CONNECTED_TO_PEER, SEARCH_VALUE), then checks that bad requests get an error and change nothing.
// Two of our daemons and one js daemon, all with the DHT and gossipsub.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import net from 'node:net'
import { DHTRequest, DHTResponse, PeerstoreRequest, ConnManagerRequest, PSRequest, Request, Response } from '@libp2p/daemon-protocol'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import all from 'it-all'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import pWaitFor from 'p-wait-for'
import { fromString, toString } from 'uint8arrays'
import { factory } from './daemons.mjs'

const options = { dht: true, pubsub: true, pubsubRouter: 'gossipsub' }

/** A request the client library has no method for: one Response back. */
async function rawRequest (client, request) {
  const stream = await client.send(request)
  const response = await stream.read(Response)
  await stream.unwrap().close()
  return response
}

/** Same bytes, whatever the Uint8Array subclass (Buffer or not). */
function assertBytes (actual, expected) {
  assert.ok(actual instanceof Uint8Array, 'bytes')
  assert.deepEqual(Uint8Array.from(actual), Uint8Array.from(expected))
}

/** Raw bytes on a new control connection; the first length-prefixed answer, decoded. */
async function rawBytes (controlSocket, bytes) {
  const [, ip, host, tcp, port] = controlSocket.toString().split('/')
  assert.ok(ip === 'ip4' && tcp === 'tcp', `a TCP control socket: ${controlSocket}`)
  const socket = net.connect({ host, port: Number(port) })
  await once(socket, 'connect')
  socket.write(bytes)
  let buffer = Buffer.alloc(0)
  for await (const chunk of socket) {
    buffer = Buffer.concat([buffer, chunk])
    if (buffer.length > 0 && buffer.length >= 1 + buffer[0]) break // answers here are under 128 bytes: one-byte prefix
  }
  socket.destroy()
  return Response.decode(buffer.subarray(1, 1 + buffer[0]))
}

/** A streamed DHT request: the BEGIN Response, then DHTResponses up to END. */
async function rawDhtStream (client, dht) {
  const stream = await client.send({ type: Request.Type.DHT, dht })
  const begin = await stream.read(Response)
  assert.equal(begin.type, Response.Type.OK, begin.error?.msg)
  assert.equal(begin.dht?.type, DHTResponse.Type.BEGIN)
  const values = []
  while (true) {
    const next = await stream.read(DHTResponse)
    if (next.type === DHTResponse.Type.END) break
    assert.equal(next.type, DHTResponse.Type.VALUE)
    values.push(next)
  }
  await stream.unwrap().close()
  return values
}

describe('daemon client drives synaptic-mesh through every request type', function () {
  this.timeout(60_000)
  let a, b, js
  let idA, idB, idJs

  before(async function () {
    ;[a, b, js] = await Promise.all([factory.spawn({ type: 'go', ...options }), factory.spawn({ type: 'go', ...options }), factory.spawn({ type: 'js', ...options })])
    ;[idA, idB, idJs] = await Promise.all([a, b, js].map(d => d.client.identify()))
  })

  after(async function () {
    await Promise.all([a, b, js].filter(Boolean).map(d => d.stop()))
  })

  it('IDENTIFY', async () => {
    assert.ok(idA.peerId.equals(idA.peerId))
    assert.ok(idA.addrs.length > 0)
    assert.ok(idA.addrs.every(ma => ma.toString().startsWith('/ip4/127.0.0.1/tcp/')))
  })

  it('CONNECT and LIST_PEERS', async () => {
    assert.deepEqual(await a.client.listPeers(), [])
    await a.client.connect(idB.peerId, idB.addrs)
    await a.client.connect(idJs.peerId, idJs.addrs)
    await b.client.connect(idJs.peerId, idJs.addrs)
    const peers = (await a.client.listPeers()).map(p => p.toString()).sort()
    assert.deepEqual(peers, [idB.peerId.toString(), idJs.peerId.toString()].sort())
  })

  it('CONNECT to an unreachable address fails with the daemon\'s error', async () => {
    const other = await factory.spawn({ type: 'js' })
    const { peerId } = await other.client.identify()
    await other.stop()
    await assert.rejects(a.client.connect(peerId, [multiaddr('/ip4/127.0.0.1/tcp/1')]), err => err.name === 'OperationFailedError' && err.message.length > 0)
  })

  it('STREAM_HANDLER and STREAM_OPEN, both ways between ours and js', async () => {
    const protocol = '/p2pstack/daemon-test/1.0.0'
    const echo = async stream => {
      const lp = lpStream(stream)
      const message = await lp.read()
      await lp.write(fromString(`echo: ${toString(message.subarray())}`))
    }
    await a.client.registerStreamHandler(protocol, echo)
    await js.client.registerStreamHandler(protocol, echo)
    for (const [from, to] of [[js, idA], [a, idJs]]) {
      const stream = await from.client.openStream(to.peerId, protocol)
      const lp = lpStream(stream)
      await lp.write(fromString('ping'))
      assert.equal(toString((await lp.read()).subarray()), 'echo: ping')
      await stream.close()
    }
  })

  it('DHT PUT_VALUE and GET_VALUE', async () => {
    // A /pk record: the key names the peer id whose public key is the value (validated on every node).
    const record = await publicKeyRecord(js)
    await a.client.dht.put(record.key, record.value)
    assertBytes(await b.client.dht.get(record.key), record.value)
    assertBytes(await js.client.dht.get(record.key), record.value)
  })

  it('DHT SEARCH_VALUE', async () => {
    const record = await publicKeyRecord(js)
    await b.client.dht.put(record.key, record.value)
    const values = await rawDhtStream(a.client, { type: DHTRequest.Type.SEARCH_VALUE, key: record.key })
    assertBytes(values.at(-1).value, record.value)
  })

  it('DHT PROVIDE and FIND_PROVIDERS', async () => {
    const cid = CID.createV1(0x55, await sha256.digest(fromString('provided through the daemon client')))
    await a.client.dht.provide(cid)
    const providers = await all(b.client.dht.findProviders(cid, 1))
    assert.equal(providers.length, 1)
    assert.ok(providers[0].id.equals(idA.peerId))
    const fromJs = await all(js.client.dht.findProviders(cid, 1))
    assert.ok(fromJs[0].id.equals(idA.peerId))
  })

  it('DHT FIND_PEER', async () => {
    const found = await a.client.dht.findPeer(idB.peerId)
    assert.ok(found.id.equals(idB.peerId))
    assert.ok(found.multiaddrs.some(ma => idB.addrs.some(x => x.equals(ma))))
  })

  it('DHT FIND_PEERS_CONNECTED_TO_PEER', async () => {
    const values = await rawDhtStream(a.client, { type: DHTRequest.Type.FIND_PEERS_CONNECTED_TO_PEER, peer: idB.peerId.toMultihash().bytes })
    const ids = values.map(v => peerIdFromMultihash(Digest.decode(v.peer.id)).toString())
    assert.ok(ids.includes(idA.peerId.toString()), `${ids} includes a (connected to b)`)
  })

  it('DHT GET_CLOSEST_PEERS', async () => {
    const closest = (await all(a.client.dht.getClosestPeers(fromString('closest to this')))).map(p => p.id.toString())
    assert.ok(closest.includes(idB.peerId.toString()) || closest.includes(idJs.peerId.toString()), `${closest}`)
  })

  it('DHT GET_PUBLIC_KEY', async () => {
    const key = await a.client.dht.getPublicKey(idJs.peerId)
    assert.ok(key instanceof Uint8Array && key.length > 0)
    const { publicKeyFromProtobuf } = await import('@libp2p/crypto/keys')
    const { peerIdFromPublicKey } = await import('@libp2p/peer-id')
    assert.ok(peerIdFromPublicKey(publicKeyFromProtobuf(key)).equals(idJs.peerId))
  })

  it('PUBSUB SUBSCRIBE, GET_TOPICS, LIST_PEERS and PUBLISH', async () => {
    const topic = 'daemon-client-test'
    const subscription = await b.client.pubsub.subscribe(topic)
    assert.deepEqual(await b.client.pubsub.getTopics(), [topic])
    await pWaitFor(async () => (await a.client.pubsub.getSubscribers(topic)).some(p => p.equals(idB.peerId)), { interval: 200, timeout: 30_000 })
    const received = subscription.messages()[Symbol.asyncIterator]().next()
    await a.client.pubsub.publish(topic, fromString('hello subscribers'))
    const message = (await received).value
    assert.equal(toString(message.data), 'hello subscribers')
    assert.deepEqual(message.topicIDs, [topic])
    assert.ok(peerIdFromMultihash(Digest.decode(message.from)).equals(idA.peerId))
    await subscription.cancel()
    await pWaitFor(async () => (await b.client.pubsub.getTopics()).length === 0, { interval: 100, timeout: 30_000 })
  })

  it('PEERSTORE GET_PROTOCOLS and GET_PEER_INFO', async () => {
    const protocols = await rawRequest(a.client, { type: Request.Type.PEERSTORE, peerStore: { type: PeerstoreRequest.Type.GET_PROTOCOLS, id: idJs.peerId.toMultihash().bytes, protos: [] } })
    assert.equal(protocols.type, Response.Type.OK, protocols.error?.msg)
    assert.ok(protocols.peerStore.protos.includes('/ipfs/id/1.0.0'), protocols.peerStore.protos.join(', '))
    const info = await rawRequest(a.client, { type: Request.Type.PEERSTORE, peerStore: { type: PeerstoreRequest.Type.GET_PEER_INFO, id: idJs.peerId.toMultihash().bytes, protos: [] } })
    assert.equal(info.type, Response.Type.OK, info.error?.msg)
    assert.ok(info.peerStore.peer.addrs.map(x => multiaddr(x)).some(ma => idJs.addrs.some(y => y.equals(ma))))
  })

  it('CONNMANAGER TAG_PEER, UNTAG_PEER and TRIM', async () => {
    for (const type of [ConnManagerRequest.Type.TAG_PEER, ConnManagerRequest.Type.UNTAG_PEER, ConnManagerRequest.Type.TRIM]) {
      const response = await rawRequest(a.client, { type: Request.Type.CONNMANAGER, connManager: { type, peer: idB.peerId.toMultihash().bytes, tag: 'daemon-client-test', weight: 5n } })
      assert.equal(response.type, Response.Type.OK, response.error?.msg)
    }
  })

  it('DISCONNECT', async () => {
    const response = await rawRequest(a.client, { type: Request.Type.DISCONNECT, disconnect: { peer: idB.peerId.toMultihash().bytes } })
    assert.equal(response.type, Response.Type.OK, response.error?.msg)
    await pWaitFor(async () => !(await a.client.listPeers()).some(p => p.equals(idB.peerId)), { interval: 100, timeout: 30_000 })
  })

  it('bad requests get an error and leave the daemon serving', async () => {
    // Request{type: 42}, by hand: the protobuf codec refuses to write an unknown enum value.
    const unknown = await rawBytes(a.controlSocket, Uint8Array.from([2, 0x08, 42]))
    assert.equal(unknown.type, Response.Type.ERROR)
    assert.match(unknown.error.msg, /unknown request type 42/)
    const malformed = await rawBytes(a.controlSocket, Uint8Array.from([3, 0x12, 0x7f, 0x00]))
    assert.equal(malformed.type, Response.Type.ERROR)
    assert.match(malformed.error.msg, /malformed request/)
    const noPeer = await rawRequest(a.client, { type: Request.Type.DHT, dht: { type: DHTRequest.Type.FIND_PEER } })
    assert.equal(noPeer.type, Response.Type.ERROR)
    const badTopic = await rawRequest(a.client, { type: Request.Type.PUBSUB, pubsub: { type: PSRequest.Type.PUBLISH, data: fromString('x') } })
    assert.equal(badTopic.type, Response.Type.ERROR)
    assert.ok((await a.client.identify()).peerId.equals(idA.peerId))
  })
})

/** A valid /pk record for a fresh js key: the suite's content-fetching test uses one too. */
async function publicKeyRecord () {
  const { generateKeyPair, publicKeyToProtobuf } = await import('@libp2p/crypto/keys')
  const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
  const key = await generateKeyPair('RSA', 2048)
  const peerId = peerIdFromPrivateKey(key)
  const multihash = peerId.toMultihash().bytes
  return { key: new Uint8Array([...fromString('/pk/'), ...multihash]), value: publicKeyToProtobuf(key.publicKey) }
}

// Captures one query and one response packet exactly as js-libp2p's @libp2p/mdns emits them (its query.js
// functions driving a real multicast-dns socket on the loopback interface, TTL 1), and writes them as hex.
// Run from the repository root:
//   interop/js/node_modules/.bin/node tests/Discovery/P2PStack.Discovery.Mdns.Tests/TestData/capture-js-mdns.mjs
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import dgram from 'node:dgram'

const js = path.resolve('interop/js/node_modules')
const load = (p) => import(pathToFileURL(path.join(js, p)).href)
const require = createRequire(path.join(js, 'x.js'))
const multicastDNS = require('multicast-dns')
const { queryLAN, gotQuery } = await load('@libp2p/mdns/dist/src/query.js')
const { multiaddr } = await load('@multiformats/multiaddr/dist/src/index.js')
const { generateKeyPair } = await load('@libp2p/crypto/dist/src/keys/index.js')
const { peerIdFromPrivateKey } = await load('@libp2p/peer-id/dist/src/index.js')

const group = '224.0.0.251'
const capture = dgram.createSocket({ type: 'udp4', reuseAddr: true })
await new Promise(resolve => capture.bind(0, resolve))
const port = capture.address().port
capture.addMembership(group, '127.0.0.1')

const packets = []
const done = new Promise(resolve => capture.on('message', (msg) => { packets.push(msg); if (packets.length === 2) resolve() }))

const mdns = multicastDNS({ port, ip: group, interface: '127.0.0.1', ttl: 1 })
await new Promise(resolve => mdns.once('ready', resolve))

const key = await generateKeyPair('Ed25519')
const id = peerIdFromPrivateKey(key).toString()
const peerName = 'k7l1q0h3v9a2c8m5x4z6w1r0t3y8u2i7o9p4s5d6f1g2h3j4k5l6z7x8c9v0b1n'
const addrs = [
  `/ip4/192.168.1.10/tcp/4001/p2p/${id}`,
  `/ip4/192.168.1.10/tcp/4002/ws/p2p/${id}`,
  `/ip6/fd00::2/tcp/4001/p2p/${id}`,
  `/ip4/8.8.8.8/tcp/4001/p2p/${id}` // public: js filters it out
].map(a => multiaddr(a))

const timer = queryLAN(mdns, '_p2p._udp.local', 3_600_000)
clearInterval(timer)
await new Promise(resolve => setTimeout(resolve, 200))
gotQuery({ questions: [{ name: '_p2p._udp.local', type: 'PTR' }] }, mdns, peerName, addrs, '_p2p._udp.local', true)
await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 5000))])

const out = path.resolve('tests/Discovery/P2PStack.Discovery.Mdns.Tests/TestData')
writeFileSync(path.join(out, 'js-mdns-query.hex'), packets[0].toString('hex') + '\n')
writeFileSync(path.join(out, 'js-mdns-response.hex'), packets[1].toString('hex') + '\n')
writeFileSync(path.join(out, 'js-mdns-response.json'), JSON.stringify({ peerId: id, peerName, addresses: addrs.slice(0, 3).map(a => a.toString()) }, null, 2) + '\n')
console.log('captured', packets.map(p => p.length))
mdns.destroy()
capture.close()

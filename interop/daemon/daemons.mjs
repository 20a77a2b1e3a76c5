// The DaemonFactory the libp2p interop suite (@libp2p/interop) spawns its nodes with: type `js` is a js-libp2p node
// behind @libp2p/daemon-server, in this process; type `go` ("the other implementation") is our node,
// `synaptic-mesh daemon`, a child process. What a node cannot do throws UnsupportedError, which run.mjs turns into a
// skipped test with the error's message as the reason.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { createClient } from '@libp2p/daemon-client'
import { createServer } from '@libp2p/daemon-server'
import { floodsub } from '@libp2p/floodsub'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { UnsupportedError } from '@libp2p/interop'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { mplex } from '@libp2p/mplex'
import { ping } from '@libp2p/ping'
import { plaintext } from '@libp2p/plaintext'
import { tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const here = path.dirname(fileURLToPath(import.meta.url))
const repository = path.resolve(here, '..', '..')

/** How long our daemon may take to print its start line (a cold .NET start on a loaded 2-core machine). */
const START_TIMEOUT_MS = Number(process.env.DAEMON_START_TIMEOUT_MS ?? 60_000)
/** How long it may take to stop after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 15_000

/**
 * The command that runs synaptic-mesh: SYNAPTIC_MESH_DLL (a built synaptic-mesh.dll, run with dotnet) when set, else
 * the repository's launcher, which builds the CLI on first use.
 */
function ourCommand () {
  const dll = process.env.SYNAPTIC_MESH_DLL
  if (dll != null && dll !== '') return { file: process.env.DOTNET ?? 'dotnet', args: [dll] }
  return { file: path.join(repository, 'synaptic-mesh'), args: [] }
}

let capabilities
/** What our daemon offers (`synaptic-mesh daemon --capabilities`), asked once. */
export function ourCapabilities () {
  capabilities ??= new Promise((resolve, reject) => {
    const { file, args } = ourCommand()
    const child = spawn(file, [...args, 'daemon', '--capabilities'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', d => { stdout += d })
    child.stderr.on('data', d => { stderr += d })
    child.on('error', reject)
    // 'close', not 'exit': the output is complete only once the pipes are.
    child.on('close', code => code === 0 ? resolve(JSON.parse(stdout)) : reject(new Error(`synaptic-mesh daemon --capabilities exited with ${code}: ${stderr}`)))
  })
  return capabilities
}

/**
 * The mocha suite now running a hook, set by run.mjs: relay suites need circuit relay on every node, and each
 * UnsupportedError is recorded for the suite (titles repeat, so by the suite object) as the reason of its skips.
 */
export const current = { suite: null }
export const unsupported = new Map()

const isRelaySuite = () => / over relay (js|go)$/.test(current.suite?.title ?? '')

const running = new Set()

/** Our daemon, as a child process driven over a TCP control socket on loopback. */
async function spawnOurs (options) {
  const caps = await ourCapabilities()
  const transport = options.transport ?? 'tcp'
  const encryption = options.encryption ?? 'noise'
  const muxer = options.muxer ?? 'yamux'
  if (!caps.transports.includes(transport)) throw new UnsupportedError(`synaptic-mesh has no ${transport} transport`)
  if (!caps.security.includes(encryption)) throw new UnsupportedError(`synaptic-mesh daemon does not offer ${encryption} security (offers: ${caps.security.join(', ')})`)
  if (!caps.muxers.includes(muxer)) throw new UnsupportedError(`synaptic-mesh daemon does not offer the ${muxer} muxer (offers: ${caps.muxers.join(', ')})`)
  if ((options.relay === true || isRelaySuite()) && !caps.relay) throw new UnsupportedError('synaptic-mesh daemon has no circuit relay v2 yet')
  if (options.pubsubRouter != null && !caps.pubSubRouters.includes(options.pubsubRouter)) throw new UnsupportedError(`synaptic-mesh has no ${options.pubsubRouter} router`)

  const args = ['daemon', '--json', '--listen', '/ip4/127.0.0.1/tcp/0', '--security', encryption, '--muxer', muxer]
  if (options.noListen === true) args.push('--no-listen')
  else args.push('--host-addrs', '/ip4/127.0.0.1/tcp/0')
  if (options.key != null) args.push('--id', options.key)
  if (options.dht === true) args.push('--dht')
  if (options.pubsub === true) args.push('--pubsub', '--pubsub-router', options.pubsubRouter ?? 'gossipsub')
  if (options.relay === true) args.push('--relay')
  if (process.env.DAEMON_LOG_LEVEL != null) args.push('--log-level', process.env.DAEMON_LOG_LEVEL)

  const { file, args: prefix } = ourCommand()
  const child = spawn(file, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const stderr = []
  child.stderr.on('data', d => {
    stderr.push(String(d))
    if (stderr.length > 200) stderr.shift()
    if (process.env.DAEMON_LOG_LEVEL != null) process.stderr.write(`[synaptic-mesh ${child.pid}] ${d}`)
  })
  const exited = new Promise(resolve => child.on('exit', (code, signal) => resolve({ code, signal })))
  running.add(child)
  exited.then(() => running.delete(child))

  const started = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`synaptic-mesh daemon did not start within ${START_TIMEOUT_MS} ms:\n${stderr.join('')}`)), START_TIMEOUT_MS)
    const lines = createInterface({ input: child.stdout })
    lines.once('line', line => {
      clearTimeout(timer)
      try { resolve(JSON.parse(line)) } catch (err) { reject(new Error(`unexpected start line from synaptic-mesh daemon: ${line}`)) }
    })
    child.once('error', err => { clearTimeout(timer); reject(err) })
    exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`synaptic-mesh daemon exited (${code ?? signal}) before starting: ${stderr.join('')}`)) })
  }).catch(err => { child.kill('SIGKILL'); throw err })

  return {
    client: createClient(multiaddr(started.controlSocket)),
    controlSocket: multiaddr(started.controlSocket),
    stop: async () => {
      if (child.exitCode != null || child.signalCode != null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
      await exited
      clearTimeout(timer)
    }
  }
}

/** A js-libp2p node with a daemon server in this process, configured as js-libp2p's own interop runner does. */
async function spawnJs (options) {
  const transport = options.transport ?? 'tcp'
  if (transport !== 'tcp') throw new UnsupportedError(`the js node of this runner has no ${transport} transport installed`)
  const privateKey = options.key == null ? undefined : privateKeyFromProtobuf(fs.readFileSync(options.key))
  const services = { identify: identify(), ping: ping() }
  if (options.pubsub === true) services.pubsub = options.pubsubRouter === 'floodsub' ? floodsub() : gossipsub()
  if (options.relay === true) services.relay = circuitRelayServer()
  if (options.dht === true) {
    services.dht = kadDHT({ protocol: '/ipfs/kad/1.0.0', peerInfoMapper: passthroughMapper, clientMode: false })
  }
  const encrypter = { tls: tls, plaintext: plaintext }[options.encryption] ?? noise
  const node = await createLibp2p({
    privateKey,
    addresses: { listen: options.noListen === true ? [] : ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp(), circuitRelayTransport()],
    connectionEncrypters: [encrypter()],
    streamMuxers: [options.muxer === 'mplex' ? mplex() : yamux()],
    services
  })
  const server = createServer(multiaddr('/ip4/127.0.0.1/tcp/0'), node)
  await server.start()
  return {
    client: createClient(server.getMultiaddr()),
    stop: async () => {
      await server.stop()
      await node.stop()
    }
  }
}

export const factory = {
  async spawn (options) {
    try {
      return options.type === 'go' ? await spawnOurs(options) : await spawnJs(options)
    } catch (err) {
      if (err?.name === 'UnsupportedError' && current.suite != null && !unsupported.has(current.suite)) unsupported.set(current.suite, err.message)
      throw err
    }
  }
}

/** Kills daemons a failed test left running (the suite's own after hooks stop the rest). */
export function killAll () {
  for (const child of running) child.kill('SIGKILL')
}

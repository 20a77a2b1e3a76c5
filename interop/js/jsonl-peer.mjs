// What every js-libp2p test peer here shares (peer.mjs, discovery-peer.mjs; log/emit also bench-node.mjs):
// the stderr log, the stdout JSON lines, the command-line options and the stdin command loop. See README.md for
// the protocol: one `ready` line, then one answer line per command line, `stop` or closing stdin ends the process.
import { basename } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { generateKeyPair, privateKeyFromProtobuf } from '@libp2p/crypto/keys'

const scriptName = basename(process.argv[1] ?? 'peer.mjs')

/** A line on stderr, prefixed with the script and process id; stdout carries protocol lines only. */
export const log = (...args) => { process.stderr.write(`[${basename(scriptName, '.mjs')} ${process.pid}] ${args.join(' ')}\n`) }

/** One JSON line on stdout. */
export const emit = (obj) => { process.stdout.write(JSON.stringify(obj) + '\n') }

export const toHex = (bytes) => Buffer.from(bytes).toString('hex')

/** The command's `timeoutMs`, or `defaultMs`, as an abort signal. */
export const commandSignal = (cmd, defaultMs) => AbortSignal.timeout(Number.isFinite(cmd.timeoutMs) ? cmd.timeoutMs : defaultMs)

/** The private key from hex of the libp2p PrivateKey protobuf, or a new Ed25519 key. */
export async function loadPrivateKey (hex) {
  return hex != null ? privateKeyFromProtobuf(Uint8Array.from(Buffer.from(hex, 'hex'))) : await generateKeyPair('Ed25519')
}

const camelCase = (name) => name.replace(/-([a-z])/g, (_, c) => c.toUpperCase())

/**
 * `--listen` (repeatable; env JSPEER_LISTEN, comma-separated; default /ip4/127.0.0.1/tcp/0), `--key` (env
 * JSPEER_KEY), the boolean `flags` (option name -> env variable that turns it on with "1") and the string options
 * `strings` (option name -> env variable), in camelCase.
 */
function parseOptions (flags, strings = {}) {
  const options = { listen: { type: 'string', multiple: true }, key: { type: 'string' } }
  for (const name of Object.keys(flags)) options[name] = { type: 'boolean', default: false }
  for (const name of Object.keys(strings)) options[name] = { type: 'string' }
  const { values } = parseArgs({ options, strict: true })
  const env = process.env
  const opts = {
    listen: values.listen ?? (env.JSPEER_LISTEN ? env.JSPEER_LISTEN.split(',').map(s => s.trim()).filter(Boolean) : ['/ip4/127.0.0.1/tcp/0']),
    key: values.key ?? env.JSPEER_KEY
  }
  for (const [name, envName] of Object.entries(flags)) opts[camelCase(name)] = values[name] || env[envName] === '1'
  for (const [name, envName] of Object.entries(strings)) opts[camelCase(name)] = values[name] ?? env[envName]
  return opts
}

/** Answers each stdin command line from `commands` (name -> async (cmd) => fields), concurrently. */
function serveCommands (node, commands) {
  let stopping = false
  let inFlight = 0
  let inputClosed = false
  const stop = async (code) => {
    // node.stop() can hang (seen with a relay reservation open: the process lingered after its controller was gone,
    // spinning), so it gets a bounded time; a second signal exits at once.
    if (stopping) return
    stopping = true
    const limit = setTimeout(() => { log('stop did not finish in 5 s: exiting'); process.exit(code) }, 5000)
    limit.unref()
    try { await node.stop() } catch (err) { log('stop failed:', err.message) }
    process.exit(code)
  }

  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
  rl.on('line', (line) => {
    if (line.trim() === '') return
    let cmd
    try {
      cmd = JSON.parse(line)
      if (cmd === null || typeof cmd !== 'object' || Array.isArray(cmd)) throw new Error('command must be a JSON object')
    } catch (err) {
      emit({ id: null, ok: false, error: `bad command line: ${err.message}` })
      return
    }
    const id = cmd.id ?? null
    if (cmd.cmd === 'stop') {
      emit({ id, ok: true })
      void stop(0)
      return
    }
    const fn = Object.hasOwn(commands, cmd.cmd) ? commands[cmd.cmd] : undefined
    if (fn == null) {
      emit({ id, ok: false, error: `unknown cmd ${JSON.stringify(cmd.cmd)}` })
      return
    }
    inFlight++
    fn(cmd).then(
      (result) => emit({ id, ok: true, ...result }),
      (err) => emit({ id, ok: false, error: err?.message ?? String(err), errorName: err?.name })
    ).finally(() => {
      if (--inFlight === 0 && inputClosed) void stop(0)
    })
  })
  // The controlling process went away: finish what was asked, then shut down instead of lingering.
  rl.on('close', () => {
    inputClosed = true
    if (inFlight === 0) void stop(0)
  })
  process.on('SIGTERM', () => { if (stopping) process.exit(0); void stop(0) })
  process.on('SIGINT', () => { if (stopping) process.exit(0); void stop(0) })
}

/**
 * Runs a test peer: checks for Node 22, parses the options (exit 2 when they are bad), awaits `start(opts)` for the
 * started node and its commands, prints the `ready` line and serves commands until `stop` or the end of stdin.
 */
export function runJsonLinesPeer ({ flags = {}, strings = {}, start }) {
  process.on('unhandledRejection', (err) => { log('unhandled rejection:', err?.stack ?? err) })
  process.on('uncaughtException', (err) => { log('uncaught exception:', err?.stack ?? err) })

  const main = async () => {
    const major = Number(process.versions.node.split('.')[0])
    if (major < 22) {
      log(`js-libp2p 3 needs Node >= 22, this is ${process.version}: run interop/js/node_modules/.bin/node ${scriptName}`)
      process.exit(2)
    }
    let opts
    try {
      opts = parseOptions(flags, strings)
    } catch (err) {
      log('bad arguments:', err.message)
      process.exit(2)
    }
    const { node, commands } = await start(opts)
    emit({
      event: 'ready',
      peerId: node.peerId.toString(),
      addresses: node.getMultiaddrs().map(a => a.toString()),
      protocols: node.getProtocols()
    })
    serveCommands(node, commands)
  }

  main().catch((err) => {
    log('fatal:', err?.stack ?? err)
    process.exit(1)
  })
}

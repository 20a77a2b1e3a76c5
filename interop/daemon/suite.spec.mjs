// The libp2p project's interop suite, unchanged, against our factory (js nodes in process, ours as `go`).
import { interopTests } from '@libp2p/interop'
import { factory } from './daemons.mjs'

await interopTests(factory)

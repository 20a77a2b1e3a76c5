// Stream helpers every js test peer here shares (peer.mjs, nat-peer.mjs), on js-libp2p 3's message-stream API:
// chunked writes with back-pressure, reading to the end, and the /echo/1.0.0 handler.

/** Frame size for writes: yamux's default max frame payload. */
export const CHUNK = 64 * 1024

/** Sends `data` in CHUNK-sized frames, waiting for 'drain' whenever the stream asks for it. */
export async function writeAll (stream, data, signal) {
  for (let off = 0; off < data.byteLength; off += CHUNK) {
    if (!stream.send(data.subarray(off, Math.min(off + CHUNK, data.byteLength)))) {
      await stream.onDrain({ signal })
    }
  }
}

/**
 * Whether every byte the remote will ever send has been delivered: its write side is closed and nothing is left in
 * the stream's read buffer (the test js-libp2p's own byte streams apply). Not `readableEnded`: that turns true when the
 * remote's FIN arrives while multistream-select still holds the bytes that came with the proposal (a lazy dialer
 * sends proposal, data and FIN at once); those bytes are handed back to the stream afterwards and are delivered to
 * the next 'message' listener, with no second 'end' event.
 */
export const allReceived = (stream) => stream.remoteWriteStatus !== 'writable' && stream.readBufferLength === 0

/** Calls onChunk(Uint8Array) for every received byte run until the remote closes its write side. */
export function readAll (stream, onChunk, signal) {
  return new Promise((resolve, reject) => {
    let settled = false
    const cleanup = () => {
      settled = true
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('end', onEnd)
      stream.removeEventListener('close', onClose)
      signal?.removeEventListener('abort', onAbort)
    }
    const onMessage = (evt) => {
      if (settled) return
      try {
        if (evt.data instanceof Uint8Array) onChunk(evt.data)
        else for (const buf of evt.data) onChunk(buf)
      } catch (err) {
        cleanup(); stream.abort(err); reject(err)
        return
      }
      if (allReceived(stream)) { cleanup(); resolve() }
    }
    const onEnd = () => { if (!settled) { cleanup(); resolve() } }
    const onClose = (evt) => {
      if (settled) return
      cleanup()
      if (evt.error != null) reject(evt.error)
      else resolve()
    }
    const onAbort = () => {
      if (settled) return
      cleanup()
      const err = signal.reason ?? new Error('aborted')
      stream.abort(err)
      reject(err)
    }
    // Adding the 'message' listener delivers any buffered bytes (in a microtask).
    stream.addEventListener('message', onMessage)
    stream.addEventListener('end', onEnd)
    stream.addEventListener('close', onClose)
    signal?.addEventListener('abort', onAbort)
    if (allReceived(stream)) { cleanup(); resolve() }
  })
}

/** /echo/1.0.0: every received byte goes back; the write side closes after the remote's does. */
export function handleEcho (stream) {
  let finished = false
  const finish = () => {
    if (finished || !allReceived(stream)) return
    finished = true
    stream.close().catch(err => stream.abort(err))
  }
  stream.addEventListener('message', (evt) => {
    try {
      if (!stream.send(evt.data) && stream.readStatus === 'readable') {
        stream.pause()
        stream.onDrain().then(() => { if (stream.readStatus === 'paused') stream.resume() }, () => {})
      }
    } catch (err) {
      stream.abort(err)
      return
    }
    finish()
  })
  stream.addEventListener('end', finish)
  finish() // the remote may have closed already with nothing buffered
}

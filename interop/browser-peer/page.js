// A js-libp2p peer in a web page that joins a synaptic-mesh swarm through a C# signaling host
// (docs/specs/swarm-signaling.md) and exchanges neural thoughts with the swarm's C# members (docs/specs/neural.md).
// Query string: host=<multiaddr of the host's /ws address with /p2p>, swarm=<discovery key>, interval=<announce ms>.
// The identity is kept in localStorage, so a reload rejoins as the same peer. State for the test driver is on
// window.swarm. Direct thoughts (to this peer, or from it to a C# node) go through the host (its /synaptic/neural/1.0.0
// forwarding).
import { createLibp2p } from "libp2p";
import { webSockets } from "@libp2p/websockets";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { identify } from "@libp2p/identify";
import { gossipsub } from "@libp2p/gossipsub";
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from "@libp2p/crypto/keys";
import { peerIdFromPublicKey, peerIdFromString } from "@libp2p/peer-id";
import { RecordEnvelope } from "@libp2p/peer-record";
import { multiaddr } from "@multiformats/multiaddr";

const params = new URLSearchParams(location.search);
const hostAddress = multiaddr(params.get("host"));
const swarmKey = params.get("swarm");
const intervalMs = Number(params.get("interval") || 2000);
const lifetimeMs = intervalMs * 3;
const PRESENCE_DOMAIN = "synaptic-swarm-presence";
const PRESENCE_CODEC = new Uint8Array([0x84, 0x80, 0xc0, 0x01]);
const NEURAL_DOMAIN = "synaptic-neural-message";
const NEURAL_CODEC = new Uint8Array([0x81, 0x80, 0xc0, 0x01]);
const NEURAL_PROTOCOL = "/synaptic/neural/1.0.0";
const state = (window.swarm = { ready: false, peerId: null, members: {}, events: [], received: [], direct: [], errors: [], announcements: 0 });
const log = (m) => { document.getElementById("log").textContent += m + "\n"; };

// --- protobuf, the few shapes this page needs -------------------------------------------------------------------
const utf8 = new TextEncoder();
function varint(n) {
  let v = BigInt(n); const out = [];
  do { let b = Number(v & 0x7fn); v >>= 7n; if (v) b |= 0x80; out.push(b); } while (v);
  return out;
}
function field(num, wire, payload) { return [...varint((num << 3) | wire), ...payload]; }
const fVarint = (num, v) => field(num, 0, varint(v));
const fBytes = (num, bytes) => field(num, 2, [...varint(bytes.length), ...bytes]);
const bytes = (arr) => new Uint8Array(arr);
function decode(buf) { // -> Map field number -> array of values (varint as BigInt, length-delimited as Uint8Array)
  const fields = new Map(); let i = 0;
  const readVarint = () => { let r = 0n, s = 0n, b; do { b = buf[i++]; if (b === undefined) throw new Error("truncated varint"); r |= BigInt(b & 0x7f) << s; s += 7n; } while (b & 0x80); return r; };
  while (i < buf.length) {
    const key = Number(readVarint()); const num = key >> 3, wire = key & 7; let value;
    if (wire === 0) value = readVarint();
    else if (wire === 2) { const len = Number(readVarint()); value = buf.subarray(i, i + len); if (value.length !== len) throw new Error("truncated"); i += len; }
    else if (wire === 1) { value = buf.subarray(i, i + 8); i += 8; }
    else if (wire === 5) { value = buf.subarray(i, i + 4); i += 4; }
    else throw new Error("wire type " + wire);
    if (!fields.has(num)) fields.set(num, []);
    fields.get(num).push(value);
  }
  return fields;
}
const one = (f, n) => (f.get(n) || [])[0];
const lp = (payload) => bytes([...varint(payload.length), ...payload]);

// --- length-prefixed messages on a libp2p 3 stream --------------------------------------------------------------
function reader(stream) {
  const it = stream[Symbol.asyncIterator](); let buf = new Uint8Array(0);
  const more = async () => {
    const { value, done } = await it.next(); if (done) throw new Error("stream ended");
    const chunk = value.subarray ? value.subarray() : value; const next = new Uint8Array(buf.length + chunk.length);
    next.set(buf); next.set(chunk, buf.length); buf = next;
  };
  return async () => {
    for (;;) {
      let len = 0n, shift = 0n, i = 0, complete = false;
      while (i < buf.length) { const b = buf[i++]; len |= BigInt(b & 0x7f) << shift; shift += 7n; if (!(b & 0x80)) { complete = true; break; } }
      if (complete && buf.length - i >= Number(len)) { const msg = buf.slice(i, i + Number(len)); buf = buf.slice(i + Number(len)); return msg; }
      await more();
    }
  };
}

// --- identity kept across reloads ------------------------------------------------------------------------------
async function loadKey() {
  const saved = localStorage.getItem("p2pstack-key");
  if (saved) return privateKeyFromProtobuf(Uint8Array.from(atob(saved), (c) => c.charCodeAt(0)));
  const key = await generateKeyPair("Ed25519");
  localStorage.setItem("p2pstack-key", btoa(String.fromCharCode(...privateKeyToProtobuf(key))));
  return key;
}

async function sha256(data) { return new Uint8Array(await crypto.subtle.digest("SHA-256", data)); }
const hex = (b) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
const record = (domain, codec, payload) => ({ domain, codec, marshal: () => payload, equals: () => false });

async function main() {
  const privateKey = await loadKey();
  const node = await createLibp2p({
    privateKey,
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // The host is on loopback over /ws: allow it (the browser default refuses private and insecure addresses).
    connectionGater: { denyDialMultiaddr: async () => false },
    services: { identify: identify(), pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false }) },
  });
  const self = node.peerId;
  state.peerId = self.toString();
  const swarmId = await sha256(utf8.encode("synaptic-swarm:" + swarmKey));
  const presenceTopic = "/synaptic/signal/1.0.0/swarm/" + hex(swarmId);
  const thoughtTopic = `/synaptic/swarm/${swarmKey}/thought`;
  const hostPeer = peerIdFromString(hostAddress.getComponents().findLast((c) => c.name === "p2p").value);
  const since = Date.now();
  let lastAnnounce = 0, announceBackTimer = null;

  const event = (kind, peer, extra = {}) => { state.events.push({ kind, peer, at: Date.now(), ...extra }); log(`${kind} ${peer} ${extra.reason || ""}`); };
  const applyPresence = async (data) => {
    const envelope = await RecordEnvelope.openAndCertify(data, PRESENCE_DOMAIN);
    const signer = peerIdFromPublicKey(envelope.publicKey);
    const f = decode(envelope.payload instanceof Uint8Array ? envelope.payload : envelope.payload.subarray());
    const peer = signer.toString();
    if (hex(one(f, 1) || []) !== hex(swarmId)) throw new Error("presence for another swarm");
    if (hex(one(f, 2) || []) !== hex(signer.toMultihash().bytes)) throw new Error("forged: presence of another peer");
    if (peer === state.peerId) return;
    const kind = Number(one(f, 3) || 0n), seq = one(f, 6) || 0n, until = Number(one(f, 5) || 0n);
    const known = state.members[peer];
    if (known && seq <= known.seq) return;
    if (kind === 1) {
      if (until <= Date.now()) return;
      state.members[peer] = { seq, until };
      if (!known) { event("available", peer); scheduleAnnounceBack(); }
    } else if (kind === 2 && known) {
      delete state.members[peer]; event("left", peer, { reason: "left" });
    }
  };
  const announce = async (kind = 1) => {
    lastAnnounce = Date.now();
    const fields = [...fBytes(1, swarmId), ...fBytes(2, self.toMultihash().bytes), ...fVarint(3, kind), ...fVarint(4, since),
      ...(kind === 1 ? fVarint(5, Date.now() + lifetimeMs) : []), ...fVarint(6, BigInt(Date.now()) * 1000000n + BigInt(state.announcements)),
      ...fBytes(8, hostPeer.toMultihash().bytes)];
    const envelope = await RecordEnvelope.seal(record(PRESENCE_DOMAIN, PRESENCE_CODEC, bytes(fields)), privateKey);
    await node.services.pubsub.publish(presenceTopic, envelope.marshal());
    state.announcements++;
  };
  const scheduleAnnounceBack = () => {
    if (announceBackTimer) return;
    const wait = Math.max(Math.random() * 250, lastAnnounce + 1000 - Date.now());
    announceBackTimer = setTimeout(() => { announceBackTimer = null; announce().catch((e) => state.errors.push(String(e))); }, wait);
  };
  // A signed neural Thought (docs/specs/neural.md) to `destination` (the encoded Destination oneof); its NeuralFrame.
  const thought = async (destination, text) => {
    const id = crypto.getRandomValues(new Uint8Array(16));
    const message = [...fBytes(1, id), ...fVarint(2, 1), ...fBytes(4, self.toMultihash().bytes), ...fBytes(5, destination),
      ...fVarint(6, 5), ...fVarint(7, 60), ...fVarint(8, 4), ...fVarint(9, Date.now()), ...fBytes(16, fBytes(1, utf8.encode(text)))];
    const envelope = await RecordEnvelope.seal(record(NEURAL_DOMAIN, NEURAL_CODEC, bytes(message)), privateKey);
    return { id: hex(id), frame: bytes(fBytes(1, envelope.marshal())) };
  };
  // Opens a neural frame; -> { from, to (binary peer id hex or null), text }.
  const openThought = async (frame) => {
    const envelope = await RecordEnvelope.openAndCertify(one(decode(frame), 1), NEURAL_DOMAIN);
    const f = decode(envelope.payload instanceof Uint8Array ? envelope.payload : envelope.payload.subarray());
    const from = peerIdFromPublicKey(envelope.publicKey);
    if (hex(one(f, 4) || []) !== hex(from.toMultihash().bytes)) throw new Error("source peer is not the signer");
    const destination = decode(one(f, 5) || new Uint8Array(0));
    const body = decode(one(f, 16) || new Uint8Array(0));
    return { from: from.toString(), to: destination.has(2) ? hex(one(destination, 2)) : null, text: new TextDecoder().decode(one(body, 1) || new Uint8Array(0)) };
  };
  state.send = async (text) => {
    const { id, frame } = await thought(fBytes(3, utf8.encode(swarmKey)), text);
    await node.services.pubsub.publish(thoughtTopic, frame);
    return id;
  };
  // A direct thought to a peer, written to the host on /synaptic/neural/1.0.0: the host forwards it over its
  // connection to that peer (this page dials nobody else).
  state.sendDirect = async (peer, text) => {
    const { id, frame } = await thought(fBytes(2, peerIdFromString(peer).toMultihash().bytes), text);
    const stream = await node.dialProtocol(hostPeer, NEURAL_PROTOCOL);
    stream.send(lp(frame));
    await stream.close();
    return id;
  };
  // Direct thoughts for this page, forwarded by its host: length-prefixed NeuralFrames until the stream ends.
  await node.handle(NEURAL_PROTOCOL, async (stream) => {
    const read = reader(stream);
    stream.close().catch(() => {}); // the receiver never writes (half-close at once)
    for (;;) {
      let frame;
      try { frame = await read(); } catch { return; }
      try {
        const message = await openThought(frame);
        if (message.to !== hex(self.toMultihash().bytes)) throw new Error("a direct message for another peer");
        state.direct.push(message);
        log(`direct thought from ${message.from}: ${message.text}`);
      } catch (err) { state.errors.push("direct: " + err); }
    }
  });

  node.services.pubsub.addEventListener("message", (e) => {
    const { topic, data } = e.detail;
    if (topic === presenceTopic) applyPresence(data).catch((err) => state.errors.push("presence: " + err));
    else if (topic === thoughtTopic) {
      openThought(data).then(({ from, text }) => {
        state.received.push({ from, text });
        log(`thought from ${from}: ${text}`);
      }).catch((err) => state.errors.push("thought: " + err));
    }
  });

  await node.dial(hostAddress);
  // Ask the host to relay the swarm; it answers with the members it knows (announce-back by the host).
  const stream = await node.dialProtocol(hostPeer, "/synaptic/signal/1.0.0");
  const read = reader(stream);
  stream.send(lp(bytes(fBytes(1, fBytes(1, swarmId)))));
  const response = decode(await read());
  if (Number(one(response, 1) || 0n) !== 0) throw new Error("host refused: " + new TextDecoder().decode(one(response, 2)));
  for (const member of response.get(3) || []) await applyPresence(member).catch((err) => state.errors.push("member: " + err));
  node.services.pubsub.subscribe(presenceTopic);
  node.services.pubsub.subscribe(thoughtTopic);
  // Announce once the host relays our topics (its subscription reached us), then every interval.
  const start = Date.now();
  while (!node.services.pubsub.getSubscribers(presenceTopic).some((p) => p.equals(hostPeer)) && Date.now() - start < 30000)
    await new Promise((r) => setTimeout(r, 50));
  await announce();
  setInterval(() => announce().catch((e) => state.errors.push(String(e))), intervalMs);
  setInterval(() => {
    const now = Date.now();
    for (const [peer, m] of Object.entries(state.members))
      if (m.until <= now) { delete state.members[peer]; event("left", peer, { reason: "expired" }); }
  }, 100);
  state.ready = true;
  log(`joined ${swarmKey} as ${self}`);
}

main().catch((e) => { state.errors.push(String(e && e.stack || e)); log("error: " + e); });

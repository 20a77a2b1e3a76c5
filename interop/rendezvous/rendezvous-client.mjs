// The js rendezvous client (@canvas-js/libp2p-rendezvous 0.5.2, on js-libp2p 2, which that package requires) against a
// rendezvous point given on the command line. It speaks the spec's messages under the id /canvas/rendezvous/1.0.0.
// Usage: node rendezvous-client.mjs <server multiaddr with /p2p> <namespace>
// Prints one JSON object per line:
//   {"event":"ready","peerId":...,"addresses":[...]}
//   {"event":"registered","ttl":N}                        after REGISTER (ttl 600 s)
//   {"event":"refused","status":"E_INVALID_TTL"}          after REGISTER with a TTL of 73 h
//   {"event":"discovered","peers":[{"peerId","addresses"}]}  DISCOVER of the namespace
// then waits for one line on stdin, sends UNREGISTER, prints {"event":"unregistered"} and exits.
import { createLibp2p } from "libp2p";
import { tcp } from "@libp2p/tcp";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { multiaddr } from "@multiformats/multiaddr";
import { rendezvousClient } from "@canvas-js/libp2p-rendezvous/client";
import { createInterface } from "node:readline";

const [serverText, ns] = process.argv.slice(2);
const say = (m) => process.stdout.write(JSON.stringify(m) + "\n");
const server = multiaddr(serverText);
const node = await createLibp2p({
  addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { rendezvous: rendezvousClient({ autoDiscover: false }) },
});
try {
  say({ event: "ready", peerId: node.peerId.toString(), addresses: node.getMultiaddrs().map(String) });
  await node.dial(server);
  const serverId = server.getPeerId();
  const { peerIdFromString } = await import("@libp2p/peer-id");
  await node.services.rendezvous.connect(peerIdFromString(serverId), async (point) => {
    const { ttl } = await point.register(ns, { ttl: 600 });
    say({ event: "registered", ttl });
    try {
      await point.register(ns, { ttl: 73 * 3600 });
      say({ event: "refused", status: "none" });
    } catch (e) {
      say({ event: "refused", status: String(e.message) });
    }
    const peers = await point.discover(ns, { limit: 10 });
    say({ event: "discovered", peers: peers.map((p) => ({ peerId: p.id.toString(), addresses: p.addresses.map((a) => a.multiaddr.toString()) })) });
    const input = createInterface({ input: process.stdin });
    await input[Symbol.asyncIterator]().next();
    await point.unregister(ns);
    await new Promise((r) => setTimeout(r, 200)); // UNREGISTER has no response: let it leave before the stream closes
    say({ event: "unregistered" });
  });
} catch (e) {
  say({ event: "error", message: String(e && e.stack || e) });
  process.exitCode = 1;
} finally {
  await node.stop();
  process.exit(); // js-libp2p 2 leaves timers behind that would keep the process alive
}

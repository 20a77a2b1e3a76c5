// Live topology of a synaptic-mesh registry: reads /topology, follows /events (server-sent events read with
// fetch, so a bearer token can be sent), and redraws on every event without reloading the page.
// A token for registries that want one is given in the fragment: /ui/#token=SECRET (never sent in a URL).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 900, HEIGHT = 520;
const token = (() => {
  const match = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
  if (match) { sessionStorage.setItem("registryToken", decodeURIComponent(match[1])); history.replaceState(null, "", location.pathname); }
  return sessionStorage.getItem("registryToken");
})();
const headers = token ? { Authorization: "Bearer " + token } : {};
let reloadTimer = null, loads = 0;

function el(name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function short(id) { return id.length <= 14 ? id : id.slice(0, 4) + "…" + id.slice(-6); }

function layout(nodes) {
  const positions = new Map(), count = nodes.length;
  const cx = WIDTH / 2, cy = HEIGHT / 2, radius = Math.min(WIDTH, HEIGHT) / 2 - 60;
  nodes.forEach((node, i) => {
    const angle = count === 1 ? 0 : (2 * Math.PI * i) / count - Math.PI / 2;
    positions.set(node.id, count === 1 ? { x: cx, y: cy } : { x: cx + radius * Math.cos(angle), y: cy + radius * Math.sin(angle) });
  });
  return positions;
}

function formatRtt(rtt) { return rtt ? rtt.avg.toFixed(rtt.avg < 10 ? 2 : 1) + " ms" : "rtt ?"; }

function render(topology) {
  const nodes = [...topology.nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const positions = layout(nodes);
  const links = document.getElementById("links"), labels = document.getElementById("link-labels");
  const circles = document.getElementById("nodes");
  links.replaceChildren(); labels.replaceChildren(); circles.replaceChildren();
  for (const link of topology.links) {
    const a = positions.get(link.source), b = positions.get(link.target);
    if (!a || !b) continue;
    const line = el("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, "data-link": link.source + "|" + link.target });
    if (link.stale) line.classList.add("stale");
    const title = el("title", {}, `${link.source} ↔ ${link.target}: ${link.rttMs ? `current ${link.rttMs.current} ms, min ${link.rttMs.min}, max ${link.rttMs.max}, avg ${link.rttMs.avg}` : "round-trip time not measured"}`);
    line.appendChild(title);
    links.appendChild(line);
    labels.appendChild(el("text", { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 4, "data-link-label": link.source + "|" + link.target }, formatRtt(link.rttMs)));
  }
  for (const node of nodes) {
    const p = positions.get(node.id);
    const group = el("g", { "data-node-id": node.id, "data-status": node.status });
    const circle = el("circle", { cx: p.x, cy: p.y, r: 18, class: node.status });
    circle.appendChild(el("title", {}, `${node.id} (${node.status})`));
    group.appendChild(circle);
    group.appendChild(el("text", { x: p.x, y: p.y + 34 }, node.name || short(node.id)));
    circles.appendChild(group);
  }
  const body = document.querySelector("#node-table tbody");
  body.replaceChildren(...nodes.map(node => {
    const row = document.createElement("tr");
    row.dataset.nodeId = node.id;
    const cells = [
      ["id", node.id], ["name", node.name || ""], ["status " + node.status, node.status], ["peers", String(node.connectedPeers)],
      ["seen", new Date(node.lastSeen).toLocaleTimeString()], ["addresses", (node.addresses || []).join("\n")],
    ];
    for (const [cls, text] of cells) { const td = document.createElement("td"); td.className = cls; td.textContent = text; row.appendChild(td); }
    return row;
  }));
  const counts = nodes.reduce((c, n) => (c[n.status] = (c[n.status] || 0) + 1, c), {});
  document.getElementById("summary").textContent =
    `${nodes.length} nodes (${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(", ") || "none"}), ${topology.links.length} links`;
}

async function load() {
  try {
    const response = await fetch("/topology", { headers, cache: "no-store" });
    if (!response.ok) throw new Error(`GET /topology: ${response.status} ${(await response.json().catch(() => ({}))).error || ""}`);
    render(await response.json());
    loads++;
    document.body.dataset.loads = String(loads);
    document.getElementById("error").hidden = true;
  } catch (error) {
    const box = document.getElementById("error");
    box.textContent = String(error.message || error);
    box.hidden = false;
  }
}

function scheduleReload() {
  if (reloadTimer !== null) return;
  reloadTimer = setTimeout(() => { reloadTimer = null; load(); }, 200);
}

function setLive(state) {
  const badge = document.getElementById("live");
  badge.dataset.state = state;
  badge.textContent = state;
}

async function follow() {
  for (;;) {
    try {
      const response = await fetch("/events", { headers, cache: "no-store" });
      if (!response.ok || !response.body) throw new Error(`GET /events: ${response.status}`);
      setLive("live");
      scheduleReload(); // anything missed while disconnected
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.split("\n").some(line => line.startsWith("event:"))) scheduleReload();
        }
      }
    } catch (error) {
      console.warn("event stream:", error);
    }
    setLive("reconnecting");
    await new Promise(resolve => setTimeout(resolve, 2000));
  }
}

load();
follow();

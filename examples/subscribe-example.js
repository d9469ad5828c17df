#!/usr/bin/env node
// Subscribe to one product's live analytics over Socket.IO (npm `socket.io-client`).
//
//   node examples/subscribe-example.js [URL] [PRODUCT] [COUNT]
//   DS_URL=http://127.0.0.1:8000 DS_PRODUCT=NIFTY DS_COUNT=5 \
//     DS_TOKEN=<JWT, when the edge requires auth> node examples/subscribe-example.js
//
// Prints the snapshot the edge sends on subscribe (underlying, then the latest summary of
// every expiry), then COUNT live `chain_summary` events, and exits 0. Exits 1 on a refused
// connection, an `error` event for the subscription, or no live data within the time-out.
//
// If the connection drops (the edge restarted, the network failed), socket.io-client
// reconnects by itself; rooms belong to a connection, so the `connect` handler subscribes
// again each time, and the edge answers with the current snapshot.
"use strict";

const { io } = require("socket.io-client");

const [argUrl, argProduct, argCount] = process.argv.slice(2);
const url = argUrl || process.env.DS_URL || "http://127.0.0.1:8000";
const product = (argProduct || process.env.DS_PRODUCT || "NIFTY").toUpperCase();
const count = Number(argCount || process.env.DS_COUNT || 5);
const token = process.env.DS_TOKEN;
const timeoutMs = Number(process.env.DS_TIMEOUT_S || 60) * 1000;

const pct = (x) => (typeof x === "number" ? (100 * x).toFixed(2) + "%" : "-");
const fixed = (x, d = 2) => (typeof x === "number" ? x.toFixed(d) : "-");

function line(kind, s) {
  return (
    `${kind} ${s.product} ${s.expiry} seq=${s.seq} spot=${fixed(s.spot)} fwd=${fixed(s.forward)}` +
    ` atm_iv=${pct(s.atm_iv)} pcr_oi=${fixed(s.pcr_oi, 3)} max_pain=${fixed(s.max_pain, 0)}` +
    ` straddle=${fixed(s.straddle)}`
  );
}

function finish(code, message) {
  if (message) (code === 0 ? console.log : console.error)(message);
  clearTimeout(deadline);
  socket.close();
  process.exit(code);
}

const deadline = setTimeout(() => finish(1, `timed out after ${timeoutMs / 1000} s`), timeoutMs);
const socket = io(url, {
  transports: ["websocket"],
  auth: token ? { token } : {},
  reconnectionDelay: 500,
  reconnectionDelayMax: 5_000,
});
const lastSeq = new Map(); // expiry -> seq of the last summary printed
let fresh = new Set(); // expiries whose snapshot this connection has not printed yet
let live = 0;
let underlyingShown = false;

socket.on("connect_error", (err) => {
  // Refused by the edge (e.g. no valid token): no retry. Otherwise the client retries.
  if (!socket.active) finish(1, `connection refused: ${err.message} ${JSON.stringify(err.data ?? {})}`);
  else console.error(`cannot connect (${err.message}); retrying`);
});
socket.on("disconnect", (reason) => console.error(`disconnected (${reason}); reconnecting`));
socket.on("error", (body) => finish(1, `error event: ${JSON.stringify(body)}`));

socket.on("underlying_update", (u) => {
  if (u.product !== product || underlyingShown) return;
  underlyingShown = true;
  console.log(`snapshot underlying ${u.product} price=${fixed(u.price)} change=${fixed(u.change)} seq=${u.seq}`);
});

socket.on("chain_summary", (s) => {
  if (s.product !== product) return;
  const previous = lastSeq.get(s.expiry);
  if (previous === undefined || fresh.has(s.expiry)) {
    fresh.delete(s.expiry);
    lastSeq.set(s.expiry, Math.max(s.seq, previous ?? s.seq));
    console.log(line("snapshot", s));
    return;
  }
  if (s.seq <= previous) return;
  lastSeq.set(s.expiry, s.seq);
  live += 1;
  console.log(line(`live ${live}/${count}`, s));
  if (live >= count) finish(0, `done: ${live} live chain_summary events`);
});

socket.on("connect", async () => {
  console.log(`connected to ${url} (sid ${socket.id})`);
  try {
    const products = await socket.timeout(10_000).emitWithAck("get_products", {});
    const entry = products.products.find((p) => p.product === product);
    if (!entry) finish(1, `unknown product ${product}; live: ${products.products.map((p) => p.product).join(", ")}`);
    console.log(`${product} expiries: ${entry.expiries.join(", ")}`);
    fresh = new Set(entry.expiries);
    const ack = await socket.timeout(10_000).emitWithAck("subscribe", { product });
    if (!ack.ok) finish(1, `subscribe refused: ${JSON.stringify(ack)}`);
    console.log(`subscribed: ${ack.rooms.join(", ")}`);
  } catch (err) {
    if (socket.connected) finish(1, `no acknowledgement from the edge: ${err.message}`);
    // else the connection dropped meanwhile: the next "connect" subscribes again
  }
});

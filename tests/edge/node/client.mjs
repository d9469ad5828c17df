// A Node socket.io-client session against the edge, driven by tests/edge/test_node_client.py.
// usage: node client.mjs URL ROOM [TOKEN]  — prints one JSON line with what it saw, exit 0.
import { io } from "socket.io-client";

const [url, room, token] = process.argv.slice(2);
const deadline = setTimeout(() => {
  console.error("timed out waiting for events");
  process.exit(1);
}, 15000);

const socket = io(url, { transports: ["websocket"], auth: token ? { token } : {}, reconnection: false });
const seen = { errors: [], summary: null, chain: null, ack: null };

function finish() {
  if (seen.summary && seen.chain && seen.ack && seen.errors.length > 0) {
    clearTimeout(deadline);
    console.log(JSON.stringify(seen));
    socket.close();
    process.exit(0);
  }
}

socket.on("connect_error", (err) => {
  console.log(JSON.stringify({ connect_error: err.message, data: err.data ?? null }));
  process.exit(0);
});
socket.on("error", (body) => { seen.errors.push(body); finish(); });
socket.on("chain_summary", (s) => { seen.summary = { product: s.product, expiry: s.expiry, seq: s.seq }; finish(); });
socket.on("chain_update", (c) => { seen.chain = { expiry: c.expiry, strikes: c.strikes.length }; finish(); });
socket.on("connect", async () => {
  socket.emit("subscribe", { room: "not a room" });
  seen.ack = await socket.timeout(10000).emitWithAck("subscribe", { room });
  finish();
});

// The dashboard's connection logic (edge/web/live.js) in Node, driven by
// tests/faults/test_edge_restart.py: `window.io` is socket.io-client bound to URL, the wanted
// room is set once, and every state change and chain_summary is printed as a JSON line.
// usage: node live_client.mjs URL ROOM   (runs until killed)
import { io } from "socket.io-client";
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";

const [url, room] = process.argv.slice(2);
globalThis.window = { io: (options) => io(url, options) };
const { Live } = await import(pathToFileURL(resolve(import.meta.dirname, "../../../edge/web/live.js")));

const print = (obj) => console.log(JSON.stringify(obj));
const live = new Live({
  onState: (state, detail) => print({ state, detail: detail ?? null }),
  onAuthRequired: (detail) => print({ auth_required: detail }),
  onEvent: (name, data) => {
    if (name === "chain_summary") print({ event: name, expiry: data.expiry, seq: data.seq });
  },
  onError: (body) => print({ error: body }),
  onProducts: (list) => print({ products: list.length }),
});
live.start(() => null);
live.setRooms([room]);

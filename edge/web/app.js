// The dashboard's wiring: sign-in, product/expiry pickers, and routing of live events to
// the tiles, the chain table and the charts. Data arrives over Socket.IO (rooms
// `product:<P>` and `chain:<P>:<EXPIRY>`); REST gives the product list, PCR history, and a
// one-off snapshot when the Socket.IO client library is missing.

import * as api from "./api.js";
import { ChainTable } from "./chain.js";
import { OiChart, PcrChart, SmileChart, TermChart } from "./charts.js";
import { expiryLabel, int, num } from "./format.js";
import { Live } from "./live.js";
import { Tiles } from "./tiles.js";

const $ = (id) => document.getElementById(id);
const START_RETRY_MS = 3_000;
const NOTICE_MS = 8_000;
const PCR_HISTORY_POINTS = 500;

const state = { products: [], product: null, expiry: null, surface: null, generation: 0 };
const tiles = new Tiles();
const table = new ChainTable($("chain"), $("chain-scroll"), $("chain-empty"));
const charts = { smile: new SmileChart($("smile")), oi: new OiChart($("oi")), term: new TermChart($("term")), pcr: new PcrChart($("pcr")) };
const live = new Live({ onState: showState, onAuthRequired: needLogin, onEvent, onError, onProducts: setProducts });
let startTimer = null;

// ------------------------------------------------------------------ notices and state

function notice(text, { id = null, sticky = false } = {}) {
  const box = $("notice");
  let el = id ? document.getElementById(id) : null;
  if (!el) {
    el = document.createElement("div");
    if (id) el.id = id;
    box.append(el);
  }
  el.textContent = text;
  box.hidden = false;
  if (!sticky) {
    setTimeout(() => {
      el.remove();
      box.hidden = box.childElementCount === 0;
    }, NOTICE_MS);
  }
}

function dropNotice(id) {
  document.getElementById(id)?.remove();
  $("notice").hidden = $("notice").childElementCount === 0;
}

const STATE_TEXT = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", offline: "offline", auth: "sign-in required", rest: "snapshot only" };

function showState(name, detail) {
  $("conn").dataset.state = name;
  $("conn-text").textContent = STATE_TEXT[name] || name;
  $("conn").title = detail ? `Socket.IO: ${detail}` : "Socket.IO connection";
}

function checkLibraries() {
  const missing = [];
  if (typeof window.io !== "function") missing.push("socket.io-client");
  if (typeof window.uPlot !== "function") missing.push("uPlot");
  if (missing.length === 0) return;
  const effect = missing.includes("socket.io-client") ? "Live updates are off (a REST snapshot is shown)" : "Charts are off";
  notice(
    `The browser client libraries are not installed (${missing.join(", ")} missing): run \`npm install\` in the deltastream repository root, then reload. ${effect}.`,
    { id: "notice-libs", sticky: true },
  );
}

// ------------------------------------------------------------------ sign-in

function showUser() {
  const name = api.username();
  $("user").hidden = !api.token();
  $("user-name").textContent = name || "signed in";
}

function needLogin(detail) {
  const hadToken = Boolean(api.token());
  live.stop();
  api.clearSession();
  showUser();
  showState("auth", detail);
  $("login").hidden = false;
  // No token yet is the normal first visit; a refused token means it expired or was revoked.
  $("login-error").textContent = hadToken ? `Please sign in again (${detail}).` : "";
  $("login-user").focus();
}

async function submitLogin(action) {
  const user = $("login-user").value.trim();
  const password = $("login-pass").value;
  const form = $("login-form");
  if (!form.reportValidity()) return;
  $("login-error").textContent = "";
  form.classList.add("busy");
  try {
    await (action === "register" ? api.register(user, password) : api.login(user, password));
    $("login-pass").value = "";
    $("login").hidden = true;
    await start();
  } catch (e) {
    $("login-error").textContent = e.message;
  } finally {
    form.classList.remove("busy");
  }
}

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  submitLogin("login");
});
$("login-register").addEventListener("click", () => submitLogin("register"));
$("logout").addEventListener("click", () => {
  api.clearSession();
  live.stop();
  start();
});

// ------------------------------------------------------------------ products and selection

function productEntry(name) {
  return state.products.find((p) => p.product === name);
}

function fromHash() {
  const [product, expiry] = decodeURIComponent(location.hash.slice(1)).split("/");
  return { product: product?.toUpperCase() || null, expiry: expiry || null };
}

function setProducts(list) {
  state.products = [...list].sort((a, b) => a.product.localeCompare(b.product));
  const sel = $("product");
  sel.replaceChildren(
    ...state.products.map((p) => new Option(p.expiries.length ? p.product : `${p.product} (no live chains)`, p.product)),
  );
  sel.disabled = state.products.length === 0;
  const wanted = fromHash();
  const names = state.products.map((p) => p.product);
  const product = [state.product, wanted.product].find((p) => p && names.includes(p)) || state.products.find((p) => p.expiries.length)?.product || names[0] || null;
  if (!product) return;
  sel.value = product;
  const expiries = productEntry(product).expiries;
  const expiry = [state.product === product ? state.expiry : null, wanted.expiry].find((e) => e && expiries.includes(e)) || defaultExpiry(product);
  fillExpiries(product, expiry);
  if (product !== state.product || expiry !== state.expiry) select(product, expiry);
}

// The nearest expiry not yet expired at the product's feed clock (the actors' choice).
function defaultExpiry(product) {
  const entry = productEntry(product);
  return entry?.nearest_expiry || entry?.expiries[0] || null;
}

function fillExpiries(product, expiry) {
  const sel = $("expiry");
  const entry = productEntry(product);
  const expiries = entry?.expiries || [];
  // Expired at the product's feed clock, kept until the chain retires.
  const live = new Set(entry?.live_expiries || expiries);
  const label = (e) => `${e} · ${expiryLabel(e).slice(10)}${live.has(e) ? "" : " · settled"}`;
  sel.replaceChildren(...expiries.map((e) => new Option(label(e), e)));
  sel.disabled = expiries.length === 0;
  if (expiry) sel.value = expiry;
}

function select(product, expiry) {
  const productChanged = product !== state.product;
  state.product = product;
  state.expiry = expiry;
  state.generation += 1;
  history.replaceState(null, "", `#${product}${expiry ? "/" + expiry : ""}`);
  const tz = productEntry(product)?.tz || "UTC";
  tiles.tz = tz;
  for (const c of Object.values(charts)) c.setTimeZone(tz);
  table.clear(expiry ? "Waiting for the chain…" : `${product} has no live chains.`);
  $("chain-title").textContent = expiry ? `${product} · ${expiryLabel(expiry)}` : product;
  charts.pcr.clear();
  if (productChanged) {
    state.surface = null;
    tiles.clear();
    charts.smile.update(null);
    charts.term.update(null, null);
  } else {
    drawSurface();
  }
  charts.oi.show([[], [], [], [], []], 0);
  live.setRooms(expiry ? [`product:${product}`, `chain:${product}:${expiry}`] : [`product:${product}`]);
  if (expiry) {
    loadPcrHistory(product, expiry, state.generation);
    if (!live.available) loadSnapshot(product, expiry, state.generation);
  }
}

$("product").addEventListener("change", (ev) => {
  const product = ev.target.value;
  const expiry = defaultExpiry(product);
  fillExpiries(product, expiry);
  select(product, expiry);
});
$("expiry").addEventListener("change", (ev) => select(state.product, ev.target.value));
window.addEventListener("hashchange", () => {
  const { product, expiry } = fromHash();
  const entry = productEntry(product);
  if (!entry || (product === state.product && expiry === state.expiry)) return;
  const e = entry.expiries.includes(expiry) ? expiry : defaultExpiry(product);
  $("product").value = product;
  fillExpiries(product, e);
  select(product, e);
});

// ------------------------------------------------------------------ data

function drawSurface() {
  const slice = state.surface?.expiries?.find((e) => e.expiry === state.expiry) || null;
  charts.smile.update(slice);
  charts.term.update(state.surface, state.expiry);
}

function onEvent(name, d) {
  if (!d || d.product !== state.product) return;
  if (name === "underlying_update") {
    tiles.underlying(d);
  } else if (name === "surface_update") {
    state.surface = d;
    drawSurface();
  } else if (d.expiry !== state.expiry) {
    return; // a late event of the previous expiry
  } else if (name === "chain_summary") {
    tiles.summary(d);
    charts.pcr.add([d]);
  } else if (name === "chain_update") {
    table.update(d);
    charts.oi.update(d);
    tiles.received(d.ts);
    $("chain-title").textContent = `${d.product} · ${expiryLabel(d.expiry)} · ${int(d.strikes.length)} strikes · F ${num(d.forward)} (${d.forward_source})`;
  }
}

function onError(body) {
  const where = body?.event ? `${body.event}: ` : "";
  notice(`${where}${body?.error || "error"} — ${body?.detail || ""}`);
}

async function loadPcrHistory(product, expiry, generation) {
  try {
    const body = await api.pcrHistory(product, expiry, PCR_HISTORY_POINTS);
    if (generation === state.generation) charts.pcr.add(body.history || []);
  } catch (e) {
    if (e instanceof api.AuthRequired) needLogin(e.message);
    else if (generation === state.generation) notice(`PCR history: ${e.message}`);
  }
}

/** Without the Socket.IO library: one REST snapshot of the selection. */
async function loadSnapshot(product, expiry, generation) {
  const calls = [api.summary(product, expiry), api.chain(product, expiry), api.surface(product)];
  const [summary, chain, surface] = await Promise.allSettled(calls);
  if (generation !== state.generation) return;
  if (surface.status === "fulfilled") onEvent("surface_update", surface.value);
  if (summary.status === "fulfilled") onEvent("chain_summary", summary.value);
  if (chain.status === "fulfilled") onEvent("chain_update", chain.value);
}

// ------------------------------------------------------------------ start-up

async function start() {
  clearTimeout(startTimer);
  showUser();
  try {
    const body = await api.products();
    $("login").hidden = true;
    setProducts(body.products || []);
    if (!body.products?.length) {
      // Nothing is fed yet: ask again until the first chain is live.
      table.clear("No live products yet: start a feed (deltastream up, or deltastream feed synthetic).");
      startTimer = setTimeout(start, START_RETRY_MS);
      return;
    }
    if (live.available) live.start(api.token);
    else showState("rest", "socket.io-client is not installed");
  } catch (e) {
    if (e instanceof api.AuthRequired) {
      needLogin(e.message);
      return;
    }
    showState("offline", e.message);
    notice(`Cannot load products (${e.message}); retrying…`, { id: "notice-start" });
    startTimer = setTimeout(start, START_RETRY_MS);
    return;
  }
  dropNotice("notice-start");
}

// For the console (and the browser tests): the connection and the current selection.
window.deltastream = { live, state };

checkLibraries();
start();

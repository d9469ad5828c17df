// The live option chain: calls | strike | puts. Rows are built once per strike list and
// then updated in place; a changed cell flashes green (up) or red (down).

import { BUILDUP_LABELS, int, isNum, lakhs, num, signed } from "./format.js";

const COLUMNS = [
  { key: "oi", label: "OI", fmt: lakhs, buildup: true },
  { key: "oi_change", label: "OI chg", fmt: (x) => signed(x), buildup: true, signed: true },
  { key: "volume", label: "Volume", fmt: int },
  { key: "iv", label: "IV", fmt: (x) => (isNum(x) ? (x * 100).toFixed(1) : "–") },
  { key: "delta", label: "Delta", fmt: (x) => num(x, 2) },
  { key: "gamma", label: "Gamma", fmt: (x) => num(x, 5) },
  { key: "vega", label: "Vega", fmt: (x) => num(x, 1) },
  { key: "theta", label: "Theta", fmt: (x) => num(x, 2) },
  { key: "ltp", label: "LTP", fmt: (x) => num(x, 2), strong: true },
  { key: "bid", label: "Bid", fmt: (x) => num(x, 2) },
  { key: "ask", label: "Ask", fmt: (x) => num(x, 2) },
];
const CALL_COLS = COLUMNS; // outer -> inner, strike in the middle
const PUT_COLS = [...COLUMNS].reverse();
const BUILDUP_CLASSES = Object.keys(BUILDUP_LABELS).map((k) => `bu-${k}`);

export class ChainTable {
  constructor(table, scroller, empty) {
    this.table = table;
    this.scroller = scroller;
    this.empty = empty;
    this.key = null; // product/expiry/strikes the rows were built for
    this.chainId = null;
    this.scrollPending = false;
    this.rows = []; // per strike: { tr, strikeCell, calls: [{td, value}], puts: [...] }
    this.flip = false;
    this.#header();
  }

  #header() {
    const head = this.table.tHead;
    head.innerHTML = "";
    const top = head.insertRow();
    top.className = "sides";
    const calls = document.createElement("th");
    calls.colSpan = CALL_COLS.length;
    calls.textContent = "CALLS";
    calls.className = "side-calls";
    const mid = document.createElement("th");
    mid.className = "strike";
    const puts = document.createElement("th");
    puts.colSpan = PUT_COLS.length;
    puts.textContent = "PUTS";
    puts.className = "side-puts";
    top.append(calls, mid, puts);
    const cols = head.insertRow();
    for (const c of CALL_COLS) cols.append(th(c.label));
    cols.append(th("Strike", "strike"));
    for (const c of PUT_COLS) cols.append(th(c.label));
  }

  clear(message) {
    this.table.tBodies[0].innerHTML = "";
    this.rows = [];
    this.key = null;
    this.chainId = null;
    this.table.dataset.seq = "";
    this.empty.textContent = message;
    this.empty.hidden = false;
  }

  /** Show a `chain_update` payload (column-wise chain). */
  update(chain) {
    const strikes = chain.strikes || [];
    if (strikes.length === 0) {
      this.clear("No strikes in this chain yet.");
      return;
    }
    const key = `${chain.product}/${chain.expiry}/${strikes.join(",")}`;
    const rebuilt = key !== this.key;
    if (rebuilt) {
      const id = `${chain.product}/${chain.expiry}`;
      if (id !== this.chainId) this.scrollPending = true; // a new chain opens at the money
      this.chainId = id;
      this.#build(strikes, key);
    }
    this.flip = !this.flip;
    const fwd = isNum(chain.forward) ? chain.forward : chain.spot;
    for (let i = 0; i < strikes.length; i++) {
      const row = this.rows[i];
      const k = strikes[i];
      row.tr.classList.toggle("atm", k === chain.atm_strike);
      row.tr.classList.toggle("max-pain", k === chain.max_pain);
      this.#side(row.calls, CALL_COLS, chain.calls, i, !rebuilt);
      this.#side(row.puts, PUT_COLS, chain.puts, i, !rebuilt);
      row.tr.classList.toggle("call-itm", isNum(fwd) && k < fwd);
      row.tr.classList.toggle("put-itm", isNum(fwd) && k > fwd);
    }
    this.table.dataset.seq = String(chain.seq ?? "");
    this.table.dataset.expiry = chain.expiry;
    if (this.scrollPending) this.#scrollToAtm(chain.atm_strike);
  }

  #build(strikes, key) {
    const body = this.table.tBodies[0];
    body.innerHTML = "";
    this.rows = [];
    const frag = document.createDocumentFragment();
    for (const k of strikes) {
      const tr = document.createElement("tr");
      tr.dataset.strike = String(k);
      const calls = CALL_COLS.map((c) => cell(tr, c, "c"));
      const strikeCell = document.createElement("td");
      strikeCell.className = "strike";
      strikeCell.textContent = num(k, Number.isInteger(k) ? 0 : 2);
      tr.append(strikeCell);
      const puts = PUT_COLS.map((c) => cell(tr, c, "p"));
      frag.append(tr);
      this.rows.push({ tr, strikeCell, calls, puts });
    }
    body.append(frag);
    this.key = key;
    this.empty.hidden = true;
  }

  #side(cells, cols, side, i, flash) {
    const bu = side?.buildup?.[i];
    for (let j = 0; j < cols.length; j++) {
      const col = cols[j];
      const c = cells[j];
      const value = side?.[col.key]?.[i] ?? null;
      const text = col.fmt(value);
      if (text !== c.td.textContent) {
        if (flash && isNum(value) && isNum(c.value) && value !== c.value) {
          c.td.classList.remove("up-a", "up-b", "down-a", "down-b");
          c.td.classList.add(`${value > c.value ? "up" : "down"}-${this.flip ? "a" : "b"}`);
        }
        c.td.textContent = text;
      }
      c.value = value;
      if (col.signed) {
        c.td.classList.toggle("pos", isNum(value) && value > 0);
        c.td.classList.toggle("neg", isNum(value) && value < 0);
      }
      if (col.buildup && c.buildup !== bu) {
        if (c.buildup) c.td.classList.remove(`bu-${c.buildup}`);
        if (bu && BUILDUP_CLASSES.includes(`bu-${bu}`) && bu !== "neutral") c.td.classList.add(`bu-${bu}`);
        c.td.title = bu ? BUILDUP_LABELS[bu] || bu : "";
        c.buildup = bu;
      }
    }
  }

  #scrollToAtm(atm) {
    const row = this.rows.find((r) => Number(r.tr.dataset.strike) === atm);
    if (!row) return;
    this.scrollPending = false;
    const top = row.tr.offsetTop - this.scroller.clientHeight / 2 + row.tr.offsetHeight;
    this.scroller.scrollTop = Math.max(0, top);
  }
}

function th(text, cls) {
  const el = document.createElement("th");
  el.textContent = text;
  if (cls) el.className = cls;
  return el;
}

function cell(tr, col, side) {
  const td = document.createElement("td");
  td.className = `${side} k-${col.key}${col.strong ? " strong" : ""}`;
  td.textContent = "–";
  tr.append(td);
  return { td, value: null, buildup: null };
}

// The summary tiles above the chain. Values come from `chain_summary` (the chosen expiry)
// and `underlying_update` (spot); the age tile ticks from the browser's receipt time.

import { BUILDUP_LABELS, age, clock, isNum, num, pct, signed } from "./format.js";

const DAY_S = 86_400;
const SHORT = { long_buildup: "LB", short_buildup: "SB", short_covering: "SC", long_unwinding: "LU", neutral: "N" };
const SECONDS_PER_YEAR = 365 * DAY_S;

function tile(id) {
  const el = document.getElementById(id);
  return { el, value: el.querySelector(".value"), sub: el.querySelector(".sub") };
}

function set(t, value, sub, tone) {
  if (t.value.textContent !== value) {
    t.value.textContent = value;
    t.el.classList.remove("tick-a", "tick-b");
    t.el.classList.add(t.el.dataset.flip === "a" ? "tick-b" : "tick-a");
    t.el.dataset.flip = t.el.dataset.flip === "a" ? "b" : "a";
  }
  if (sub !== undefined && t.sub.textContent !== sub) t.sub.textContent = sub;
  t.value.classList.toggle("pos", tone === "pos");
  t.value.classList.toggle("neg", tone === "neg");
}

const toneOf = (x) => (isNum(x) ? (x > 0 ? "pos" : x < 0 ? "neg" : undefined) : undefined);

export class Tiles {
  constructor() {
    this.spot = tile("tile-spot");
    this.forward = tile("tile-forward");
    this.atmIv = tile("tile-atm-iv");
    this.pcr = tile("tile-pcr");
    this.maxPain = tile("tile-max-pain");
    this.straddle = tile("tile-straddle");
    this.buildup = tile("tile-buildup");
    this.age = tile("tile-age");
    this.lastReceipt = null;
    this.lastTs = null;
    this.tz = "UTC";
    this.seq = null;
    setInterval(() => this.#tickAge(), 250);
  }

  clear() {
    for (const t of [this.spot, this.forward, this.atmIv, this.pcr, this.maxPain, this.straddle, this.buildup, this.age]) {
      t.value.textContent = "—";
      t.sub.textContent = "\u00a0";
      t.value.classList.remove("pos", "neg");
    }
    this.lastReceipt = null;
    this.lastSpotFromUnderlying = null;
    this.seq = null;
  }

  received(tsNs, seq) {
    this.lastReceipt = performance.now();
    if (isNum(tsNs)) this.lastTs = tsNs;
    if (isNum(seq)) this.seq = seq;
    this.#tickAge();
  }

  #tickAge() {
    if (this.lastReceipt === null) return;
    const ms = performance.now() - this.lastReceipt;
    this.age.value.textContent = age(ms) + " ago";
    this.age.value.classList.toggle("stale", ms > 10_000);
    const seq = isNum(this.seq) ? ` · seq ${this.seq}` : "";
    this.age.sub.textContent = `feed ${clock(this.lastTs, this.tz)}${seq}`;
  }

  /** An `underlying_update` payload of the chosen product. */
  underlying(u) {
    const change = isNum(u.change) ? `${signed(u.change, 2)} (${signed(u.change_pct, 2)}%)` : "";
    this.lastSpotFromUnderlying = u.price;
    set(this.spot, num(u.price), change || "\u00a0", undefined);
    this.spot.el.title = `day open ${num(u.day_open)} · high ${num(u.day_high)} · low ${num(u.day_low)}`;
    this.spot.sub.classList.toggle("pos", isNum(u.change) && u.change > 0);
    this.spot.sub.classList.toggle("neg", isNum(u.change) && u.change < 0);
    this.received(u.ts);
  }

  /** A `chain_summary` payload of the chosen expiry. */
  summary(s) {
    if (!isNum(this.lastSpotFromUnderlying) && isNum(s.spot)) set(this.spot, num(s.spot), undefined);
    const basis = isNum(s.forward) && isNum(s.spot) ? ` · basis ${signed(s.forward - s.spot, 2)}` : "";
    set(this.forward, num(s.forward), `${s.forward_source || "none"}${basis}`);
    const dte = isNum(s.t_years) ? ` · ${((s.t_years * SECONDS_PER_YEAR) / DAY_S).toFixed(1)} d` : "";
    set(this.atmIv, pct(s.atm_iv), `ATM ${num(s.atm_strike, 0)}${dte}`);
    set(this.pcr, num(s.pcr_oi, 3), `volume ${num(s.pcr_volume, 3)}`);
    const mpPct = isNum(s.max_pain_distance) && isNum(s.spot) && s.spot > 0 ? ` (${signed((100 * s.max_pain_distance) / s.spot, 2)}%)` : "";
    set(this.maxPain, num(s.max_pain, 0), `${signed(s.max_pain_distance, 2)} from spot${mpPct}`);
    const emPct = isNum(s.expected_move) && isNum(s.forward) && s.forward > 0 ? ` (${((100 * s.expected_move) / s.forward).toFixed(2)}%)` : "";
    set(this.straddle, num(s.straddle), `EM ±${num(s.expected_move, 1)}${emPct} · S ±${num(s.expected_move_straddle, 1)}`);
    this.straddle.el.title = "EM: expected move F·σ·√T (ATM IV); S: straddle-implied move straddle·e^(rT)";
    const label = (x) => BUILDUP_LABELS[x] || x || "–";
    const b = s.buildup || {};
    set(this.buildup, `C ${SHORT[s.call_buildup] || "–"} · P ${SHORT[s.put_buildup] || "–"}`, `LB ${b.long_buildup ?? 0} SB ${b.short_buildup ?? 0} SC ${b.short_covering ?? 0} LU ${b.long_unwinding ?? 0}`);
    this.buildup.el.title = `calls: ${label(s.call_buildup)}, puts: ${label(s.put_buildup)}; strikes by label: long build-up ${b.long_buildup ?? 0}, short build-up ${b.short_buildup ?? 0}, short covering ${b.short_covering ?? 0}, long unwinding ${b.long_unwinding ?? 0}, neutral ${b.neutral ?? 0}`;
    this.received(s.ts, s.seq);
  }
}

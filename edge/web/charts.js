// The four uPlot charts: IV smile (market OTM IVs + SVI fit), OI by strike, ATM IV term
// structure and PCR over time. Each keeps its element's `data-points` attribute equal to
// the number of market points it shows. Without uPlot each says so in its panel.

import { int, isNum, num, signed } from "./format.js";
import { impliedVol } from "./svi.js";

const COLORS = {
  call: "#26b67f",
  callFill: "rgba(38,182,127,0.55)",
  put: "#ef5361",
  putFill: "rgba(239,83,97,0.55)",
  callChg: "#9be7c4",
  putChg: "#ffb3ba",
  market: "#4fc3f7",
  fit: "#f5b841",
  pcrOi: "#b39dff",
  pcrVol: "#4fc3f7",
  spot: "#8b95a7",
  maxPain: "#f5b841",
};
const AXIS = {
  stroke: "#8b95a7",
  grid: { stroke: "rgba(255,255,255,0.06)", width: 1 },
  ticks: { stroke: "rgba(255,255,255,0.12)", width: 1, size: 4 },
  font: "11px system-ui, sans-serif",
};
const SMILE_GRID_POINTS = 160;
const OI_STRIKES_EACH_SIDE = 20;
const PCR_MAX_POINTS = 2_000;
const LEGEND_PX = 26;
const compact = new Intl.NumberFormat("en-IN", { notation: "compact", maximumFractionDigits: 1 });

class Chart {
  constructor(el) {
    this.el = el;
    this.plot = null;
    this.tz = "UTC";
    new ResizeObserver(() => this.#resize()).observe(el);
  }

  get available() {
    return typeof window.uPlot === "function";
  }

  #size() {
    return { width: Math.max(200, this.el.clientWidth), height: Math.max(80, this.el.clientHeight - LEGEND_PX) };
  }

  #resize() {
    if (this.plot) this.plot.setSize(this.#size());
  }

  /** Draw `data` (uPlot's column arrays); `points` is what data-points reports. */
  show(data, points) {
    this.el.dataset.points = String(points);
    if (!this.available) {
      this.el.textContent = "Charts are off: the uPlot library is not installed.";
      this.el.classList.add("unavailable");
      return;
    }
    if (!this.plot) {
      this.el.textContent = "";
      this.plot = new window.uPlot({ ...this.options(), ...this.#size() }, data, this.el);
    } else {
      this.plot.setData(data);
    }
  }

  reset() {
    if (this.plot) {
      this.plot.destroy();
      this.plot = null;
    }
    this.el.dataset.points = "0";
  }

  setTimeZone(tz) {
    if (tz && tz !== this.tz) {
      this.tz = tz;
      this.reset(); // tzDate is fixed at creation
    }
  }

  /** Epoch seconds as HH:MM:SS in the exchange's time zone; MM:SS.s when `fine`. */
  clock(tsS, fine = false) {
    const opts = fine
      ? { timeZone: this.tz, minute: "2-digit", second: "2-digit", fractionalSecondDigits: 1 }
      : { timeZone: this.tz, hour12: false, hour: "2-digit", minute: "2-digit", second: "2-digit" };
    return new Date(tsS * 1e3).toLocaleTimeString("en-GB", opts);
  }

  tzDate() {
    const tz = this.tz;
    return (ts) => window.uPlot.tzDate(new Date(ts * 1e3), tz);
  }
}

/** A dashed vertical marker at data value `x`, labelled at the top of the plot. */
function marker(u, x, label, color, where = "top") {
  if (!isNum(x)) return;
  const px = u.valToPos(x, "x", true);
  const { left, top, width, height } = u.bbox;
  if (px < left || px > left + width) return;
  const dpr = window.devicePixelRatio || 1;
  const ctx = u.ctx;
  ctx.save();
  ctx.strokeStyle = color;
  ctx.fillStyle = color;
  ctx.lineWidth = dpr;
  ctx.setLineDash([4 * dpr, 3 * dpr]);
  ctx.beginPath();
  ctx.moveTo(px, top);
  ctx.lineTo(px, top + height);
  ctx.stroke();
  ctx.font = `${10 * dpr}px system-ui, sans-serif`;
  ctx.textAlign = px > left + width * 0.8 ? "right" : "left";
  const y = where === "top" ? top + 11 * dpr : top + height - 4 * dpr;
  ctx.fillText(label, px + (ctx.textAlign === "left" ? 4 : -4) * dpr, y);
  ctx.restore();
}

const pctAxis = (u, vals) => vals.map((v) => (isNum(v) ? v.toFixed(1) + "%" : ""));
const pctValue = (u, v) => (isNum(v) ? v.toFixed(2) + "%" : "–");
const strikeAxis = (u, vals) => vals.map((v) => num(v, 0));

export class SmileChart extends Chart {
  options() {
    return {
      scales: { x: { time: false } },
      series: [
        { label: "Strike", value: (u, v) => (isNum(v) ? num(v, 0) : "–") },
        {
          label: "Market OTM IV",
          stroke: COLORS.market,
          fill: undefined,
          paths: () => null,
          points: { show: true, size: 5, fill: COLORS.market, stroke: COLORS.market },
          value: pctValue,
        },
        { label: "SVI fit", stroke: COLORS.fit, width: 1.5, spanGaps: true, points: { show: false }, value: pctValue },
      ],
      axes: [{ ...AXIS, values: strikeAxis }, { ...AXIS, values: pctAxis, size: 52 }],
      hooks: { draw: [(u) => marker(u, this.forward, "F", COLORS.spot)] },
    };
  }

  /** `slice`: one entry of the surface's `expiries`. */
  update(slice) {
    if (!slice) {
      this.show([[], [], []], 0);
      return;
    }
    const market = new Map();
    slice.strikes.forEach((k, i) => {
      if (isNum(slice.iv[i])) market.set(k, slice.iv[i] * 100);
    });
    const ks = slice.strikes.filter(isNum);
    const lo = Math.min(...ks);
    const hi = Math.max(...ks);
    const grid = new Set(ks);
    if (hi > lo) for (let i = 0; i <= SMILE_GRID_POINTS; i++) grid.add(lo + ((hi - lo) * i) / SMILE_GRID_POINTS);
    const xs = [...grid].sort((a, b) => a - b);
    const fit = xs.map((k) => {
      const iv = impliedVol(slice.svi, { strike: k, forward: slice.forward, tYears: slice.t_years });
      return iv === null ? null : iv * 100;
    });
    this.forward = slice.forward;
    this.show([xs, xs.map((k) => market.get(k) ?? null), fit], market.size);
  }
}

export class OiChart extends Chart {
  options() {
    const bars = window.uPlot.paths.bars;
    return {
      scales: { x: { time: false }, oi: { auto: true }, chg: { auto: true } },
      series: [
        { label: "Strike", value: (u, v) => (isNum(v) ? num(v, 0) : "–") },
        { label: "C OI", scale: "oi", stroke: COLORS.call, fill: COLORS.callFill, width: 0, paths: bars({ size: [0.42, 24], align: -1 }), points: { show: false }, value: (u, v) => int(v) },
        { label: "P OI", scale: "oi", stroke: COLORS.put, fill: COLORS.putFill, width: 0, paths: bars({ size: [0.42, 24], align: 1 }), points: { show: false }, value: (u, v) => int(v) },
        { label: "C chg", scale: "chg", stroke: COLORS.callChg, width: 1.25, points: { show: false }, value: (u, v) => signed(v) },
        { label: "P chg", scale: "chg", stroke: COLORS.putChg, width: 1.25, points: { show: false }, value: (u, v) => signed(v) },
      ],
      axes: [
        { ...AXIS, values: strikeAxis },
        { ...AXIS, scale: "oi", size: 48, values: (u, vals) => vals.map((v) => compact.format(v)) },
        { ...AXIS, scale: "chg", side: 1, size: 48, grid: { show: false }, values: (u, vals) => vals.map((v) => compact.format(v)) },
      ],
      hooks: {
        draw: [
          (u) => {
            marker(u, this.spot, "spot", COLORS.spot, "bottom");
            marker(u, this.maxPain, `max pain ${num(this.maxPain, 0)}`, COLORS.maxPain);
          },
        ],
      },
    };
  }

  /** `chain`: a `chain_update` payload. */
  update(chain) {
    const strikes = chain.strikes || [];
    const center = isNum(chain.atm_strike) ? strikes.indexOf(chain.atm_strike) : Math.floor(strikes.length / 2);
    const from = Math.max(0, (center < 0 ? Math.floor(strikes.length / 2) : center) - OI_STRIKES_EACH_SIDE);
    const to = Math.min(strikes.length, from + 2 * OI_STRIKES_EACH_SIDE + 1);
    const cut = (arr) => (arr || []).slice(from, to);
    this.spot = chain.spot;
    this.maxPain = chain.max_pain;
    const xs = strikes.slice(from, to);
    this.show([xs, cut(chain.calls?.oi), cut(chain.puts?.oi), cut(chain.calls?.oi_change), cut(chain.puts?.oi_change)], xs.length);
  }
}

export class TermChart extends Chart {
  options() {
    return {
      scales: { x: { time: true } },
      tzDate: this.tzDate(),
      series: [
        { label: "Expiry", value: (u, v) => (isNum(v) ? new Date(v * 1e3).toISOString().slice(0, 10) : "–") },
        { label: "ATM IV", stroke: COLORS.fit, width: 1.5, points: { show: true, size: 6, fill: COLORS.fit }, value: pctValue },
      ],
      axes: [{ ...AXIS }, { ...AXIS, values: pctAxis, size: 52 }],
      hooks: { draw: [(u) => marker(u, this.selected, "", COLORS.market)] },
    };
  }

  /** `surface`: a `surface_update` payload; `expiry`: the chosen one (marked). */
  update(surface, expiry) {
    const points = (surface?.term_structure || [])
      .filter((p) => isNum(p.atm_iv) && typeof p.expiry === "string")
      .map((p) => [Date.parse(p.expiry + "T00:00:00Z") / 1e3, p.atm_iv * 100])
      .sort((a, b) => a[0] - b[0]);
    this.selected = expiry ? Date.parse(expiry + "T00:00:00Z") / 1e3 : null;
    this.show([points.map((p) => p[0]), points.map((p) => p[1])], points.length);
  }
}

export class PcrChart extends Chart {
  constructor(el) {
    super(el);
    this.points = new Map(); // seq -> [ts_s, pcr_oi, pcr_volume]
  }

  options() {
    const ratio = (u, v) => (isNum(v) ? v.toFixed(3) : "–");
    return {
      scales: { x: { time: true } },
      tzDate: this.tzDate(),
      series: [
        { label: "Time", value: (u, v) => (isNum(v) ? this.clock(v) : "–") },
        { label: "PCR OI", stroke: COLORS.pcrOi, width: 1.5, points: { show: false }, value: ratio },
        { label: "PCR volume", stroke: COLORS.pcrVol, width: 1.25, points: { show: false }, value: ratio },
      ],
      axes: [
        { ...AXIS, space: 64, values: (u, vals) => vals.map((v) => this.clock(v, vals.length > 1 && vals[1] - vals[0] < 1)) },
        { ...AXIS, size: 48, values: (u, vals) => vals.map((v) => v.toFixed(2)) },
      ],
    };
  }

  clear() {
    this.points.clear();
    this.show([[], [], []], 0);
  }

  /** Add history entries or summaries (`{ts, seq, pcr_oi, pcr_volume}`), then redraw. */
  add(entries) {
    for (const e of entries) {
      if (isNum(e.ts) && isNum(e.seq)) this.points.set(e.seq, [e.ts / 1e9, e.pcr_oi ?? null, e.pcr_volume ?? null]);
    }
    let rows = [...this.points.entries()].sort((a, b) => a[1][0] - b[1][0]);
    if (rows.length > PCR_MAX_POINTS) {
      rows = rows.slice(-PCR_MAX_POINTS);
      this.points = new Map(rows);
    }
    rows = rows.map((r) => r[1]);
    this.show([rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2])], rows.length);
  }
}

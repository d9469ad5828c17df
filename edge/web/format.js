// Number and time formatting for the dashboard. `null`/`undefined`/NaN render as an en dash.

const DASH = "–";
const grouped = new Intl.NumberFormat("en-IN", { maximumFractionDigits: 0 });
const fixedCache = new Map();

function fixedFormat(digits) {
  let f = fixedCache.get(digits);
  if (!f) {
    f = new Intl.NumberFormat("en-IN", { minimumFractionDigits: digits, maximumFractionDigits: digits });
    fixedCache.set(digits, f);
  }
  return f;
}

export function isNum(x) {
  return typeof x === "number" && Number.isFinite(x);
}

/** A price or greek with a fixed number of decimals (Indian digit grouping). */
export function num(x, digits = 2) {
  return isNum(x) ? fixedFormat(digits).format(x) : DASH;
}

/** An integer count (OI, volume) with Indian grouping: 44,20,715. */
export function int(x) {
  return isNum(x) ? grouped.format(x) : DASH;
}

/** A large count in lakhs (1 L = 100,000), the Indian market's unit for OI: "44.21L". */
export function lakhs(x) {
  if (!isNum(x)) return DASH;
  return Math.abs(x) < 100_000 ? grouped.format(x) : (x / 100_000).toFixed(2) + "L";
}

/** A signed value: +1,300 / −975. */
export function signed(x, digits = 0) {
  if (!isNum(x)) return DASH;
  const body = digits === 0 ? grouped.format(Math.abs(x)) : fixedFormat(digits).format(Math.abs(x));
  return (x > 0 ? "+" : x < 0 ? "−" : "") + body;
}

/** A fraction as a percentage: 0.1223 -> "12.23%". */
export function pct(x, digits = 2, suffix = "%") {
  return isNum(x) ? (x * 100).toFixed(digits) + suffix : DASH;
}

/** Receipt age in a short human form: "0.4 s", "12 s", "3 min". */
export function age(ms) {
  if (!isNum(ms) || ms < 0) return DASH;
  if (ms < 10_000) return (ms / 1000).toFixed(1) + " s";
  if (ms < 120_000) return Math.round(ms / 1000) + " s";
  if (ms < 7_200_000) return Math.round(ms / 60_000) + " min";
  return Math.round(ms / 3_600_000) + " h";
}

/** Epoch nanoseconds as HH:MM:SS in an IANA time zone (the exchange's). */
export function clock(tsNs, tz) {
  if (!isNum(tsNs)) return DASH;
  return new Date(tsNs / 1e6).toLocaleTimeString("en-GB", { timeZone: tz || "UTC", hour12: false });
}

/** "2026-12-01" -> "01 Dec 26 Tue". */
export function expiryLabel(iso) {
  const d = new Date(iso + "T00:00:00Z");
  if (Number.isNaN(d.getTime())) return iso;
  const opts = { timeZone: "UTC", day: "2-digit", month: "short", year: "2-digit", weekday: "short" };
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", opts).formatToParts(d).map((p) => [p.type, p.value]));
  return `${parts.day} ${parts.month} ${parts.year} ${parts.weekday}`;
}

export const BUILDUP_LABELS = {
  long_buildup: "long build-up",
  short_buildup: "short build-up",
  short_covering: "short covering",
  long_unwinding: "long unwinding",
  neutral: "neutral",
};

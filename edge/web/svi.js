// Raw SVI (Gatheral): the fitted smile the actors publish with each surface slice.
//
//   w(k) = a + b·(ρ·(k − m) + √((k − m)² + σ²))     total implied variance at log-moneyness
//   iv(k) = √(w(k) / T)                              k = ln(K / F), T in years
//
// Example: a=0.0002, b=0.003, rho=-0.4, m=0, sigma=0.1 at k=0 gives w = 0.0005; with
// T = 0.05 years, iv = √0.01 = 0.10 (10 %).

/** Total variance w(k) of raw-SVI parameters `{a, b, rho, m, sigma}`; null when incomplete. */
export function totalVariance(p, k) {
  if (!p || ![p.a, p.b, p.rho, p.m, p.sigma, k].every(Number.isFinite)) return null;
  const d = k - p.m;
  return p.a + p.b * (p.rho * d + Math.sqrt(d * d + p.sigma * p.sigma));
}

/** Implied volatility (a fraction) at strike `strike` for forward `forward` and `tYears`. */
export function impliedVol(p, { strike, forward, tYears }) {
  if (!(strike > 0 && forward > 0 && tYears > 0)) return null;
  const w = totalVariance(p, Math.log(strike / forward));
  return w !== null && w > 0 ? Math.sqrt(w / tYears) : null;
}

// One SVG timeline per scenario, written by hand (no plotting package): answered lookups per
// second (solid) and failed lookups per second (dashed, right axis) for each system, by the
// second the lookup started, the fault's time span shaded.

const COLORS = { none: '#7f7f7f', 'node-cache': '#d62728', ours: '#1f77b4', 'ours, node-cache Corefile': '#17becf' };
const esc = (s) => String(s).replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/**
 * series: [{ system, ok: number[], failed: number[] }] (index = second); faults: [{ from, to, label }]
 * in seconds; extra: optional { label, values: number[] per system } drawn nowhere (kept simple).
 */
export function timelineSvg({ title, seconds, series, faults }) {
  const W = 860;
  const H = 320;
  const L = 56;
  const R = 56;
  const T = 40;
  const B = 46;
  const pw = W - L - R;
  const ph = H - T - B;
  const maxOk = Math.max(1, ...series.flatMap((s) => s.ok));
  const maxFail = Math.max(1, ...series.flatMap((s) => s.failed));
  const yOkTop = niceCeil(maxOk);
  const yFailTop = niceCeil(maxFail);
  const x = (sec) => L + (sec / seconds) * pw;
  const yOk = (v) => T + ph - (v / yOkTop) * ph;
  const yFail = (v) => T + ph - (v / yFailTop) * ph;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${L}" y="18" font-size="13" font-weight="bold">${esc(title)}</text>`);
  for (const f of faults) {
    const x0 = x(f.from);
    const x1 = Math.max(x0 + 2, x(Math.min(f.to, seconds)));
    out.push(`<rect x="${x0.toFixed(1)}" y="${T}" width="${(x1 - x0).toFixed(1)}" height="${ph}" fill="#ffd8a8" opacity="0.6"/>`);
    out.push(`<text x="${(x0 + 3).toFixed(1)}" y="${T + 12}" fill="#8a4b00">${esc(f.label)}</text>`);
  }
  // Axes and grid.
  out.push(`<line x1="${L}" y1="${T + ph}" x2="${L + pw}" y2="${T + ph}" stroke="black"/>`);
  out.push(`<line x1="${L}" y1="${T}" x2="${L}" y2="${T + ph}" stroke="black"/>`);
  out.push(`<line x1="${L + pw}" y1="${T}" x2="${L + pw}" y2="${T + ph}" stroke="black"/>`);
  for (let i = 0; i <= 4; i++) {
    const v = (yOkTop * i) / 4;
    const y = yOk(v);
    out.push(`<line x1="${L}" y1="${y.toFixed(1)}" x2="${L + pw}" y2="${y.toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${L - 4}" y="${(y + 4).toFixed(1)}" text-anchor="end">${fmt(v)}</text>`);
    out.push(`<text x="${L + pw + 4}" y="${(yFail((yFailTop * i) / 4) + 4).toFixed(1)}">${fmt((yFailTop * i) / 4)}</text>`);
  }
  const step = seconds > 300 ? 60 : seconds > 120 ? 30 : 10;
  for (let s = 0; s <= seconds; s += step) out.push(`<text x="${x(s).toFixed(1)}" y="${T + ph + 14}" text-anchor="middle">${s}</text>`);
  out.push(`<text x="${L + pw / 2}" y="${H - 18}" text-anchor="middle">seconds (lookup start)</text>`);
  out.push(`<text transform="translate(14 ${T + ph / 2}) rotate(-90)" text-anchor="middle">answered lookups/s (solid)</text>`);
  out.push(`<text transform="translate(${W - 8} ${T + ph / 2}) rotate(90)" text-anchor="middle">failed lookups/s (dashed)</text>`);
  for (const s of series) {
    const c = COLORS[s.system] ?? 'black';
    const pts = (arr, y) => arr.map((v, i) => `${x(i + 0.5).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${pts(s.ok, yOk)}"/>`);
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="1.5" stroke-dasharray="4 3" points="${pts(s.failed, yFail)}"/>`);
  }
  series.forEach((s, i) => {
    const lx = L + 10 + i * 150;
    out.push(`<line x1="${lx}" y1="${H - 6}" x2="${lx + 18}" y2="${H - 6}" stroke="${COLORS[s.system] ?? 'black'}" stroke-width="2"/>`);
    out.push(`<text x="${lx + 22}" y="${H - 2}">${esc(s.system)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v) {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

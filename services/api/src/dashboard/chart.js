/**
 * Charts of the dashboard: step lines (and optionally the area under them) in inline SVG, sized to their
 * box, with a dashed reference line. Pure drawing: the data arrives as points in chart units.
 */
import { timeTicks } from './format.js';

const svgNs = 'http://www.w3.org/2000/svg';

/**
 * @param {string} tag
 * @param {Record<string, string | number>} attrs
 * @param {string} [text]
 */
function svgEl(tag, attrs, text) {
  const node = document.createElementNS(svgNs, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * @typedef {{ x: number, y: number }} Point
 * @param {HTMLElement} svg
 * @param {{ points: Point[], xDomain: [number, number], yDomain: [number, number],
 *   yTicks: (min: number, max: number, n: number) => { at: number, label: string }[],
 *   reference?: { label: string, points: Point[] }, area?: boolean, empty: string }} chart
 */
export function drawChart(svg, chart) {
  const width = Math.max(280, Math.round(svg.getBoundingClientRect().width || 480));
  const height = 220;
  const m = { top: 12, right: 16, bottom: 28, left: 74 };
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('height', String(height));
  const labels = [...svg.querySelectorAll(':scope > title, :scope > desc')];
  const nodes = [];
  const [x0, x1] = chart.xDomain;
  const [y0, y1] =
    chart.yDomain[1] > chart.yDomain[0] ? chart.yDomain : [chart.yDomain[0], chart.yDomain[0] + 1];
  const sx = (/** @type {number} */ x) => m.left + ((x - x0) / (x1 - x0 || 1)) * (width - m.left - m.right);
  const sy = (/** @type {number} */ y) =>
    height - m.bottom - ((y - y0) / (y1 - y0)) * (height - m.top - m.bottom);

  const xAxis = svgEl('line', {
    class: 'axis',
    x1: m.left,
    x2: width - m.right,
    y1: height - m.bottom,
    y2: height - m.bottom,
  });
  if (chart.points.length === 0) {
    nodes.push(
      xAxis,
      svgEl(
        'text',
        { class: 'empty', x: (m.left + width - m.right) / 2, y: height / 2, 'text-anchor': 'middle' },
        chart.empty,
      ),
    );
    svg.replaceChildren(...labels, ...nodes);
    return;
  }
  for (const t of chart.yTicks(y0, y1, 4)) {
    const y = sy(t.at).toFixed(1);
    nodes.push(svgEl('line', { class: 'grid', x1: m.left, x2: width - m.right, y1: y, y2: y }));
    nodes.push(
      svgEl('text', { class: 'tick', x: m.left - 6, y, 'text-anchor': 'end', dy: '0.32em' }, t.label),
    );
  }
  for (const t of timeTicks(x0, x1, Math.max(2, Math.floor((width - m.left) / 90)))) {
    const x = sx(t.at).toFixed(1);
    nodes.push(svgEl('line', { class: 'grid', x1: x, x2: x, y1: m.top, y2: height - m.bottom }));
    nodes.push(
      svgEl('text', { class: 'tick', x, y: height - m.bottom + 16, 'text-anchor': 'middle' }, t.label),
    );
  }
  nodes.push(xAxis);

  const reference = chart.reference;
  const [a, b] = reference?.points ?? [];
  if (a && b)
    nodes.push(svgEl('line', { class: 'reference', x1: sx(a.x), y1: sy(a.y), x2: sx(b.x), y2: sy(b.y) }));
  if (reference)
    nodes.push(
      svgEl(
        'text',
        {
          class: 'reference-label',
          x: width - m.right - 4,
          // Below the reference line's end, or (no line) in the bottom corner, away from a rising series.
          y: b ? sy(b.y) + 14 : height - m.bottom - 6,
          'text-anchor': 'end',
        },
        reference.label,
      ),
    );

  // A step line: a value holds until the next chunk settles.
  const [head, ...rest] = chart.points;
  let d = head ? `M${sx(head.x).toFixed(1)},${sy(head.y).toFixed(1)}` : '';
  for (const p of rest) d += `H${sx(p.x).toFixed(1)}V${sy(p.y).toFixed(1)}`;
  if (chart.area && head)
    nodes.push(svgEl('path', { class: 'area', d: `${d}V${sy(y0).toFixed(1)}H${sx(head.x).toFixed(1)}Z` }));
  nodes.push(svgEl('path', { class: 'series', d }));
  // A dot where a chunk settled (one for several settling at once); none on the line's extension to now.
  for (const [i, p] of chart.points.entries())
    if (i < chart.points.length - 1 && chart.points[i + 1]?.x !== p.x)
      nodes.push(svgEl('circle', { class: 'dot', cx: sx(p.x).toFixed(1), cy: sy(p.y).toFixed(1), r: 2.5 }));
  svg.replaceChildren(...labels, ...nodes);
}

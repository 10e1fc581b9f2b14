// tunebook dashboard: tables, live polling and SVG charts. No dependencies, no network beyond
// this server. Every value from the store is inserted with textContent, never as HTML.
"use strict";

const errors = [];
window.addEventListener("error", (e) => {
  errors.push(String(e.message));
  const box = document.getElementById("js-errors");
  if (box) { box.hidden = false; box.textContent = errors.join("\n"); }
});

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function num(x, digits) {
  if (x === null || x === undefined) return "–";
  if (typeof x === "boolean") return x ? "yes" : "no";
  if (typeof x === "number") return Number.isInteger(x) ? String(x) : x.toPrecision(digits || 4);
  return String(x);
}

async function getJSON(url) {
  const r = await fetch(url, {credentials: "same-origin", cache: "no-store"});
  if (!r.ok) throw new Error(url + ": " + r.status);
  return r.json();
}

// ---- sortable tables ---------------------------------------------------------------------
function sortTable(table, index, numeric, ascending) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const value = (row) => {
    const text = row.cells[index] ? row.cells[index].textContent : "";
    if (!numeric) return text;
    const v = parseFloat(text);
    return Number.isNaN(v) ? (ascending ? Infinity : -Infinity) : v;
  };
  rows.sort((a, b) => {
    const x = value(a), y = value(b);
    const c = numeric ? x - y : String(x).localeCompare(String(y));
    return ascending ? c : -c;
  });
  body.append(...rows);
}

function makeSortable(table, onSort) {
  Array.from(table.tHead.rows[0].cells).forEach((th, i) => {
    th.addEventListener("click", () => {
      const ascending = th.dataset.dir !== "asc";
      Array.from(table.tHead.rows[0].cells).forEach((h) => delete h.dataset.dir);
      th.dataset.dir = ascending ? "asc" : "desc";
      const numeric = th.dataset.type === "num";
      if (onSort) onSort(i, numeric, ascending);
      sortTable(table, i, numeric, ascending);
    });
  });
}

// ---- SVG line charts ---------------------------------------------------------------------
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf"];
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function lineChart(series, title) {
  const W = 460, H = 220, L = 52, R = 10, T = 22, B = 28;
  const pts = series.flatMap((s) => s.steps.map((x, i) => [x, s.values[i]]))
    .filter((p) => p[1] !== null);
  const root = svg("svg", {viewBox: `0 0 ${W} ${H}`, class: "linechart", role: "img"});
  const label = svg("text", {x: L, y: 14, class: "title"});
  label.textContent = title;
  root.append(label);
  if (!pts.length) {
    const t = svg("text", {x: W / 2, y: H / 2, "text-anchor": "middle", class: "muted"});
    t.textContent = "no points yet";
    root.append(t);
    return root;
  }
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y1 = y0 + 1e-9 + Math.abs(y0) * 0.01; }
  const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = (y) => H - B - (y - y0) / (y1 - y0) * (H - T - B);
  root.append(svg("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis"}));
  root.append(svg("line", {x1: L, y1: T, x2: L, y2: H - B, class: "axis"}));
  for (const [v, y] of [[y0, H - B], [y1, T]]) {
    const t = svg("text", {x: L - 4, y: y + 4, "text-anchor": "end", class: "tick"});
    t.textContent = num(v, 3);
    root.append(t);
  }
  for (const [v, x] of [[x0, L], [x1, W - R]]) {
    const t = svg("text", {x: x, y: H - 10, "text-anchor": "middle", class: "tick"});
    t.textContent = num(v);
    root.append(t);
  }
  series.forEach((s, k) => {
    let d = "";
    s.steps.forEach((x, i) => {
      const y = s.values[i];
      if (y === null) return;
      d += (d ? " L" : "M") + sx(x).toFixed(1) + " " + sy(y).toFixed(1);
    });
    const color = PALETTE[k % PALETTE.length];
    const path = svg("path", {d: d, stroke: color, fill: "none", "stroke-width": 1.4});
    const tip = svg("title", {});
    tip.textContent = s.metric;
    path.append(tip);
    root.append(path);
    if (series.length > 1 && k < 10) {
      const t = svg("text", {x: W - R - 2, y: T + 10 + 11 * k, "text-anchor": "end",
                             class: "legend", fill: color});
      t.textContent = s.metric;
      root.append(t);
    }
  });
  return root;
}

// ---- round page --------------------------------------------------------------------------
function roundPage() {
  const data = JSON.parse(document.getElementById("data").textContent);
  const name = data.round;
  const table = document.getElementById("trials");
  const filter = document.getElementById("filter");
  let state = data;
  let sorting = null;
  let analysisVersion = null;

  function rowOf(t) {
    const tr = el("tr", {class: "status-" + t.status, "data-id": String(t.id)},
      el("td", {}, el("a", {href: "/trials/" + t.id}, String(t.id))),
      el("td", {}, el("span", {class: "status " + t.status}, t.status)));
    t.values.forEach((v) => tr.append(el("td", {}, num(v))));
    tr.append(el("td", {}, num(t.seed)), el("td", {}, num(t.best_step)),
              el("td", {}, num(t.score)), el("td", {}, num(t.feasible)),
              el("td", {}, num(t.attempts)), el("td", {class: "error"}, t.error || ""));
    return tr;
  }

  function render() {
    const body = table.tBodies[0];
    const q = filter.value.trim().toLowerCase();
    const rows = state.rows.map(rowOf).filter((tr) => !q || tr.textContent.toLowerCase().includes(q));
    body.replaceChildren(...rows);
    if (sorting) sortTable(table, ...sorting);
    const counts = document.getElementById("counts");
    counts.replaceChildren(...Object.entries(state.counts).sort().map(
      ([s, n]) => el("span", {class: "status " + s}, n + " " + s)));
  }

  async function poll() {
    try {
      const r = await getJSON(`/api/rounds/${encodeURIComponent(name)}?version=${encodeURIComponent(state.version)}`);
      if (!r.unchanged) { state = r; render(); }
      if (state.version !== analysisVersion) await analysis();
    } catch (e) { document.getElementById("live-note").textContent = "offline: " + e.message; }
  }

  async function analysis() {
    const a = await getJSON(`/api/rounds/${encodeURIComponent(name)}/analysis`);
    analysisVersion = a.version;
    document.getElementById("answer").textContent = a.missing || a.answer;
    document.getElementById("findings").replaceChildren(...a.findings.map((f) =>
      el("li", {class: "finding " + f.severity}, el("b", {}, f.code + ": "), f.message,
         f.action ? el("div", {class: "muted"}, "→ " + f.action) : null)));
    document.getElementById("plots").replaceChildren(...a.plots.map((p) =>
      el("figure", {}, el("img", {src: `/plots/rounds/${encodeURIComponent(name)}/${p}.png?v=${encodeURIComponent(a.version)}`, alt: p}),
         el("figcaption", {}, p))));
  }

  async function live() {
    try {
      const r = await getJSON(`/api/rounds/${encodeURIComponent(name)}/live`);
      const box = document.getElementById("live-chart");
      box.replaceChildren(r.series.length ? lineChart(r.series, r.metric + " of running trials")
                                          : el("p", {class: "muted"}, "no trial is running"));
    } catch (e) { /* the table's poll reports the server being away */ }
  }

  makeSortable(table, (i, numeric, asc) => { sorting = [i, numeric, asc]; });
  filter.addEventListener("input", render);
  render();
  poll();
  live();
  setInterval(poll, 1000);
  setInterval(live, 2000);
}

// ---- trial page --------------------------------------------------------------------------
function trialPage() {
  let data = JSON.parse(document.getElementById("data").textContent);
  function render() {
    const box = document.getElementById("curves");
    box.replaceChildren(...(data.curves.length ? data.curves.map((s) => lineChart([s], s.metric))
                                                : [el("p", {class: "muted"}, "no curve logged")]));
  }
  render();
  if (data.trial.status === "running" || data.trial.status === "queued") {
    setInterval(async () => {
      data = await getJSON("/api/trials/" + data.trial.id);
      render();
    }, 2000);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach((t) => {
    if (t.id !== "trials") makeSortable(t);
  });
  const page = document.body.dataset.page;
  if (page === "round") roundPage();
  if (page === "trial") trialPage();
});

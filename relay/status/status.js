// The relay's status page: asks /v1/status every second and draws the organization's relay graph, each
// stack in its state, and a timeline per cascade of the deployments the relay asked for. Plain
// JavaScript, no libraries, nothing loaded from elsewhere.
"use strict";

(() => {
  const POLL_MS = 1000;
  const SVG_NS = "http://www.w3.org/2000/svg";

  // The page's ?organization= goes on to the JSON; without it the relay answers for its one organization.
  const organization = new URLSearchParams(location.search).get("organization");
  const statusURL = "/v1/status" + (organization ? `?organization=${encodeURIComponent(organization)}` : "");

  const $ = (id) => document.getElementById(id);

  // make builds an element in namespace ns (null for HTML): attrs are attributes ("text" sets its text,
  // undefined, null and false are left out), kids are nodes or strings.
  function make(ns, tag, attrs, kids) {
    const e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") e.textContent = v;
      else e.setAttribute(k, String(v));
    }
    e.append(...kids.filter((c) => c !== null && c !== undefined));
    return e;
  }
  const html = (tag, attrs, ...kids) => make(null, tag, attrs, kids);
  const svg = (tag, attrs, ...kids) => make(SVG_NS, tag, attrs, kids);

  const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
  const clip = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

  // seconds writes a duration for people: 850ms, 4.2s, 3m05s.
  function seconds(ms) {
    if (ms < 1000) return `${Math.round(ms)}ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 1 : 0)}s`;
    const s = Math.round(ms / 1000);
    return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  }

  // rowClass is the class a cascade's row state is drawn with: both kinds of skip look alike.
  const rowClass = (state) => (state.startsWith("skipped") ? "skipped" : state);

  let busy = false;

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const res = await fetch(statusURL, { cache: "no-store" });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
      render(body);
      $("refreshed").textContent = `As of ${clock(body.nowMs)}`;
      $("refreshed").classList.remove("error");
    } catch (err) {
      $("refreshed").textContent = `Could not read the relay's status: ${err.message}`;
      $("refreshed").classList.add("error");
    } finally {
      busy = false;
    }
  }

  function render(data) {
    $("organization").textContent = `· ${data.organization}`;
    document.title = `Cascade relay status · ${data.organization}`;
    const roots = new Set(data.cascades.filter((c) => c.state === "running").map((c) => local(data, c.root)));
    renderGraph(data, roots);
    renderCascades(data);
  }

  // local drops the organization from an "organization/project/stack" of the cascades.
  const local = (data, ref) => (ref.startsWith(`${data.organization}/`) ? ref.slice(data.organization.length + 1) : ref);

  // levels places each stack one row below the lowest of its parents, the edges that close a cycle
  // aside, and orders each row by where its parents sit.
  function levels(stacks, edges) {
    const kids = new Map(stacks.map((s) => [s, []]));
    for (const e of edges) kids.get(e.parent).push(e.child);
    const back = new Set();
    const seen = new Map(); // 1: on the path, 2: done
    const visit = (s) => {
      seen.set(s, 1);
      for (const k of kids.get(s)) {
        if (seen.get(k) === 1) back.add(`${s}\n${k}`);
        else if (!seen.get(k)) visit(k);
      }
      seen.set(s, 2);
    };
    stacks.forEach((s) => seen.get(s) || visit(s));
    const parents = new Map(stacks.map((s) => [s, []]));
    for (const e of edges) if (!back.has(`${e.parent}\n${e.child}`)) parents.get(e.child).push(e.parent);
    const level = new Map();
    const levelOf = (s) => {
      if (!level.has(s)) level.set(s, Math.max(0, ...parents.get(s).map((p) => levelOf(p) + 1)));
      return level.get(s);
    };
    const rows = [];
    for (const s of stacks) (rows[levelOf(s)] = rows[levelOf(s)] || []).push(s);
    const x = new Map();
    return rows.filter(Boolean).map((row) => {
      const at = (s) => {
        const ps = parents.get(s).filter((p) => x.has(p));
        return ps.length ? ps.reduce((a, p) => a + x.get(p), 0) / ps.length : Infinity;
      };
      row.sort((a, b) => at(a) - at(b) || a.localeCompare(b));
      row.forEach((s, i) => x.set(s, i - (row.length - 1) / 2));
      return row;
    });
  }

  function renderGraph(data, roots) {
    const W = 170, H = 44, GAP_X = 26, GAP_Y = 56, PAD = 20;
    if (!data.stacks.length) {
      $("graph").replaceChildren(html("p", { class: "empty", text: "No relay edges known yet." }));
      return;
    }
    const byName = new Map(data.stacks.map((s) => [s.stack, s]));
    const rows = levels(data.stacks.map((s) => s.stack), data.edges);
    const widest = Math.max(...rows.map((r) => r.length));
    const width = PAD * 2 + widest * W + (widest - 1) * GAP_X + 40;
    const height = PAD * 2 + rows.length * H + (rows.length - 1) * GAP_Y;
    const pos = new Map();
    rows.forEach((row, r) => {
      const left = (width - 40 - (row.length * W + (row.length - 1) * GAP_X)) / 2;
      row.forEach((s, i) => pos.set(s, { x: left + i * (W + GAP_X), y: PAD + r * (H + GAP_Y) }));
    });
    const counts = {};
    data.stacks.forEach((s) => { counts[s.state] = (counts[s.state] || 0) + 1; });
    const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "graph-title graph-desc" },
      svg("title", { id: "graph-title", text: `Relay graph of ${data.organization}` }),
      svg("desc", { id: "graph-desc", text: Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", ") + "." }),
      svg("defs", {}, ...["", "always"].map((kind) => svg("marker", {
        id: `arrow${kind && "-" + kind}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
      }, svg("path", { d: "M0,0 L10,5 L0,10 z", class: `arrow ${kind}` })))));
    for (const e of data.edges) {
      const a = pos.get(e.parent), b = pos.get(e.child);
      let d;
      if (b.y > a.y) {
        const x1 = a.x + W / 2, y1 = a.y + H, x2 = b.x + W / 2, y2 = b.y, dy = (y2 - y1) / 2;
        d = `M${x1},${y1} C${x1},${y1 + dy} ${x2},${y2 - dy} ${x2},${y2}`;
      } else { // a cycle: around the right-hand sides
        const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x + W, y2 = b.y + H / 2, out = Math.max(x1, x2) + 36;
        d = `M${x1},${y1} C${out},${y1} ${out},${y2} ${x2},${y2}`;
      }
      const kind = e.alwaysDeploy ? "always" : "";
      root.append(svg("g", { class: "edge", "data-parent": e.parent, "data-child": e.child },
        svg("title", { text: `${e.parent} → ${e.child}${e.alwaysDeploy ? " (alwaysDeploy)" : ""}` }),
        svg("path", { d, class: `edge-line ${kind}`, "marker-end": `url(#arrow${kind && "-" + kind})` })));
    }
    for (const [name, p] of pos) {
      const s = byName.get(name);
      const sub = `${s.state}${s.version ? ` · v${s.version}` : ""}${roots.has(name) ? " · changed" : ""}`;
      root.append(svg("g", { class: `node ${s.state}${roots.has(name) ? " root" : ""}`, "data-stack": name, "data-state": s.state,
        transform: `translate(${p.x},${p.y})` },
      svg("title", { text: `${name}: ${s.state}${s.why ? ` (${s.why})` : ""}` }),
      svg("rect", { width: W, height: H, rx: 6 }),
      svg("text", { class: "name", x: W / 2, y: 18, "text-anchor": "middle", text: clip(name, 22) }),
      svg("text", { class: "sub", x: W / 2, y: 34, "text-anchor": "middle", text: sub })));
    }
    $("graph").replaceChildren(root);
  }

  // barsOf are the deployments that count for a row of cascade c: those of its stack asked for after the
  // cascade began, up to the one that settled the row, or the one in flight while it deploys.
  function barsOf(row, stack, c, deployments) {
    const began = Date.parse(c.created);
    const mine = deployments.filter((d) => d.stack === stack && d.intentMs >= began);
    if (row.deploymentId) {
      const i = mine.findIndex((d) => d.deploymentId === row.deploymentId);
      return mine.slice(0, i + 1);
    }
    return row.state === "deploying" ? mine.filter((d) => !d.endedMs) : [];
  }

  function renderCascades(data) {
    // Keep each cascade open or closed as the reader left it; a new one opens while it runs, and the newest.
    const open = new Map([...document.querySelectorAll("details.cascade")].map((d) => [d.dataset.cascade, d.open]));
    const blocks = data.cascades.map((c, i) => {
      const id = String(c.id);
      const settled = c.stacks.filter((s) => !["waiting", "deploying"].includes(s.state)).length;
      const details = html("details", { class: "cascade", "data-cascade": id, "data-state": c.state },
        html("summary", {},
          html("strong", { text: `Cascade ${c.id} ` }),
          html("span", { class: `pill ${c.state === "running" ? "deploying" : c.state === "failed" ? "failed" : "succeeded"}`, text: c.state }),
          ` ${local(data, c.root)} version ${c.version}: ${c.cause}; began ${clock(Date.parse(c.created))}, `
            + `${settled} of ${c.stacks.length} stacks settled`),
        c.error ? html("p", { class: "cascade-error", text: c.error }) : null,
        html("div", { class: "gantt" }, gantt(data, c)));
      details.open = open.has(id) ? open.get(id) : c.state === "running" || i === 0;
      return details;
    });
    $("cascades").replaceChildren(...blocks);
    $("cascades-empty").hidden = blocks.length !== 0;
  }

  // gantt draws one lane per stack below the cascade's root, in the cascade's order: its deployments as
  // bars on a time axis from the cascade's start, and its state.
  function gantt(data, c) {
    const LABEL = 190, STATE = 150, LANE = 26, AXIS = 22, RIGHT = 260, WIDTH = 1100;
    const began = Date.parse(c.created);
    const lanes = c.stacks.map((row) => {
      const stack = local(data, row.stack);
      return { row, stack, bars: barsOf(row, stack, c, data.deployments) };
    });
    const running = c.state === "running";
    let end = running ? data.nowMs : Date.parse(c.updated);
    lanes.forEach((l) => l.bars.forEach((d) => { end = Math.max(end, d.endedMs || data.nowMs); }));
    const span = Math.max(end - began, 1000);
    const plot = WIDTH - LABEL - STATE - RIGHT;
    const x = (ms) => LABEL + STATE + ((ms - began) / span) * plot;
    const height = AXIS + lanes.length * LANE + 6;
    const chart = svg("svg", { width: WIDTH, height, viewBox: `0 0 ${WIDTH} ${height}`, role: "img", "aria-label": `Timeline of cascade ${c.id}` });

    const step = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400]
      .map((s) => s * 1000).find((s) => span / s <= 8) || 86400000;
    const axis = svg("g", { class: "axis" });
    for (let t = 0; t <= span; t += step) {
      axis.append(svg("line", { x1: x(began + t), x2: x(began + t), y1: AXIS - 4, y2: height }),
        svg("text", { x: x(began + t), y: AXIS - 8, "text-anchor": "middle", text: t === 0 ? clock(began) : `+${seconds(t)}` }));
    }
    chart.append(axis);

    lanes.forEach(({ row, stack, bars }, i) => {
      const y = AXIS + i * LANE;
      const lane = svg("g", { class: `lane ${rowClass(row.state)}`, "data-stack": stack, "data-state": row.state },
        svg("rect", { class: "band", x: 0, y, width: WIDTH, height: LANE }),
        svg("title", { text: `${stack}: ${row.state}: ${row.reason}` }),
        svg("text", { class: "label", x: 4, y: y + 17, text: clip(stack, 26) }),
        svg("text", { class: "state", x: LABEL, y: y + 17, text: row.state }));
      if (!bars.length && row.state !== "deploying") {
        lane.append(svg("text", { class: "note", x: x(began) + 4, y: y + 17, text: clip(row.reason, 90) }));
      }
      for (const d of bars) lane.append(bar(d, x, y, LANE, data.nowMs));
      chart.append(lane);
    });
    if (running) {
      chart.append(svg("g", { class: "now" },
        svg("line", { x1: x(data.nowMs), x2: x(data.nowMs), y1: AXIS - 4, y2: height }),
        svg("text", { x: x(data.nowMs) + 3, y: height - 2, text: "now" })));
    }
    return chart;
  }

  // bar is one deployment: pale from the relay's decision until Pulumi Cloud answered, then solid until it
  // ended (or now), followed by the parents' versions it covers; a link to Pulumi Cloud once it has one.
  function bar(d, x, y, lane, now) {
    const state = d.endedMs ? d.outcome : "deploying";
    const started = d.startedMs || now;
    const ended = d.endedMs || now;
    const covers = Object.entries(d.covers || {}).map(([p, v]) => `${p} v${v}`).join(", ");
    const took = d.startedMs ? seconds(ended - d.startedMs) : "not answered yet";
    const g = svg("g", { class: `bar ${state}`, "data-deployment": d.deploymentId, "data-state": state },
      svg("title", { text: `${d.deploymentId || "deployment"} of ${d.stack}: ${state}, ${took}; ${d.reason}; covers ${covers || "nothing"}` }),
      svg("rect", { class: "queued", x: x(d.intentMs), y: y + 6, width: Math.max(x(started) - x(d.intentMs), 1), height: lane - 12 }),
      svg("rect", { class: "run", x: x(started), y: y + 5, width: Math.max(x(ended) - x(started), 2), height: lane - 10, rx: 2 }),
      svg("text", { class: "covers", x: x(ended) + 6, y: y + 17, text: `${took} · covers ${covers || "nothing"}` }));
    if (!d.consoleUrl) return g;
    return svg("a", { href: d.consoleUrl, target: "_blank", rel: "noopener noreferrer", "aria-label": `Deployment ${d.deploymentId} of ${d.stack} in Pulumi Cloud` }, g);
  }

  document.addEventListener("DOMContentLoaded", () => {
    setInterval(() => {
      if ($("autorefresh").checked && !document.hidden) refresh();
    }, POLL_MS);
    refresh();
  });
})();

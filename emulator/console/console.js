// The emulator console: polls /_emulator/console/data, draws the stacks, the deployment graph, the
// deployments and the failed deliveries, and fires updates through the admin API. Plain JavaScript,
// no libraries, nothing loaded from elsewhere.
"use strict";

(() => {
  const DATA_URL = "/_emulator/console/data";
  const POLL_MS = 1000;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const SHOWN_DEPLOYMENTS = 200;

  let lastText = "";      // the data last drawn, to redraw only on change
  let lastData = null;
  let lastCascade = null; // {stack, deployed: Set of stack ids, ids: Set of deployment ids}
  let inFlight = false;
  let again = false;      // a refresh was asked for while one was under way

  const $ = (id) => document.getElementById(id);

  // el builds an element: attrs holds attributes ("text" sets textContent), children are nodes or strings.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    return fill(e, attrs, children);
  }
  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG_NS, tag);
    return fill(e, attrs, children);
  }
  function fill(e, attrs, children) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") e.textContent = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) {
      if (c !== null && c !== undefined) e.append(c);
    }
    return e;
  }

  const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : "");
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

  function scopeName(ref) {
    if (!ref || !ref.scope) return "";
    if (ref.scope === "environment") return `env ${ref.organizationName}/${ref.projectName}/${ref.envName}`;
    if (ref.scope === "stack") return `${ref.organizationName}/${ref.projectName}/${ref.stackName}`;
    return ref.organizationName;
  }

  function setStatus(text, isError) {
    const s = $("status");
    s.textContent = text;
    s.classList.toggle("error", !!isError);
  }

  async function refresh() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    try {
      const res = await fetch(DATA_URL, { cache: "no-store" });
      const text = await res.text();
      if (!res.ok) throw new Error(`${res.status}: ${text}`);
      if (text !== lastText) {
        lastText = text;
        lastData = JSON.parse(text);
        render(lastData);
      }
      $("refreshed").textContent = `Data as of ${new Date().toLocaleTimeString([], { hour12: false })}`;
    } catch (err) {
      $("refreshed").textContent = `Could not load the data (${err.message}); is the emulator running?`;
    } finally {
      inFlight = false;
      if (again) { again = false; refresh(); }
    }
  }

  function render(data) {
    // Redrawing replaces the buttons; keep the keyboard focus on the one that had it.
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.fire : undefined;
    renderGraph(data.graph);
    renderStacks(data.stacks);
    renderWebhooks(data.graph);
    renderDeployments(data.deployments, data.deploymentsTotal);
    renderMode(data.mode);
    renderFailed(data.failedDeliveries, data.failedDeliveriesTotal);
    if (focused) {
      const b = document.querySelector(`button[data-fire="${CSS.escape(focused)}"]`);
      if (b) b.focus();
    }
  }

  function replaceRows(tableId, rows, emptyId) {
    $(tableId).tBodies[0].replaceChildren(...rows);
    $(tableId).hidden = rows.length === 0;
    $(emptyId).hidden = rows.length !== 0;
  }

  function renderStacks(stacks) {
    replaceRows("stacks", stacks.map((s) => el("tr", { "data-stack": s.id },
      el("th", { scope: "row", text: s.id }),
      el("td", { class: "num", text: s.version }),
      el("td", {}, s.deploymentSettings ? el("span", { class: "pill ok", text: "yes" }) : el("span", { class: "pill bad", text: "none" })),
      el("td", { class: "num", text: s.deployments }),
      el("td", { text: time(s.lastUpdate) || "never" }),
      el("td", {}, el("button", { type: "button", "data-fire": s.id, "aria-label": `Fire an update of ${s.id}`, text: "Fire update" })),
    )), "stacks-empty");
  }

  function edgeState(e) {
    if (e.dangling === "missing") return el("span", { class: "pill bad", text: "target missing" });
    if (e.dangling === "no-settings") return el("span", { class: "pill bad", text: "target has no deployment settings" });
    if (!e.active) return el("span", { class: "pill off", text: "inactive" });
    return el("span", { class: "pill ok", text: "active" });
  }

  function renderWebhooks(graph) {
    const label = new Map(graph.nodes.map((n) => [n.id, n.kind === "environment" ? `env ${n.id.slice(4)}` : n.id]));
    replaceRows("webhooks", graph.edges.map((e) => el("tr", { "data-from": e.from, "data-to": e.to },
      el("td", { text: label.get(e.from) || e.from }),
      el("td", { text: e.webhook.name, title: e.displayName }),
      el("td", { text: e.to }),
      el("td", {}, edgeState(e)),
    )), "webhooks-empty");
  }

  function cause(d) {
    const c = d.cause || {};
    if (c.kind === "webhook") return `webhook ${c.webhook.name} of ${scopeName(c.webhook)} on ${c.event}`;
    if (c.kind === "api") return "API request";
    return c.kind || "";
  }

  const statusClass = (status) => (status === "succeeded" ? "ok" : status === "failed" ? "bad" : "off");

  function renderDeployments(deps, total) {
    const recent = lastCascade ? lastCascade.ids : new Set();
    const first = total - deps.length; // the data holds the latest deployments only
    const rows = [];
    for (let i = deps.length - 1; i >= 0 && rows.length < SHOWN_DEPLOYMENTS; i--) {
      const d = deps[i];
      const id = `${d.orgName}/${d.projectName}/${d.stackName}`;
      rows.push(el("tr", { "data-stack": id, "data-id": d.id, class: recent.has(d.id) ? "recent" : null },
        el("td", { class: "num", text: first + i + 1 }),
        el("th", { scope: "row", text: id }),
        el("td", { class: "num", text: d.version }),
        el("td", {}, el("span", { class: `pill ${statusClass(d.status)}`, text: `${d.operation} ${d.status}` })),
        el("td", { text: cause(d) }),
        el("td", { text: time(d.created) }),
        el("td", { text: time(d.started) }),
        el("td", { text: time(d.finished) }),
      ));
    }
    replaceRows("deployments", rows, "deployments-empty");
    $("deployments-count").textContent = total ? `(${total}, newest first${total > rows.length ? `, latest ${rows.length} shown` : ""})` : "";
  }

  function renderMode(mode) {
    const text = {
      synchronous: "Deployments end the moment they are created.",
      manual: "Manual deployments: they wait until a test steps them.",
      timed: `Timed deployments: each runs on its own for ${mode && mode.durationMs} ms unless its stack says otherwise, one at a time per stack.`,
    }[mode && mode.mode];
    const cap = mode && mode.mode !== "synchronous" && mode.concurrency > 0
      ? ` At most ${mode.concurrency} run at once per organization.` : "";
    $("deployments-mode").textContent = text ? text + cap : "";
  }

  function renderFailed(list, total) {
    const rows = list.slice().reverse().map((d) => el("tr", { "data-id": d.id },
      el("td", { text: time(d.time) }),
      el("td", { text: `${d.webhook.name} of ${scopeName(d.webhook)}` }),
      el("td", { text: d.kind }),
      el("td", { text: d.requestUrl }),
      el("td", { class: "num", text: d.responseCode }),
      el("td", { class: "body", text: d.responseBody }),
    ));
    replaceRows("failed", rows, "failed-empty");
    $("failed-count").textContent = total ? `(${total}, newest first)` : "";
  }

  // layout places the graph's nodes in rows: a node sits one row below the lowest of the nodes that
  // deploy it, edges that close a cycle aside, and each row is ordered by where its parents are.
  // Stacks with no webhook either way go in a last row of their own.
  function layout(nodes, edges) {
    const out = new Map(nodes.map((n) => [n.id, []]));
    const linked = new Set();
    for (const e of edges) {
      if (!out.has(e.from) || !out.has(e.to)) continue;
      out.get(e.from).push(e.to);
      linked.add(e.from).add(e.to);
    }
    // Depth-first search marks the edges that close a cycle, so the rest form a DAG.
    const back = new Set();
    const state = new Map(); // 1: on the path, 2: done
    const visit = (id) => {
      state.set(id, 1);
      for (const to of out.get(id)) {
        if (state.get(to) === 1) back.add(`${id}\n${to}`);
        else if (!state.get(to)) visit(to);
      }
      state.set(id, 2);
    };
    for (const n of nodes) if (!state.get(n.id)) visit(n.id);

    const parents = new Map(nodes.map((n) => [n.id, []]));
    for (const e of edges) {
      if (out.has(e.from) && out.has(e.to) && e.from !== e.to && !back.has(`${e.from}\n${e.to}`)) parents.get(e.to).push(e.from);
    }
    const level = new Map();
    const levelOf = (id) => {
      if (!level.has(id)) {
        level.set(id, 0); // guards against anything the back-edge pass missed
        level.set(id, Math.max(0, ...parents.get(id).map((p) => levelOf(p) + 1)));
      }
      return level.get(id);
    };
    const rows = [];
    const loose = [];
    for (const n of nodes) {
      if (!linked.has(n.id)) { loose.push(n.id); continue; }
      const l = levelOf(n.id);
      (rows[l] = rows[l] || []).push(n.id);
    }
    const x = new Map();
    const compact = rows.filter(Boolean);
    compact.forEach((row, r) => {
      if (r > 0) {
        const bary = (id) => {
          const ps = parents.get(id).filter((p) => x.has(p));
          return ps.length ? ps.reduce((a, p) => a + x.get(p), 0) / ps.length : Infinity;
        };
        const order = new Map(row.map((id, i) => [id, i]));
        row.sort((a, b) => (bary(a) - bary(b)) || (order.get(a) - order.get(b)));
      }
      row.forEach((id, i) => x.set(id, i - (row.length - 1) / 2));
    });
    return { rows: compact, loose };
  }

  function renderGraph(graph) {
    const NODE_W = 176, NODE_H = 46, GAP_X = 28, GAP_Y = 62, PAD = 24, PER_ROW = 6;
    const byId = new Map(graph.nodes.map((n) => [n.id, n]));
    const { rows, loose } = layout(graph.nodes, graph.edges);
    const lines = rows.slice();
    for (let i = 0; i < loose.length; i += PER_ROW) lines.push(loose.slice(i, i + PER_ROW));
    const widest = Math.max(1, ...lines.map((r) => r.length));
    const width = PAD * 2 + widest * NODE_W + (widest - 1) * GAP_X + 40;
    const height = PAD * 2 + lines.length * NODE_H + Math.max(0, lines.length - 1) * GAP_Y + (loose.length ? 18 : 0);
    const pos = new Map();
    lines.forEach((row, r) => {
      const rowW = row.length * NODE_W + (row.length - 1) * GAP_X;
      const left = (width - 40 - rowW) / 2;
      const top = PAD + r * (NODE_H + GAP_Y) + (r >= rows.length && loose.length ? 18 : 0);
      row.forEach((id, i) => pos.set(id, { x: left + i * (NODE_W + GAP_X), y: top }));
    });

    const deployed = lastCascade ? lastCascade.deployed : new Set();
    const fired = lastCascade ? lastCascade.stack : null;
    const described = graph.edges.map((e) => `${e.from} deploys ${e.to}${e.active ? "" : " (inactive)"}${e.dangling ? ` (dangling: ${e.dangling})` : ""}`);

    const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "graph-title graph-desc" },
      svg("title", { id: "graph-title", text: "Deployment graph" }),
      svg("desc", { id: "graph-desc", text: graph.edges.length ? `${described.join("; ")}.` : "No deployment webhooks." }),
      svg("defs", {}, ...["", "inactive", "dangling"].map((kind) => svg("marker", {
        id: `arrow${kind ? "-" + kind : ""}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
      }, svg("path", { d: "M0,0 L10,5 L0,10 z", class: `arrow ${kind}` })))),
    );
    if (rows.length && loose.length) {
      root.append(svg("text", { class: "group-label", x: PAD, y: PAD + rows.length * (NODE_H + GAP_Y) + 8, text: "Stacks no webhook connects:" }));
    }

    for (const e of graph.edges) {
      const a = pos.get(e.from), b = pos.get(e.to);
      if (!a || !b) continue;
      let d;
      if (e.from === e.to) { // a stack that deploys itself: a loop on its right
        const x = a.x + NODE_W, y = a.y + NODE_H / 2;
        d = `M${x},${y - 8} C${x + 40},${y - 30} ${x + 40},${y + 30} ${x},${y + 8}`;
      } else if (b.y > a.y) { // downwards, bottom centre to top centre
        const x1 = a.x + NODE_W / 2, y1 = a.y + NODE_H, x2 = b.x + NODE_W / 2, y2 = b.y;
        const dy = (y2 - y1) / 2;
        d = `M${x1},${y1} C${x1},${y1 + dy} ${x2},${y2 - dy} ${x2},${y2}`;
      } else { // same row or upwards (a cycle): around the right-hand sides
        const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x + NODE_W, y2 = b.y + NODE_H / 2;
        const out = Math.max(x1, x2) + 36;
        d = `M${x1},${y1} C${out},${y1} ${out},${y2} ${x2},${y2}`;
      }
      const kind = e.dangling ? "dangling" : (!e.active ? "inactive" : "");
      root.append(svg("g", { class: "edge", "data-from": e.from, "data-to": e.to, "data-state": kind || "active" },
        svg("title", { text: `${e.from} → ${e.to}: webhook ${e.webhook.name}${e.active ? "" : " (inactive)"}${e.dangling ? `, dangling (${e.dangling})` : ""}${e.filters.length ? `; filters ${e.filters.join(", ")}` : ""}` }),
        svg("path", { d, class: `edge-line ${kind}`, "marker-end": `url(#arrow${kind ? "-" + kind : ""})` })));
    }

    for (const [id, p] of pos) {
      const n = byId.get(id);
      const classes = ["node", n.kind];
      let sub = `${n.org}/${n.project}`;
      if (n.kind === "environment") sub = `environment · ${n.org}/${n.project}`;
      if (n.kind === "missing") sub = "missing stack";
      if (n.kind === "stack" && !n.deploymentSettings) { classes.push("nosettings"); sub = "no deployment settings"; }
      if (id === fired) classes.push("fired");
      else if (deployed.has(id)) classes.push("deployed");
      root.append(svg("g", { class: classes.join(" "), "data-node": id, transform: `translate(${p.x},${p.y})` },
        svg("title", { text: `${n.kind === "environment" ? "environment" : "stack"} ${id.replace(/^env:/, "")}${n.kind === "missing" ? " (does not exist)" : ""}` }),
        svg("rect", { width: NODE_W, height: NODE_H, rx: n.kind === "environment" ? 22 : 6 }),
        svg("text", { class: "name", x: NODE_W / 2, y: 19, "text-anchor": "middle", text: clip(n.name, 22) }),
        svg("text", { class: "sub", x: NODE_W / 2, y: 35, "text-anchor": "middle", text: clip(sub, 28) })));
    }
    $("graph").replaceChildren(graph.nodes.length ? root : el("p", { class: "empty", text: "No stacks yet." }));
  }

  const clip = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

  async function fire(button) {
    const id = button.dataset.fire;
    const [org, project, stack] = id.split("/").map(encodeURIComponent);
    button.disabled = true;
    setStatus(`Updating ${id}…`);
    try {
      const res = await fetch(`/_emulator/stacks/${org}/${project}/${stack}/update`, { method: "POST" });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(body.message || `HTTP ${res.status}`);
      const deps = body.deployments || [];
      const names = deps.map((d) => d.stackName);
      lastCascade = {
        stack: id,
        deployed: new Set(deps.map((d) => `${d.orgName}/${d.projectName}/${d.stackName}`)),
        ids: new Set(deps.map((d) => d.id)),
      };
      const failed = (body.failedDeliveries || []).length;
      // Timed and manual deployments are only queued by the time the answer comes.
      const verb = deps.some((d) => d.status === "not-started") ? "queued" : "ran";
      setStatus(`Updated ${id}: the cascade ${verb} ${plural(deps.length, "deployment", "deployments")}` +
        `${names.length ? ` (${names.join(", ")})` : ""}, ${plural(failed, "failed delivery", "failed deliveries")}` +
        `${body.truncated ? "; it was cut short at the cap, which means a webhook cycle" : ""}.`, body.truncated);
    } catch (err) {
      setStatus(`Updating ${id} failed: ${err.message}`, true);
    } finally {
      button.disabled = false;
      lastText = ""; // redraw with the cascade highlighted
      await refresh();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("stacks").addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-fire]");
      if (b && !b.disabled) fire(b);
    });
    setInterval(() => {
      if ($("autorefresh").checked && !document.hidden) refresh();
    }, POLL_MS);
    refresh();
  });
})();

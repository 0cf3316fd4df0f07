// The interactive graph page of nablagraph.viz.page: hand-written, no dependency.
//
// The graph (nodes with their layout, values, gradients, rules and equations; the
// engine's backward order; the layers) is the JSON in #ng-data.  It is drawn on one
// canvas: only what is in view, and without text when zoomed far out, so 10,000
// nodes pan smoothly.  window.nablagraph exposes the state for tests and scripts.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("ng-data").textContent);
  const nodes = data.nodes, order = data.order, C = data.colours;
  const canvas = document.getElementById("view");
  const screen = canvas.getContext("2d");
  let ctx = screen;                            // where drawing goes: the screen, or the cache
  const H = 40, PAD = 14, HEAD = 20;          // box height, cluster padding and title bar
  const byLayer = new Map(data.layers.map(function (l) { return [l.key, l]; }));
  const state = {
    scale: 1, tx: 0, ty: 0, selected: null, hover: null, step: -1, playing: null,
    collapsed: new Set(), matches: new Set(), frames: 0, lastDraw: 0,
  };
  const timing = { start: performance.now(), firstDraw: null };

  // ---------------------------------------------------------------- geometry
  const edges = [];                            // [parent, child, bends x0, y0, x1, y1 …]
  nodes.forEach(function (n) { n.parents.forEach(function (p, k) { edges.push([p, n.id, n.bends[k]]); }); });
  const consumers = nodes.map(function () { return []; });
  edges.forEach(function (e) { consumers[e[0]].push(e[1]); });
  data.layers.forEach(function (l) {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    l.nodes.forEach(function (i) {
      const n = nodes[i];
      x0 = Math.min(x0, n.x - n.w / 2); x1 = Math.max(x1, n.x + n.w / 2);
      y0 = Math.min(y0, n.y - H / 2); y1 = Math.max(y1, n.y + H / 2);
    });
    l.box = { x0: x0 - PAD, y0: y0 - PAD - HEAD, x1: x1 + PAD, y1: y1 + PAD };
  });
  const bounds = nodes.reduce(function (b, n) {
    return { x0: Math.min(b.x0, n.x - n.w / 2), y0: Math.min(b.y0, n.y - H / 2),
             x1: Math.max(b.x1, n.x + n.w / 2), y1: Math.max(b.y1, n.y + H / 2) };
  }, { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity });
  data.layers.forEach(function (l) {
    if (!l.nodes.length) return;
    bounds.x0 = Math.min(bounds.x0, l.box.x0); bounds.y0 = Math.min(bounds.y0, l.box.y0);
    bounds.x1 = Math.max(bounds.x1, l.box.x1); bounds.y1 = Math.max(bounds.y1, l.box.y1);
  });

  // A node inside a collapsed layer is drawn as its layer's box.
  function hiddenIn(n) {
    return n.layer !== null && state.collapsed.has(n.layer) ? byLayer.get(n.layer) : null;
  }
  function anchor(i) {                        // where edges of node i start and end
    const n = nodes[i], l = hiddenIn(n);
    if (l) return { x: (l.box.x0 + l.box.x1) / 2, top: l.box.y0, bottom: l.box.y1, layer: l };
    return { x: n.x, top: n.y - H / 2, bottom: n.y + H / 2, layer: null };
  }
  function toScreen(x, y) { return { x: x * state.scale + state.tx, y: y * state.scale + state.ty }; }
  function toWorld(x, y) { return { x: (x - state.tx) / state.scale, y: (y - state.ty) / state.scale }; }

  // ---------------------------------------------------------------- drawing
  let pending = false;
  function requestDraw() {
    if (!pending) { pending = true; requestAnimationFrame(function () { pending = false; draw(); }); }
  }
  function resize() {
    const r = canvas.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(r.width * dpr));
    canvas.height = Math.max(1, Math.round(r.height * dpr));
    requestDraw();
  }
  function view() {
    const r = canvas.getBoundingClientRect(), a = toWorld(0, 0), b = toWorld(r.width, r.height);
    return { x0: a.x, y0: a.y, x1: b.x, y1: b.y };
  }
  function visible(v, x0, y0, x1, y1) { return x1 >= v.x0 && x0 <= v.x1 && y1 >= v.y0 && y0 <= v.y1; }
  function roundRect(x, y, w, h, r) {
    ctx.moveTo(x + r, y); ctx.arcTo(x + w, y, x + w, y + h, r); ctx.arcTo(x + w, y + h, x, y + h, r);
    ctx.arcTo(x, y + h, x, y, r); ctx.arcTo(x, y, x + w, y, r); ctx.closePath();
  }
  function fillOf(n) {
    if (n.op !== null && n.kind !== "output") return n.opKind === "cost" ? C.cost : C.op;
    return C[n.kind] || "#fff";
  }
  function currentNode() { return state.step >= 0 ? order[state.step] : null; }

  function drawLayers(v, text) {
    data.layers.forEach(function (l) {
      const b = l.box;
      if (!l.nodes.length || !visible(v, b.x0, b.y0, b.x1, b.y1)) return;
      const collapsed = state.collapsed.has(l.key);
      ctx.beginPath(); roundRect(b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0, 10);
      ctx.fillStyle = collapsed ? "#e4e4ee" : C.layer; ctx.fill();
      ctx.lineWidth = 1.2 / Math.max(state.scale, 0.05); ctx.strokeStyle = C.layer_border; ctx.stroke();
      if (text) {
        ctx.fillStyle = "#333"; ctx.font = "bold 12px system-ui, sans-serif"; ctx.textAlign = "left";
        ctx.fillText((collapsed ? "▸ " : "▾ ") + l.title + (collapsed ? "  (" + l.nodes.length + " nodes)" : ""),
                     b.x0 + 8, b.y0 + 14);
        if (collapsed) {                       // what the box holds, in the middle
          ctx.font = "12px system-ui, sans-serif"; ctx.textAlign = "center"; ctx.fillStyle = "#444";
          const names = l.nodes.map(function (i) { return nodes[i].title; });
          for (let k = 0; k < names.length; k += 4) {
            ctx.fillText(names.slice(k, k + 4).join(" · "), (b.x0 + b.x1) / 2,
                         (b.y0 + b.y1) / 2 + 16 * (k / 4 - (Math.ceil(names.length / 4) - 1) / 2));
          }
        }
      }
    });
  }
  function inside(l, x, y) { return l !== null && x >= l.box.x0 && x <= l.box.x1 && y >= l.box.y0 && y <= l.box.y1; }
  function edgePath(a, b, bends) {
    ctx.moveTo(a.x, a.bottom);
    for (let k = 0; k < bends.length; k += 2) {
      // a collapsed layer's box covers its rows: the edge skips bends under it
      if (!inside(a.layer, bends[k], bends[k + 1]) && !inside(b.layer, bends[k], bends[k + 1])) ctx.lineTo(bends[k], bends[k + 1]);
    }
    ctx.lineTo(b.x, b.top);
  }
  function eachEdge(v, only, fn) {             // the visible edges (into node `only` if given)
    edges.forEach(function (e) {
      if (only !== null && e[1] !== only) return;
      const a = anchor(e[0]), b = anchor(e[1]), bends = e[2];
      if (a.layer !== null && a.layer === b.layer) return;
      let x0 = Math.min(a.x, b.x), x1 = Math.max(a.x, b.x);
      for (let k = 0; k < bends.length; k += 2) { x0 = Math.min(x0, bends[k]); x1 = Math.max(x1, bends[k]); }
      if (visible(v, x0, a.bottom, x1, b.top)) fn(a, b, bends);
    });
  }
  function drawEdges(v) {
    ctx.beginPath();
    eachEdge(v, null, edgePath);
    ctx.lineWidth = 1 / Math.max(state.scale, 0.2); ctx.strokeStyle = "#888"; ctx.stroke();
  }
  function drawNodes(v, text) {
    const groups = new Map();
    nodes.forEach(function (n) {
      if (hiddenIn(n) || !visible(v, n.x - n.w / 2, n.y - H / 2, n.x + n.w / 2, n.y + H / 2)) return;
      const f = fillOf(n);
      if (!groups.has(f)) groups.set(f, []);
      groups.get(f).push(n);
    });
    const lw = 1 / Math.max(state.scale, 0.2);
    groups.forEach(function (list, fill) {
      ctx.beginPath();
      list.forEach(function (n) {
        if (text) roundRect(n.x - n.w / 2, n.y - H / 2, n.w, H, n.op === null ? 3 : 12);
        else ctx.rect(n.x - n.w / 2, n.y - H / 2, n.w, H);
      });
      ctx.fillStyle = fill; ctx.fill();
      ctx.lineWidth = lw; ctx.strokeStyle = "#555"; ctx.stroke();
    });
    if (!text) return;
    ctx.textAlign = "center";
    groups.forEach(function (list) {
      list.forEach(function (n) {
        ctx.fillStyle = "#111"; ctx.font = "bold 12px system-ui, sans-serif";
        ctx.fillText(n.title, n.x, n.y - 3);
        ctx.fillStyle = "#555"; ctx.font = "11px system-ui, sans-serif";
        ctx.fillText(n.second, n.x, n.y + 12);
      });
    });
  }
  // What changes while stepping, selecting and searching, drawn over the rest each frame.
  function drawOverlay(v) {
    const cur = currentNode();
    if (cur !== null) {                        // the gradient leaving the current node
      ctx.beginPath();
      eachEdge(v, cur, edgePath);
      ctx.setLineDash([6, 4]); ctx.lineWidth = 3 / Math.max(state.scale, 0.2);
      ctx.strokeStyle = C.gradient; ctx.stroke(); ctx.setLineDash([]);
      const l = hiddenIn(nodes[cur]);
      if (l) {
        ctx.beginPath(); roundRect(l.box.x0, l.box.y0, l.box.x1 - l.box.x0, l.box.y1 - l.box.y0, 10);
        ctx.lineWidth = 4 / Math.max(state.scale, 0.05); ctx.strokeStyle = C.highlight; ctx.stroke();
      }
    }
    nodes.forEach(function (n) {
      let ring = null;
      if (n.id === cur) ring = [C.highlight, 5];
      else if (n.id === state.selected) ring = ["#1f78b4", 3];
      else if (state.matches.has(n.id)) ring = ["#f1a340", 4];
      else if (n.step !== null && state.step >= 0 && n.step < state.step) ring = [C.gradient, 2];
      else if (n.id === state.hover) ring = ["#555", 2];
      if (ring === null || hiddenIn(n) || !visible(v, n.x - n.w / 2, n.y - H / 2, n.x + n.w / 2, n.y + H / 2)) return;
      ctx.beginPath(); roundRect(n.x - n.w / 2 - 3, n.y - H / 2 - 3, n.w + 6, H + 6, 8);
      ctx.lineWidth = ring[1] / Math.max(state.scale, 0.05); ctx.strokeStyle = ring[0]; ctx.stroke();
    });
  }
  // Zoomed out (no text), the whole graph is drawn once into a bitmap that panning only
  // copies, as long as it is at most 4096 px a side; it is redrawn when the zoom or the
  // collapsed layers change.
  let cache = null;
  function cached(dpr) {
    const w = Math.ceil((bounds.x1 - bounds.x0) * state.scale * dpr) + 2;
    const h = Math.ceil((bounds.y1 - bounds.y0) * state.scale * dpr) + 2;
    if (w > 4096 || h > 4096) return null;
    const key = [state.scale, dpr, Array.from(state.collapsed).sort().join(",")].join("|");
    if (cache !== null && cache.key === key) return cache;
    const off = document.createElement("canvas");
    off.width = w; off.height = h;
    ctx = off.getContext("2d");
    ctx.setTransform(dpr * state.scale, 0, 0, dpr * state.scale, 1 - bounds.x0 * state.scale * dpr,
                     1 - bounds.y0 * state.scale * dpr);
    const all = { x0: bounds.x0, y0: bounds.y0, x1: bounds.x1, y1: bounds.y1 };
    drawLayers(all, false); drawEdges(all); drawNodes(all, false);
    ctx = screen;
    cache = { key: key, canvas: off };
    return cache;
  }
  function draw() {
    const t0 = performance.now(), dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const v = view(), text = state.scale >= 0.45, bitmap = text ? null : cached(dpr);
    if (bitmap !== null) {
      ctx.drawImage(bitmap.canvas, Math.round(dpr * (state.tx + bounds.x0 * state.scale)) - 1,
                    Math.round(dpr * (state.ty + bounds.y0 * state.scale)) - 1);
    }
    ctx.setTransform(dpr * state.scale, 0, 0, dpr * state.scale, dpr * state.tx, dpr * state.ty);
    if (bitmap === null) { drawLayers(v, text); drawEdges(v); drawNodes(v, text); }
    state.cached = bitmap !== null;
    drawOverlay(v);
    state.frames += 1;
    state.lastDraw = performance.now() - t0;
    if (timing.firstDraw === null) timing.firstDraw = performance.now();
  }

  // ---------------------------------------------------------------- view
  function fit() {
    const r = canvas.getBoundingClientRect(), w = bounds.x1 - bounds.x0, h = bounds.y1 - bounds.y0;
    state.scale = Math.min(1.5, (r.width - 40) / Math.max(w, 1), (r.height - 40) / Math.max(h, 1));
    // A very tall or wide graph: fit the narrow side (readable) and start at the root.
    if (state.scale < 0.08) state.scale = Math.min(1, (r.width - 40) / Math.max(w, 1));
    state.tx = r.width / 2 - ((bounds.x0 + bounds.x1) / 2) * state.scale;
    state.ty = h * state.scale <= r.height ? r.height / 2 - ((bounds.y0 + bounds.y1) / 2) * state.scale
      : r.height - 20 - bounds.y1 * state.scale;
    requestDraw();
  }
  function zoomAt(sx, sy, factor) {
    const w = toWorld(sx, sy);
    state.scale = Math.min(8, Math.max(0.002, state.scale * factor));
    state.tx = sx - w.x * state.scale; state.ty = sy - w.y * state.scale;
    requestDraw();
  }
  function centreOn(i) {
    const a = anchor(i), r = canvas.getBoundingClientRect(), s = toScreen(a.x, (a.top + a.bottom) / 2);
    if (s.x < 40 || s.y < 40 || s.x > r.width - 40 || s.y > r.height - 40) {
      if (state.scale < 0.45) state.scale = 1;
      state.tx = r.width / 2 - a.x * state.scale; state.ty = r.height / 2 - ((a.top + a.bottom) / 2) * state.scale;
    }
    requestDraw();
  }
  function nodeAt(sx, sy) {
    const w = toWorld(sx, sy);
    for (let i = nodes.length - 1; i >= 0; i--) {
      const n = nodes[i];
      if (!hiddenIn(n) && Math.abs(w.x - n.x) <= n.w / 2 && Math.abs(w.y - n.y) <= H / 2) return n.id;
    }
    return null;
  }
  function layerTitleAt(sx, sy) {
    const w = toWorld(sx, sy);
    for (const l of data.layers) {
      const b = l.box;
      if (l.nodes.length && w.x >= b.x0 && w.x <= b.x1 && w.y >= b.y0 &&
          w.y <= (state.collapsed.has(l.key) ? b.y1 : b.y0 + HEAD)) return l.key;
    }
    return null;
  }

  // ---------------------------------------------------------------- panel
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; });
  }
  function num(v) {
    if (typeof v === "string") return v;
    if (v === 0) return "0";
    const a = Math.abs(v);
    return (a >= 1e5 || a < 1e-3) ? v.toExponential(3) : String(+v.toPrecision(5));
  }
  function row(field, label, html, cls) {
    return '<tr data-field="' + field + '"><th>' + esc(label) + '</th><td class="' + (cls || "") + '">' + html + "</td></tr>";
  }
  function summaryRows(prefix, s, cls) {
    if (!s) return "";
    const more = s.size > s.preview.length ? ", … (" + s.size + " entries)" : "";
    let out = row(prefix + "-preview", prefix === "grad" ? "its entries" : "value",
                  "[" + s.preview.map(num).join(", ") + more + "]", "num " + cls);
    if (s.min !== undefined) {
      out += row(prefix + "-summary", "summary", "min " + num(s.min) + " · max " + num(s.max) +
                 " · mean " + num(s.mean) + " · ‖·‖ " + num(s.norm), "num " + cls);
    }
    return out;
  }
  function showNode(i) {
    const n = nodes[i], layer = n.layer === null ? null : byLayer.get(n.layer);
    let h = '<h3 id="panel-title">' + esc(n.title) + "</h3><table>";
    h += row("name", "name", esc(n.name === null ? "—" : n.name));
    if (n.notation) h += row("notation", "notes' name", esc(n.notation));
    h += row("kind", "kind", esc(data.kinds[n.kind] || n.kind));
    h += row("op", "op", n.op === null ? "— (a leaf)" : esc(n.op) + (n.opNote ? ' <span class="note">(' + esc(n.opNote) + ")</span>" : ""));
    h += row("shape", "shape", esc("(" + n.shape.join(", ") + (n.shape.length === 1 ? "," : "") + ")"));
    h += row("dtype", "dtype", esc(n.dtype));
    if (layer) h += row("layer", "layer", esc(layer.title));
    if (n.valuesFreed) h += row("value-freed", "value", "freed by backward() (nothing else held the tensor)");
    h += summaryRows("value", n.value, "");
    if (n.grad) {
      h += row("grad-symbol", "gradient", esc(n.gradSymbol), "grad");
      h += summaryRows("grad", n.grad, "grad");
    } else {
      h += row("grad-symbol", "gradient", !n.requiresGrad ? "none: it does not require a gradient"
               : data.afterBackward ? "not kept by backward() (z.retain_grad() keeps it; or build the page before backward())"
               : "none arrives (the root does not depend on it)");
    }
    if (n.step !== null) h += row("step", "backward step", String(n.step + 1) + " of " + order.length);
    if (n.rule) h += row("rule", "VJP rule", esc(n.rule), "eq");
    h += "</table>";
    if (n.equations.length) {
      h += '<h2>In the notes</h2><div id="panel-equations">' +
        n.equations.map(function (e) { return '<div class="eq">' + esc(e) + "</div>"; }).join("") + "</div>";
    }
    document.getElementById("panel").innerHTML = h;
  }
  function showSummary() {
    let h = '<h3 id="panel-title">' + esc(data.title) + "</h3>";
    h += "<p>" + nodes.length + " tensors, " + edges.length + " edges, " + data.layers.length +
      " layers; the backward pass visits " + order.length + " of them.</p>";
    if (data.seed) h += '<p class="note">The root is not one number: its gradient is seeded with ' + esc(data.seed) + ".</p>";
    if (data.afterBackward) h += '<p class="note" id="after-backward">Drawn after backward(): the gradients shown are those ' +
      "backward() kept (the parameters' .grad and tensors kept with retain_grad()); the values of tensors nothing else " +
      "held were freed. Build the page before backward() to see every gradient.</p>";
    h += '<p class="note">Click a node to inspect it. Drag to pan, wheel to zoom. ' +
      "Step the backward pass with ◀ ▶ (or the arrow keys): nodes light up in the engine's own order " +
      "and show the gradient arriving at each. Click a layer's title to collapse it.</p>";
    document.getElementById("panel").innerHTML = h;
  }
  function select(i) {
    state.selected = i;
    if (i === null) showSummary(); else showNode(i);
    requestDraw();
  }

  // ---------------------------------------------------------------- stepper
  function status() {
    const el = document.getElementById("step-status");
    if (!order.length) { el.textContent = "no backward pass: nothing requires a gradient"; return; }
    if (state.step < 0) { el.textContent = "backward: " + order.length + " steps, press next ▶"; return; }
    const n = nodes[order[state.step]], g = n.grad;
    el.textContent = "step " + (state.step + 1) + " / " + order.length + ": " + n.title + " · " +
      (g ? n.gradSymbol + (g.size === 1 ? " = " + num(g.preview[0]) : ", ‖·‖ = " + num(g.norm)) : "no gradient");
  }
  function goTo(k) {
    state.step = Math.max(-1, Math.min(order.length - 1, k));
    status();
    if (state.step >= 0) { select(order[state.step]); centreOn(order[state.step]); } else requestDraw();
  }
  function play() {
    const b = document.getElementById("step-play");
    if (state.playing) { clearInterval(state.playing); state.playing = null; b.textContent = "play"; b.setAttribute("aria-pressed", "false"); return; }
    if (state.step >= order.length - 1) goTo(-1);
    b.textContent = "pause"; b.setAttribute("aria-pressed", "true");
    state.playing = setInterval(function () {
      if (state.step >= order.length - 1) { play(); return; }
      goTo(state.step + 1);
    }, 700);
  }

  // ---------------------------------------------------------------- search and layers
  function search(q) {
    q = q.trim().toLowerCase();
    state.matches = new Set();
    const box = document.getElementById("search-results");
    if (q) {
      nodes.forEach(function (n) {
        const hay = [n.title, n.name, n.notation, n.op].filter(Boolean).join(" ").toLowerCase();
        if (hay.indexOf(q) >= 0) state.matches.add(n.id);
      });
    }
    const found = Array.from(state.matches);
    document.getElementById("search-count").textContent = q ? found.length + " found" : "";
    box.innerHTML = found.slice(0, 40).map(function (i) {
      return '<button data-node="' + i + '">' + esc(nodes[i].title) + " · " + esc(nodes[i].second) + "</button>";
    }).join("");
    box.hidden = !q || !found.length;
    requestDraw();
    return found;
  }
  function toggleLayer(key, collapse) {
    const on = collapse === undefined ? !state.collapsed.has(key) : collapse;
    if (on) state.collapsed.add(key); else state.collapsed.delete(key);
    const cb = document.querySelector('#layer-list input[data-layer="' + key + '"]');
    if (cb) cb.checked = on;
    requestDraw();
  }
  function buildSide() {
    const list = document.getElementById("layer-list");
    list.innerHTML = data.layers.length ? data.layers.map(function (l) {
      return '<label><input type="checkbox" data-layer="' + l.key + '"> collapse ' + esc(l.title) + "</label>";
    }).join("") : '<span class="note">no layers in this graph</span>';
    list.addEventListener("change", function (e) { toggleLayer(+e.target.dataset.layer, e.target.checked); });
    document.getElementById("collapse-all").hidden = document.getElementById("expand-all").hidden = !data.layers.length;
    const legend = [["parameter", C.parameter], ["input", C.input], ["target", C.target],
      ["constant", C.constant], ["output", C.output]].map(function (k) {
      return '<div><span class="swatch" style="background:' + k[1] + '"></span>' + esc(data.kinds[k[0]]) + "</div>";
    });
    legend.push('<div><span class="swatch" style="background:' + C.op + '"></span>the output of an op (its name below)</div>');
    legend.push('<div><span class="swatch" style="background:' + C.cost + '"></span>the output of a cost op</div>');
    legend.push('<div><span class="swatch" style="border:3px solid ' + C.highlight + '"></span>the stepper\'s node; dashed red: its gradient flowing to its inputs</div>');
    legend.push('<div><span class="swatch" style="border:2px solid ' + C.gradient + '"></span>already visited by the backward pass</div>');
    document.getElementById("legend-list").innerHTML = legend.join("");
  }

  // ---------------------------------------------------------------- events
  let drag = null;
  canvas.addEventListener("mousedown", function (e) {
    drag = { x: e.clientX, y: e.clientY, tx: state.tx, ty: state.ty, moved: false };
    canvas.classList.add("dragging");
  });
  window.addEventListener("mousemove", function (e) {
    if (drag) {
      const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      state.tx = drag.tx + dx; state.ty = drag.ty + dy; requestDraw();
      return;
    }
    if (e.target !== canvas) return;
    const r = canvas.getBoundingClientRect(), h = nodeAt(e.clientX - r.left, e.clientY - r.top);
    if (h !== state.hover) {
      state.hover = h;
      // With nothing selected and no step shown, hovering previews a node in the panel.
      if (state.selected === null && state.step < 0) { if (h === null) showSummary(); else showNode(h); }
      canvas.classList.toggle("over-node", h !== null);
      canvas.title = h === null ? "" : nodes[h].title + " · " + nodes[h].second;
      requestDraw();
    }
  });
  window.addEventListener("mouseup", function (e) {
    if (!drag) return;
    const moved = drag.moved;
    drag = null; canvas.classList.remove("dragging");
    if (moved || e.target !== canvas) return;
    const r = canvas.getBoundingClientRect(), sx = e.clientX - r.left, sy = e.clientY - r.top;
    const hit = nodeAt(sx, sy);
    if (hit !== null) { select(hit); return; }
    const l = layerTitleAt(sx, sy);
    if (l !== null) toggleLayer(l); else select(null);
  });
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault();
    const r = canvas.getBoundingClientRect();
    zoomAt(e.clientX - r.left, e.clientY - r.top, Math.exp(-e.deltaY * 0.0015));
  }, { passive: false });
  document.getElementById("collapse-all").onclick = function () { data.layers.forEach(function (l) { toggleLayer(l.key, true); }); };
  document.getElementById("expand-all").onclick = function () { data.layers.forEach(function (l) { toggleLayer(l.key, false); }); };
  document.getElementById("fit").onclick = fit;
  document.getElementById("zoom-in").onclick = function () { const r = canvas.getBoundingClientRect(); zoomAt(r.width / 2, r.height / 2, 1.25); };
  document.getElementById("zoom-out").onclick = function () { const r = canvas.getBoundingClientRect(); zoomAt(r.width / 2, r.height / 2, 0.8); };
  document.getElementById("step-next").onclick = function () { goTo(state.step + 1); };
  document.getElementById("step-prev").onclick = function () { goTo(state.step - 1); };
  document.getElementById("step-reset").onclick = function () { if (state.playing) play(); goTo(-1); select(null); };
  document.getElementById("step-play").onclick = play;
  const input = document.getElementById("search");
  input.addEventListener("input", function () { search(input.value); });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && state.matches.size) { const i = state.matches.values().next().value; select(i); centreOn(i); }
    if (e.key === "Escape") { input.value = ""; search(""); input.blur(); }
  });
  document.getElementById("search-results").addEventListener("click", function (e) {
    const b = e.target.closest("button");
    if (b) { const i = +b.dataset.node; select(i); centreOn(i); }
  });
  document.addEventListener("keydown", function (e) {
    if (e.target === input || e.altKey || e.ctrlKey || e.metaKey) return;
    const keys = {
      ArrowRight: function () { goTo(state.step + 1); }, ArrowDown: function () { goTo(state.step + 1); },
      ArrowLeft: function () { goTo(state.step - 1); }, ArrowUp: function () { goTo(state.step - 1); },
      Home: function () { goTo(-1); }, " ": play, f: fit, "+": function () { document.getElementById("zoom-in").click(); },
      "-": function () { document.getElementById("zoom-out").click(); }, "/": function () { input.focus(); },
    };
    if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
  });
  window.addEventListener("resize", resize);

  buildSide();
  resize();
  fit();
  showSummary();
  status();
  draw();

  window.nablagraph = {
    data: data, state: state, timing: timing, draw: draw, fit: fit, select: select, goTo: goTo,
    search: search, toggleLayer: toggleLayer,
    // The centre of node i on the page, in CSS pixels (for tests that click it).
    screenOf: function (i) {
      const r = canvas.getBoundingClientRect(), a = anchor(i), s = toScreen(a.x, (a.top + a.bottom) / 2);
      return { x: r.left + s.x, y: r.top + s.y };
    },
    currentNode: currentNode,
  };
})();

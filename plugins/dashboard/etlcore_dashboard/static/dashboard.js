// The etlcore dashboard page: panels pushed by the server as server-sent events.
// Every value from a record is set as text (textContent, or entity-escaped for Plotly,
// which reads a few tags in labels), never as HTML.
(function () {
  "use strict";
  var grid = document.getElementById("panels");
  var status = document.getElementById("status");
  var heading = document.getElementById("title");
  var panels = new Map(); // id -> {section, body, kind}
  var source = null;
  var retryTimer = null;

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  // Plotly turns &lt; back into "<" as text, and reads <b>, <a> ... as markup: escape.
  function plotText(value) {
    return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function make(tag, cls, text) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function ensure(id, order, kind) {
    var p = panels.get(id);
    if (p && p.kind === kind) return p;
    if (p) p.section.remove();
    var section = make("section", "panel");
    section.dataset.panelId = id;
    section.dataset.kind = kind;
    section.dataset.order = order;
    var title = make("h2", "title");
    var time = make("div", "time");
    var body = make("div", kind === "line" || kind === "bar" ? "chart" : kind);
    section.append(title, time, body);
    p = {section: section, title: title, time: time, body: body, kind: kind, order: order};
    panels.set(id, p);
    place(p);
    return p;
  }

  function place(p) {
    var after = null;
    panels.forEach(function (other) {
      if (other !== p && other.section.parentNode && Number(other.order) > Number(p.order) &&
          (after === null || Number(other.order) < Number(after.order))) after = other;
    });
    grid.insertBefore(p.section, after ? after.section : null);
  }

  var layoutBase = {margin: {l: 60, r: 20, t: 10, b: 40}, height: 300,
                    paper_bgcolor: "#fff", plot_bgcolor: "#fff"};
  var plotConfig = {displaylogo: false, displayModeBar: false, responsive: true};

  function drawLine(p, v) {
    Plotly.react(p.body, [{x: v.x, y: v.y, type: "scatter", mode: "lines+markers",
                           line: {color: "#3366cc"}, hovertemplate: "%{x}<br>%{y}<extra></extra>"}],
                 Object.assign({}, layoutBase, {xaxis: {type: "date", title: {text: "batch time (UTC)"}}}),
                 plotConfig);
  }

  function drawBar(p, v) {
    Plotly.react(p.body, [{x: v.values, y: v.keys.map(plotText), type: "bar", orientation: "h",
                           marker: {color: "#dc6b2f"}, hovertemplate: "%{y}: %{x}<extra></extra>"}],
                 Object.assign({}, layoutBase, {margin: {l: 140, r: 20, t: 10, b: 30},
                                                yaxis: {autorange: "reversed", type: "category", automargin: true}}),
                 plotConfig);
  }

  function drawTable(p, v) {
    var table = make("table");
    var head = table.createTHead().insertRow();
    v.columns.forEach(function (c) { head.appendChild(make("th", null, c)); });
    var body = table.createTBody();
    v.rows.forEach(function (row) {
      var tr = body.insertRow();
      row.forEach(function (value) { tr.appendChild(make("td", null, value)); });
    });
    var wrap = make("div", "table-wrap");
    wrap.appendChild(table);
    p.body.replaceChildren(wrap);
  }

  function drawNumber(p, v) {
    p.body.textContent = v.text;
  }

  var draw = {line: drawLine, bar: drawBar, table: drawTable, number: drawNumber};

  function show(msg) {
    var v = msg.panel;
    var p = ensure(msg.id, msg.order, v.kind);
    p.title.textContent = v.title;
    p.time.textContent = v.time ? "batch " + v.time + " UTC" : "no batch yet";
    p.section.dataset.batchTime = v.time || "";
    p.section.dataset.batches = v.batches;
    draw[v.kind](p, v);
    p.section.dataset.updates = String(Number(p.section.dataset.updates || 0) + 1);
  }

  function snapshot(data) {
    heading.textContent = data.title;
    document.title = data.title + " - etlcore dashboard";
    var ids = new Set(data.panels.map(function (m) { return m.id; }));
    panels.forEach(function (p, id) {
      if (!ids.has(id)) { p.section.remove(); panels.delete(id); }
    });
    data.panels.forEach(show);
  }

  function connect() {
    retryTimer = null;
    source = new EventSource("events" + window.location.search);
    source.addEventListener("snapshot", function (e) {
      snapshot(JSON.parse(e.data));
      setStatus("live", "live");
      document.body.dataset.connections = String(Number(document.body.dataset.connections || 0) + 1);
    });
    source.addEventListener("panel", function (e) { show(JSON.parse(e.data)); });
    source.addEventListener("remove", function (e) {
      var id = JSON.parse(e.data).id;
      var p = panels.get(id);
      if (p) { p.section.remove(); panels.delete(id); }
    });
    source.onerror = function () {
      setStatus("reconnecting", "server unreachable, reconnecting…");
      // EventSource retries by itself after a dropped stream; after a refused or
      // failed response it gives up (CLOSED): then start a new one.
      if (source.readyState === EventSource.CLOSED && retryTimer === null) {
        retryTimer = setTimeout(connect, 1000);
      }
    };
  }

  connect();
})();

// The streaming page: timelines and histograms of the four delays/rates (Spark's
// Streaming tab), a table of recent batches; new batches are polled every second.
"use strict";

const SERIES = [
  ["input_rate", "Input rate", "records/s", 1],
  ["scheduling_delay_s", "Scheduling delay", "ms", 1000],
  ["processing_s", "Processing time", "ms", 1000],
  ["total_delay_s", "Total delay", "ms", 1000],
];
const MAX_POINTS = 1000;
const TABLE_ROWS = 100;
const POLL_MS = 1000;
const ROW_GAP = 0.07;
const CONFIG = {displayModeBar: false, responsive: true};

let batches = [];
let lastId = -1;
let plotlyState = "absent";  // Plotly (4.8 MB) loads after the table shows: numbers first
const marks = {script: Math.round(performance.now())};  // ms since navigation, for benchmarks

function loadPlotly() {
  if (plotlyState !== "absent") return;
  plotlyState = "loading";
  const script = document.createElement("script");
  script.src = "/static/plotly.min.js";
  script.onload = () => { plotlyState = "ready"; drawCharts(); };
  script.onerror = () => { plotlyState = "absent"; };
  document.head.appendChild(script);
}

// One figure: a timeline (left) and a histogram (right) per series, one row each.
function figure() {
  const x = batches.map(b => new Date(b.batch_time * 1000));
  const traces = [];
  const layout = {height: 4 * 190, margin: {l: 55, r: 10, t: 25, b: 30}, font: {size: 11},
                  showlegend: false, annotations: []};
  SERIES.forEach(([key, title, unit, scale], i) => {
    const y = batches.map(b => b[key] * scale);
    const t = 2 * i + 1, h = 2 * i + 2;
    const top = 1 - i / 4, bottom = 1 - (i + 1) / 4 + ROW_GAP;
    traces.push({x: x, y: y, type: "scatter", mode: "lines+markers", marker: {size: 4},
                 line: {width: 1.5}, xaxis: "x" + t, yaxis: "y" + t, name: title});
    traces.push({y: y, type: "histogram", marker: {color: "#5470c6"},
                 xaxis: "x" + h, yaxis: "y" + h, name: title});
    layout["xaxis" + t] = {domain: [0, 0.72], anchor: "y" + t, type: "date"};
    layout["yaxis" + t] = {domain: [bottom, top], anchor: "x" + t};
    layout["xaxis" + h] = {domain: [0.78, 1], anchor: "y" + h, title: {text: "batches"}};
    layout["yaxis" + h] = {domain: [bottom, top], anchor: "x" + h};
    layout.annotations.push({text: title + " (" + unit + ")", showarrow: false,
                             xref: "paper", yref: "paper", x: 0, y: top,
                             xanchor: "left", yanchor: "bottom"});
  });
  return [traces, layout];
}

function drawCharts() {
  if (plotlyState !== "ready") { loadPlotly(); return; }
  const [traces, layout] = figure();
  Plotly.react("charts", traces, layout, CONFIG);
  if (!marks.charts) {
    marks.charts = Math.round(performance.now());
    document.body.dataset.marks = JSON.stringify(marks);
    document.body.dataset.firstRenderMs = String(marks.charts);
  }
}

function drawTable() {
  const rows = batches.slice(-TABLE_ROWS).reverse().map(b => {
    const link = el("a", b.batch_id);
    link.href = "/batch/" + encodeURIComponent(b.batch_id);
    return [link, fmtTime(b.batch_time), b.records_in, fmtNum(b.input_rate) + "/s",
            fmtMs(b.scheduling_delay_s), fmtMs(b.processing_s), fmtMs(b.total_delay_s),
            b.records_out, b.dead_letters, b.state_size];
  });
  fillRows("batches", rows);
  const trs = document.querySelectorAll("#batches tbody tr");
  batches.slice(-TABLE_ROWS).reverse().forEach((b, i) => {
    if (trs[i]) trs[i].dataset.batchId = String(b.batch_id);
  });
}

async function refreshJob() {
  const job = await getJSON("/api/job");
  setText("job-name", job.job.name);
  setText("job-mode", job.live ? "live" : "history (" + (job.job.source || "checkpoint") + ")");
  setText("total-batches", job.totals.batches);
  setText("total-records", job.totals.records_in);
  setText("total-dead", job.totals.dead_letters);
  setText("interval", job.job.batch_interval ? job.job.batch_interval + " s" : "-");
  setText("runner", job.job.runner || "-");
  if (job.last) {
    setText("state-size", job.last.state_size);
    const lag = job.last.source_lag;
    const parts = lag ? Object.entries(lag).map(([s, n]) => s + ": " + n) : [];
    setText("source-lag", parts.length ? parts.join(", ") : "unknown");
  }
  const detail = [];
  if (job.job.sources) detail.push("sources: " + job.job.sources.join(", "));
  if (job.job.sinks) detail.push("sinks: " + job.job.sinks.join(", "));
  if (job.job.checkpoint) detail.push("checkpoint: " + job.job.checkpoint);
  setText("job-detail", detail.join(" | "));
  return job;
}

async function poll() {
  try {
    const fresh = await getJSON("/api/batches?since=" + lastId +
                                (lastId < 0 ? "&limit=" + MAX_POINTS : ""));
    await refreshJob();
    if (!marks.data) marks.data = Math.round(performance.now());
    if (fresh.length) {
      batches = batches.concat(fresh).slice(-MAX_POINTS);
      lastId = batches[batches.length - 1].batch_id;
    }
    if (fresh.length || !marks.table) {
      drawTable();  // the numbers first, then the charts
      if (!marks.table) marks.table = Math.round(performance.now());
      drawCharts();
    }
    document.body.dataset.lastBatch = String(lastId);
  } catch (err) {
    setText("job-mode", "disconnected: " + err.message);
  }
  setTimeout(poll, POLL_MS);
}

poll();

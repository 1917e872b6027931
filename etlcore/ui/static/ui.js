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
const LAYOUT = {margin: {l: 55, r: 10, t: 30, b: 35}, height: 190, font: {size: 11},
                showlegend: false};
const CONFIG = {displayModeBar: false, responsive: true};

let batches = [];
let lastId = -1;

function drawCharts() {
  const x = batches.map(b => new Date(b.batch_time * 1000));
  for (const [key, title, unit, scale] of SERIES) {
    const y = batches.map(b => b[key] * scale);
    Plotly.react("tl-" + key, [{x: x, y: y, type: "scatter", mode: "lines+markers",
                                marker: {size: 4}, line: {width: 1.5}}],
                 Object.assign({}, LAYOUT, {title: {text: title + " (" + unit + ")"},
                                            xaxis: {type: "date"}}), CONFIG);
    Plotly.react("hist-" + key, [{y: y, type: "histogram", marker: {color: "#5470c6"}}],
                 Object.assign({}, LAYOUT, {title: {text: "Histogram"},
                                            xaxis: {title: {text: "batches"}}}), CONFIG);
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
    if (fresh.length) {
      batches = batches.concat(fresh).slice(-MAX_POINTS);
      lastId = batches[batches.length - 1].batch_id;
      drawCharts();
      drawTable();
    } else if (lastId < 0) {
      drawCharts();
      drawTable();
    }
    document.body.dataset.lastBatch = String(lastId);
  } catch (err) {
    setText("job-mode", "disconnected: " + err.message);
  }
  setTimeout(poll, POLL_MS);
}

poll();

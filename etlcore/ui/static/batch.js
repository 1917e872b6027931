// One batch: its plan, records per operator, sinks' times, dead letters.
"use strict";

function ms(s) { return fmtMs(s); }
function pos(p) { return typeof p === "string" ? p : JSON.stringify(p); }

async function show() {
  const id = location.pathname.split("/").pop();
  setText("title", "batch " + id);
  let b;
  try {
    b = await getJSON("/api/batches/" + encodeURIComponent(id));
  } catch (err) {
    setText("status", "not available: " + err.message);
    return;
  }
  fillRows("summary", [
    ["batch time", fmtTime(b.batch_time)], ["records in", b.records_in],
    ["input rate", fmtNum(b.input_rate) + "/s"], ["scheduling delay", ms(b.scheduling_delay_s)],
    ["processing time", ms(b.processing_s)], ["total delay", ms(b.total_delay_s)],
    ["dead letters", b.dead_letters], ["late records", b.late_records],
    ["state size", b.state_size], ["replay", b.replay ? "yes" : "no"],
    ["rate bound per partition", b.max_records_per_partition === null ? "none" : b.max_records_per_partition],
  ]);
  const plan = [];
  for (const [source, parts] of Object.entries(b.plan || {})) {
    const lag = (b.source_lag || {})[source];
    for (const [partition, range] of Object.entries(parts)) {
      plan.push([source, partition, pos(range[0]), pos(range[1]),
                 lag === undefined ? "-" : source + " total: " + lag]);
    }
  }
  fillRows("plan", plan);
  const ops = Object.entries(b.sources || {}).map(([s, n]) => ["source " + s, n]);
  for (const [op, n] of Object.entries(b.records_by_operator || {})) ops.push([op, n]);
  fillRows("operators", ops);
  const sinks = new Set([...Object.keys(b.records_out || {}), ...Object.keys(b.sink_commit_s || {})]);
  fillRows("sinks", [...sinks].map(s => [s, (b.records_out || {})[s] ?? "-",
    ms((b.sink_write_s || {})[s]), ms((b.sink_commit_s || {})[s])]));
  fillRows("dead-reasons", Object.entries(b.dead_letter_reasons || {}));
  fillRows("dead-samples", (b.dead_letter_samples || []).map(d =>
    [d.reason, d.stage, d.origin || "-", d.record]));
  fillRows("events", Object.entries(b.counts || {}));
  document.body.dataset.loaded = "1";
}

show();

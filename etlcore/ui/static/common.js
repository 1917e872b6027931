// Helpers shared by the pages. Every value from a job is set with textContent,
// never innerHTML: a record holding markup shows as text and cannot run.
"use strict";

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function setText(id, text) {
  const node = document.getElementById(id);
  if (node) node.textContent = text === undefined || text === null ? "-" : String(text);
}

function fmtMs(seconds) {
  if (seconds === undefined || seconds === null) return "-";
  const ms = seconds * 1000;
  return ms < 10 ? ms.toFixed(1) + " ms" : Math.round(ms) + " ms";
}

function fmtTime(epoch) {
  if (!epoch) return "-";
  const d = new Date(epoch * 1000);
  return d.toLocaleTimeString([], {hour12: false}) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function fmtNum(n) {
  if (n === undefined || n === null) return "-";
  return typeof n === "number" && !Number.isInteger(n) ? n.toFixed(1) : String(n);
}

function fillRows(tableId, rows) {
  const body = document.querySelector("#" + tableId + " tbody");
  body.replaceChildren();
  for (const cells of rows) {
    const tr = document.createElement("tr");
    for (const c of cells) tr.appendChild(c instanceof Node ? wrapCell(c) : el("td", c));
    body.appendChild(tr);
  }
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = el("td", "none", "empty");
    td.colSpan = document.querySelectorAll("#" + tableId + " thead th").length || 1;
    tr.appendChild(td);
    body.appendChild(tr);
  }
}

function wrapCell(node) {
  const td = document.createElement("td");
  td.appendChild(node);
  return td;
}

async function getJSON(url) {
  const response = await fetch(url, {credentials: "same-origin", cache: "no-store"});
  if (!response.ok) throw new Error(url + ": HTTP " + response.status);
  return response.json();
}

// Draws a chart above each table marked data-chart (bar, stacked, hbar or line), from the
// table's own cells: the labels are the row headers of its body (rows marked
// data-chart-skip, e.g. totals, are left out, and rows of nothing but zeros when the table
// is marked data-chart-nonzero), one series per header cell marked data-series, each value
// the data-value of the cell below it. A table with nothing to draw gets no chart. The table stays the single
// source of the numbers and the page works without this file (no inline script: the CSP
// forbids it). Chart.js (static/vendor/chart.js) is loaded before it, deferred.
(function () {
  "use strict";
  var Chart = window.Chart;
  if (!Chart || !document.querySelectorAll) { return; }

  // Colours distinguishable by most readers, with enough contrast on white; the legend and
  // the table carry the meaning, never the colour alone.
  var COLOURS = ["#0b4f71", "#b35900", "#1e6b34", "#7a3e9d", "#b3261e", "#4a5560", "#00798c"];

  function fontSize() {
    var size = parseFloat(window.getComputedStyle(document.documentElement).fontSize);
    return isNaN(size) ? 14 : Math.round(size * 0.875);
  }

  function reducedMotion() {
    return !!(window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches);
  }

  function headerRow(table) {
    var head = table.tHead;
    return head && head.rows.length ? head.rows[head.rows.length - 1] : null;
  }

  function series(table) {
    var row = headerRow(table);
    var found = [];
    if (!row) { return found; }
    for (var i = 0; i < row.cells.length; i++) {
      if (row.cells[i].hasAttribute("data-series")) {
        found.push({ index: i, label: row.cells[i].textContent.trim() });
      }
    }
    return found;
  }

  function number(cell) {
    if (!cell) { return null; }
    var raw = cell.getAttribute("data-value");
    if (raw === null || raw === "") { return null; }
    var value = parseFloat(raw);
    return isNaN(value) ? null : value;
  }

  function read(table) {
    var columns = series(table);
    var nonzero = table.hasAttribute("data-chart-nonzero");
    var labels = [];
    var values = columns.map(function () { return []; });
    var bodies = table.tBodies;
    for (var b = 0; b < bodies.length; b++) {
      var rows = bodies[b].rows;
      for (var r = 0; r < rows.length; r++) {
        var row = rows[r];
        if (row.hasAttribute("data-chart-skip") || !row.cells.length) { continue; }
        if (row.cells[0].tagName !== "TH") { continue; } // a "nothing to show" row
        var found = columns.map(function (column) { return number(row.cells[column.index]); });
        if (nonzero && !found.some(function (v) { return v; })) { continue; }
        labels.push(row.cells[0].textContent.trim());
        found.forEach(function (v, s) { values[s].push(v); });
      }
    }
    return {
      labels: labels,
      datasets: columns.map(function (column, s) {
        var colour = COLOURS[s % COLOURS.length];
        return {
          label: column.label,
          data: values[s],
          backgroundColor: colour,
          borderColor: colour,
          borderWidth: 2,
          pointRadius: 4,
          spanGaps: true
        };
      })
    };
  }

  function somethingToDraw(data) {
    return data.datasets.some(function (set) {
      return set.data.some(function (v) { return v; });
    });
  }

  // Long labels are shortened on the axis; the tooltip and the table hold them whole.
  function shortLabel(value) {
    var label = String(this.getLabelForValue(value));
    return label.length > 36 ? label.slice(0, 35) + "…" : label;
  }

  function config(kind, data) {
    var stacked = kind === "stacked";
    var horizontal = kind === "hbar";
    return {
      type: kind === "line" ? "line" : "bar",
      data: data,
      options: {
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: horizontal ? "y" : "x",
        animation: reducedMotion() ? false : undefined,
        scales: {
          x: { stacked: stacked, beginAtZero: true, ticks: horizontal ? {} : { callback: shortLabel } },
          y: { stacked: stacked, beginAtZero: true, ticks: horizontal ? { callback: shortLabel } : {} }
        },
        plugins: {
          legend: { display: data.datasets.length > 1, position: "bottom" },
          tooltip: { enabled: true }
        }
      }
    };
  }

  function draw(table) {
    var kind = table.getAttribute("data-chart");
    var data = read(table);
    if (!data.labels.length || !somethingToDraw(data)) { return; }
    var holder = document.createElement("div");
    holder.className = "chart chart-" + kind;
    if (kind === "hbar") {
      holder.style.height = Math.max(12, data.labels.length * 2.5 + 4) + "rem";
    }
    var canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", table.getAttribute("data-chart-label") || "");
    holder.appendChild(canvas);
    var wrap = table.parentNode;
    var before = wrap && wrap.classList && wrap.classList.contains("table-wrap") ? wrap : table;
    before.parentNode.insertBefore(holder, before);
    new Chart(canvas, config(kind, data));
  }

  function start() {
    Chart.defaults.font.size = fontSize();
    Chart.defaults.font.family = window.getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#1b1f24";
    var tables = document.querySelectorAll("table[data-chart]");
    for (var i = 0; i < tables.length; i++) {
      try { draw(tables[i]); } catch (e) { /* the table still shows the numbers */ }
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

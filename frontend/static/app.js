/* Postmortem Library pages: the "/" shortcut, charts drawn from their tables, copy and print.
   Loaded from our own origin only (the pages' Content-Security-Policy forbids inline script). */
(function () {
  "use strict";

  function isTyping(element) {
    var tag = element && element.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (element && element.isContentEditable);
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) {
      return;
    }
    var box = document.getElementById("q");
    if (box) {
      event.preventDefault();
      box.focus();
      box.select();
    }
  });

  function colors() {
    var style = getComputedStyle(document.documentElement);
    var read = function (name) { return style.getPropertyValue(name).trim(); };
    return {
      series: [read("--chart-1"), read("--chart-2"), read("--chart-3"), read("--chart-4")],
      text: read("--muted"),
      grid: read("--border")
    };
  }

  /* The numbers come from the table next to the chart: one source for chart, table and CSV. */
  function readTable(table, columns) {
    var headers = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    var rows = Array.prototype.filter.call(table.querySelectorAll("tbody tr"), function (tr) {
      return tr.querySelector("td[data-value]") !== null;
    });
    return {
      links: rows.map(function (tr) { return tr.getAttribute("data-href"); }),
      labels: rows.map(function (tr) { return tr.cells[0].textContent.trim(); }),
      datasets: columns.map(function (column) {
        return {
          label: headers[column],
          data: rows.map(function (tr) {
            var value = tr.cells[column].getAttribute("data-value");
            return value === "" ? null : Number(value);
          })
        };
      })
    };
  }

  function options(kind, horizontal, palette, count) {
    var reduced = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    var axis = { ticks: { color: palette.text }, grid: { color: palette.grid } };
    return {
      indexAxis: horizontal ? "y" : "x",
      responsive: true,
      maintainAspectRatio: false,
      animation: reduced ? false : { duration: 300 },
      plugins: { legend: { display: count > 1, labels: { color: palette.text } } },
      scales: { x: axis, y: Object.assign({ beginAtZero: true }, axis) }
    };
  }

  function drawChart(canvas) {
    var table = document.getElementById(canvas.getAttribute("data-table"));
    if (!table || Chart.getChart(canvas)) {
      return;
    }
    var kind = canvas.getAttribute("data-chart");
    var columns = canvas.getAttribute("data-columns").split(",").map(Number);
    var data = readTable(table, columns);
    var palette = colors();
    data.datasets.forEach(function (set, position) {
      var color = palette.series[position % palette.series.length];
      Object.assign(set, {
        backgroundColor: color, borderColor: color, borderWidth: kind === "line" ? 2 : 0,
        borderRadius: kind === "bar" ? 3 : 0, spanGaps: true, tension: 0.25, pointRadius: 3
      });
    });
    var horizontal = kind === "bar" && data.labels.some(function (label) { return label.length > 8; });
    if (horizontal) {
      canvas.parentElement.style.height = Math.max(220, data.labels.length * (18 * columns.length + 10) + 60) + "px";
    }
    var settings = options(kind, horizontal, palette, columns.length);
    /* A bar or point leads to what it counts: the link of its table row. */
    settings.onClick = function (event, elements) {
      var link = elements.length ? data.links[elements[0].index] : null;
      if (link) {
        window.location.href = link;
      }
    };
    settings.onHover = function (event, elements) {
      var link = elements.length ? data.links[elements[0].index] : null;
      event.native.target.style.cursor = link ? "pointer" : "default";
    };
    new Chart(canvas, { type: kind, data: data, options: settings });
    /* The chart now shows the numbers: fold their table away (open for readers without JS). */
    var numbers = canvas.closest(".chart-card") && canvas.closest(".chart-card").querySelector("details.numbers");
    if (numbers) {
      numbers.open = false;
    }
  }

  function drawCharts(root) {
    if (typeof Chart === "undefined") {
      return;
    }
    root.querySelectorAll("canvas[data-chart]").forEach(drawChart);
  }

  /* Dark mode follows the system: redraw with the other palette when it changes. */
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", function () {
    if (typeof Chart === "undefined") {
      return;
    }
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var chart = Chart.getChart(canvas);
      if (chart) {
        chart.destroy();
      }
      drawChart(canvas);
    });
  });

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    var copy = target && target.closest("[data-copy]");
    if (copy) {
      var source = document.getElementById(copy.getAttribute("data-copy"));
      var status = copy.closest("aside, section, div").querySelector(".copy-status");
      var done = function () { if (status) { status.textContent = "Copied to the clipboard."; } };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(source.value).then(done, function () { source.select(); });
      } else {
        source.select();
        document.execCommand("copy");
        done();
      }
    }
    if (target && target.closest("[data-print]")) {
      window.print();
    }
  });

  drawCharts(document);
  document.addEventListener("htmx:afterSettle", function (event) { drawCharts(event.target); });

  // Search results by keyboard: ↓ from the box to the first result, ↓ and ↑ between them.
  function hitLinks() {
    return Array.prototype.slice.call(document.querySelectorAll(".hit-title a"));
  }
  document.addEventListener("keydown", function (event) {
    if ((event.key !== "ArrowDown" && event.key !== "ArrowUp") || event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    var target = event.target instanceof Element ? event.target : null;
    var links = hitLinks();
    if (!target || !links.length) { return; }
    var at = links.indexOf(target);
    if (target.id === "q" && event.key === "ArrowDown") {
      event.preventDefault();
      links[0].focus();
    } else if (at >= 0) {
      event.preventDefault();
      if (event.key === "ArrowDown" && at + 1 < links.length) {
        links[at + 1].focus();
      } else if (event.key === "ArrowUp") {
        (at > 0 ? links[at - 1] : document.getElementById("q")).focus();
      }
    }
  });

  // On a phone the filters come first, folded unless one is on.
  function foldFilters(root) {
    if (!window.matchMedia("(max-width: 720px)").matches) { return; }
    (root.querySelectorAll ? root : document).querySelectorAll("details.facet-group").forEach(function (group) {
      if (!group.querySelector(".facet-link.is-active") && !group.querySelector("input[type=date][value]:not([value=''])")) {
        group.removeAttribute("open");
      }
    });
  }
  foldFilters(document);
  document.addEventListener("htmx:afterSettle", function (event) { foldFilters(event.target); });

  // Slide view of a presenter pack: one section a screen, paged with the keyboard.
  if (document.body.hasAttribute("data-slides")) {
    document.documentElement.classList.add("slides-on");
    var slides = Array.prototype.slice.call(document.querySelectorAll(".slide"));
    slides.forEach(function (slide, n) {
      slide.setAttribute("tabindex", "-1");
      slide.setAttribute("aria-label", "Slide " + (n + 1) + " of " + slides.length);
    });
    var current = function () {
      var best = 0;
      slides.forEach(function (slide, n) {
        if (slide.getBoundingClientRect().top <= window.innerHeight / 3) { best = n; }
      });
      return best;
    };
    var show = function (n) {
      var slide = slides[Math.max(0, Math.min(slides.length - 1, n))];
      if (slide) {
        slide.scrollIntoView({ block: "start" });
        slide.focus({ preventScroll: true });
        document.body.setAttribute("data-slide", String(slides.indexOf(slide) + 1));
      }
    };
    document.addEventListener("keydown", function (event) {
      var field = event.target instanceof Element && event.target.closest("input, textarea, select");
      if (field || event.altKey || event.ctrlKey || event.metaKey) { return; }
      if (["ArrowRight", "ArrowDown", "PageDown", " "].indexOf(event.key) >= 0) {
        event.preventDefault();
        show(current() + 1);
      } else if (["ArrowLeft", "ArrowUp", "PageUp"].indexOf(event.key) >= 0) {
        event.preventDefault();
        show(current() - 1);
      } else if (event.key === "Home") {
        event.preventDefault();
        show(0);
      } else if (event.key === "End") {
        event.preventDefault();
        show(slides.length - 1);
      }
    });
    document.body.setAttribute("data-slide", "1");
  }
})();

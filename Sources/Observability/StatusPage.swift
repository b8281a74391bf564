/// The live status page: one self-contained HTML document (no external scripts, styles, fonts or images: the
/// cluster may have no internet). It polls `/api/status` twice a second, redraws only when the state's version
/// moved, and shows the loss and accuracy curves (canvas), one row per worker with a straggler flag, the topology,
/// and the events. The cookie set by `/?token=` authenticates its requests.
enum StatusPage {
    static let html = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Cohort</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>
        body{font:14px system-ui,sans-serif;margin:16px;color:#222;background:#fafafa}
        h1{font-size:18px;margin:0 0 4px} h2{font-size:15px;margin:16px 0 6px}
        #summary{color:#444;margin-bottom:8px} .state{font-weight:bold}
        .charts{display:flex;flex-wrap:wrap;gap:12px} canvas{background:#fff;border:1px solid #ddd}
        table{border-collapse:collapse;background:#fff} td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
        th{background:#f0f0f0} tr.straggler td{background:#fde2e2} .flag{color:#b00;font-weight:bold}
        #events{max-height:220px;overflow:auto;background:#fff;border:1px solid #ddd;padding:4px 8px;font-family:monospace;font-size:12px}
        #topology span{display:inline-block;border:1px solid #888;border-radius:4px;padding:2px 6px;margin:2px;background:#fff}
        </style></head><body>
        <h1>Cohort <span id="job"></span></h1>
        <div id="summary">connecting…</div>
        <div class="charts"><canvas id="loss" width="460" height="220"></canvas><canvas id="accuracy" width="460" height="220"></canvas></div>
        <h2>Workers</h2>
        <table id="workers"><thead><tr><th>rank</th><th>host</th><th>pid</th><th>stage</th><th>step</th><th>samples/s</th>
        <th>comm share</th><th>median compute</th><th>vs median</th><th>straggler</th></tr></thead><tbody></tbody></table>
        <h2>Topology</h2><div id="topology"></div>
        <h2>Events</h2><div id="events"></div>
        <script>
        "use strict";
        let seen = -1, updates = 0;
        const $ = (id) => document.getElementById(id);
        const fmt = (x, d) => (typeof x === "number" && isFinite(x)) ? x.toFixed(d) : "–";
        function esc(s) { return String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\\"":"&quot;","'":"&#39;"}[c])); }
        function plot(canvas, title, series) {
          const g = canvas.getContext("2d"), W = canvas.width, H = canvas.height, L = 48, B = 28, T = 22, R = 10;
          g.clearRect(0, 0, W, H); g.fillStyle = "#222"; g.font = "13px sans-serif"; g.fillText(title, L, 15);
          const pts = series.flatMap(s => s.points).filter(p => isFinite(p[1]));
          if (pts.length === 0) { g.fillText("no data yet", L, H / 2); return; }
          let x0 = Math.min(...pts.map(p => p[0])), x1 = Math.max(...pts.map(p => p[0]));
          let y0 = Math.min(...pts.map(p => p[1])), y1 = Math.max(...pts.map(p => p[1]));
          if (x1 === x0) x1 = x0 + 1; if (y1 === y0) { y1 += 0.5; y0 -= 0.5; }
          const X = x => L + (x - x0) / (x1 - x0) * (W - L - R), Y = y => H - B - (y - y0) / (y1 - y0) * (H - B - T);
          g.strokeStyle = "#999"; g.beginPath(); g.moveTo(L, T); g.lineTo(L, H - B); g.lineTo(W - R, H - B); g.stroke();
          g.fillStyle = "#555"; g.font = "11px sans-serif";
          g.fillText(y1.toPrecision(3), 2, T + 4); g.fillText(y0.toPrecision(3), 2, H - B);
          g.fillText("step " + Math.round(x0), L, H - 8); g.fillText("step " + Math.round(x1), W - R - 70, H - 8);
          series.forEach((s, i) => {
            g.strokeStyle = s.color; g.lineWidth = 1.5; g.beginPath();
            s.points.filter(p => isFinite(p[1])).forEach((p, j) => j ? g.lineTo(X(p[0]), Y(p[1])) : g.moveTo(X(p[0]), Y(p[1])));
            g.stroke(); g.fillStyle = s.color; g.fillText(s.name, W - R - 110, T + 12 + 13 * i);
            s.points.length === 1 && g.fillRect(X(s.points[0][0]) - 2, Y(s.points[0][1]) - 2, 4, 4);
          });
        }
        function render(s) {
          $("job").textContent = s.job;
          const p = s.progress;
          $("summary").innerHTML = '<span class="state">' + esc(s.state) + '</span>' + (s.failure ? ": " + esc(s.failure) : "") +
            (p ? " · epoch " + (p.epoch + 1) + " · step " + p.step + "/" + p.totalSteps + " · " + fmt(p.samplesPerSecond, 0) +
              " samples/s · loss " + fmt(p.loss, 4) + " · accuracy " + fmt(p.accuracy, 3) : "") +
            " · " + s.workers.length + " workers · " + s.checkpoints + " checkpoints";
          const steps = s.epochs.map(e => (e.epoch + 1) * (p ? p.stepsPerEpoch : 1));
          plot($("loss"), "loss", [
            {name: "train", color: "#1f77b4", points: s.history.map(h => [h.step, h.loss])},
            {name: "test", color: "#d62728", points: s.epochs.map((e, i) => [steps[i], e.testLoss])}]);
          plot($("accuracy"), "accuracy", [
            {name: "train", color: "#1f77b4", points: s.history.map(h => [h.step, h.accuracy])},
            {name: "test", color: "#d62728", points: s.epochs.map((e, i) => [steps[i], e.testAccuracy])}]);
          $("workers").tBodies[0].innerHTML = s.workers.map(w =>
            '<tr class="worker' + (w.straggler ? ' straggler' : '') + '" data-rank="' + w.rank + '"><td>' + w.rank + '</td><td>' +
            esc(w.host) + '</td><td>' + w.pid + '</td><td>' + w.stage + '</td><td>' + (w.step ?? "–") + '</td><td>' +
            fmt(w.samples_per_s, 0) + '</td><td>' + fmt(100 * w.comm_share, 0) + '%</td><td>' +
            fmt(1000 * w.median_compute_s, 2) + ' ms</td><td>' + fmt(w.compute_ratio, 2) + '×</td><td class="flag">' +
            (w.straggler ? "SLOW" : "") + '</td></tr>').join("");
          const t = s.topology;
          let topo = t.kind + ": " + t.data_parallel + " replica(s) × " + t.pipeline_stages + " stage(s)<br>";
          if (t.kind === "pipeline") {
            for (let r = 0; r < t.data_parallel; r++) topo += s.workers.filter(w => w.replica === r).sort((a, b) => a.stage - b.stage)
              .map(w => "<span>stage " + w.stage + " · rank " + w.rank + "</span>").join(" → ") + "<br>";
          } else {
            topo += s.workers.map(w => "<span>rank " + w.rank + " · " + esc(w.host) + "</span>").join(" → ") +
              (s.workers.length > 1 ? " → (rank 0)" : "");
          }
          $("topology").innerHTML = topo;
          $("events").innerHTML = s.events.slice().reverse().map(e =>
            "<div class=\\"event " + esc(e.kind) + "\\">" + fmt(e.t, 1) + " s  " + esc(e.text) + "</div>").join("");
          document.body.dataset.updates = String(++updates);
          document.body.dataset.state = s.state;
        }
        async function poll() {
          try {
            const r = await fetch("/api/status", {cache: "no-store", credentials: "same-origin"});
            if (r.ok) { const s = await r.json(); if (s.version !== seen) { seen = s.version; render(s); } }
            else $("summary").textContent = "status " + r.status + (r.status === 401 ? ": open the link with ?token=" : "");
          } catch (e) { $("summary").textContent = "endpoint unreachable (the run may have ended)"; }
          setTimeout(poll, 500);
        }
        poll();
        </script></body></html>
        """
}

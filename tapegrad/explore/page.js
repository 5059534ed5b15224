// The tape explorer's stepper. Every number it shows is text that tapegrad
// wrote into the page's data (the tables' formatting of the real sweep's
// values); this script only decides which of them are visible at a step.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("tape-data").textContent);
  const recs = data.records, steps = data.steps, n = recs.length;
  const $ = (id) => document.getElementById(id);
  const rows = recs.map((_, i) => $("r" + i));
  const boxes = data.boxes.map((id) => $(id));
  const single = data.single;
  let state = 0;

  // The adjoint text of every record after state s (null: nothing has reached it yet).
  function adjointsAt(s) {
    const adj = new Array(n).fill(null);
    for (let k = n + 1; k <= s && k < steps.length; k++) {
      const st = steps[k];
      if (st.phase === "seed" && st.record !== null) adj[st.record] = "1";
      if (st.phase === "reverse" && adj[st.record] === null) adj[st.record] = "0";
      for (const t of st.terms) adj[t[0]] = t[1];
    }
    return adj;
  }

  function setText(el, text) {
    if (el && el.textContent !== text) el.textContent = text;
  }

  function mark(el, cls, on) {
    if (el) el.classList.toggle(cls, on);
  }

  function show(s) {
    state = Math.max(0, Math.min(steps.length - 1, s));
    const st = steps[state];
    const evaluated = Math.min(state, n); // records 0 .. evaluated-1 have values
    const adj = adjointsAt(state);
    const reads = new Set(st.reads), adds = new Set(st.terms.map((t) => t[0]));
    const sweptFrom = st.phase === "reverse" ? st.record : n; // adjoints of records from here on are final
    for (let i = 0; i < n; i++) {
      const row = rows[i], done = i < evaluated;
      setText(row.cells[2], done ? recs[i].val : "");
      setText(row.cells[4], adj[i] === null ? "" : adj[i]);
      mark(row, "pending", !done);
      mark(row, "current", st.record === i);
      mark(row, "reads", reads.has(i));
      mark(row, "adds", adds.has(i));
      mark(row, "final", i >= sweptFrom);
      if (single) {
        const box = boxes[i];
        setText(box.querySelector(".t-val"), done ? "= " + recs[i].val : "");
        setText(box.querySelector(".t-adj"), adj[i] === null ? "" : "v\u0304 " + adj[i]);
      }
    }
    const boxOf = (i) => boxes[i];
    const doneBoxes = new Set();
    for (let i = 0; i < evaluated; i++) doneBoxes.add(data.boxes[i]);
    document.querySelectorAll(".node").forEach((b) => {
      b.classList.remove("current", "reads", "adds");
      b.classList.toggle("pending", !doneBoxes.has(b.id));
    });
    if (!single) {
      // A cluster shows the record being evaluated or swept, when it holds it.
      document.querySelectorAll(".node .t-val, .node .t-adj").forEach((t) => setText(t, ""));
      if (st.record !== null) {
        const i = st.record, b = boxOf(i);
        setText(b.querySelector(".t-val"), "v" + i + (state <= n + 1 ? " = " + recs[i].val : ""));
        if (state > n) setText(b.querySelector(".t-adj"), "v\u0304 " + (adj[i] === null ? "0" : adj[i]));
      }
    }
    reads.forEach((i) => mark(boxOf(i), "reads", true));
    adds.forEach((i) => mark(boxOf(i), "adds", true));
    if (st.record !== null) mark(boxOf(st.record), "current", true);
    const here = st.record === null ? null : boxOf(st.record).id;
    const from = new Set([...(st.phase === "reverse" ? adds : reads)].map((i) => boxOf(i).id));
    document.querySelectorAll(".edge").forEach((e) => {
      const on = here !== null && e.dataset.to === here && from.has(e.dataset.from);
      mark(e, "flow-fwd", on && st.phase === "forward");
      mark(e, "flow-rev", on && st.phase === "reverse");
    });
    const phase = { start: "Start", forward: "Forward sweep", seed: "Reverse sweep: the seed", reverse: "Reverse sweep" }[st.phase];
    setText($("phase"), phase);
    $("phase").className = "phase " + st.phase;
    setText($("counter"), "step " + state + " of " + (steps.length - 1));
    setText($("explain"), st.text);
    const now = $("now");
    now.dataset.record = st.record === null ? "" : String(st.record);
    now.dataset.phase = st.phase;
    if (st.record === null) setText(now, "");
    else if (st.phase === "forward") setText(now, "v" + st.record + " = " + recs[st.record].val);
    else setText(now, "v\u0304" + st.record + " = " + (adj[st.record] === null ? "0" : adj[st.record]));
    $("slider").value = String(state);
    $("back").disabled = state === 0;
    $("first").disabled = state === 0;
    $("next").disabled = state === steps.length - 1;
    $("last").disabled = state === steps.length - 1;
    if (st.record !== null) {
      const node = boxOf(st.record), g = $("graph-box");
      const at = node.getBoundingClientRect(), view = g.getBoundingClientRect();
      if (at.top < view.top || at.bottom > view.bottom) g.scrollTop += at.top - view.top - g.clientHeight / 2;
      if (at.left < view.left || at.right > view.right) g.scrollLeft += at.left - view.left - g.clientWidth / 2;
      const r = rows[st.record], box = $("table-box");
      if (r.offsetTop < box.scrollTop + 30 || r.offsetTop > box.scrollTop + box.clientHeight - 30) {
        box.scrollTop = r.offsetTop - box.clientHeight / 2;
      }
    }
  }

  let scale = 1;
  function zoom(z) {
    const svg = $("graph");
    scale = Math.max(0.1, Math.min(3, z));
    svg.setAttribute("width", String(svg.viewBox.baseVal.width * scale));
    svg.setAttribute("height", String(svg.viewBox.baseVal.height * scale));
  }
  function fit() {
    const svg = $("graph"), box = $("graph-box");
    // As large as fits, but never so small that the text cannot be read: then scroll.
    const room = Math.min((box.clientWidth - 8) / svg.viewBox.baseVal.width, (Math.min(window.innerHeight * 0.74, 680) - 8) / svg.viewBox.baseVal.height);
    zoom(Math.max(0.7, Math.min(1.3, room)));
  }

  $("first").addEventListener("click", () => show(0));
  $("back").addEventListener("click", () => show(state - 1));
  $("next").addEventListener("click", () => show(state + 1));
  $("last").addEventListener("click", () => show(steps.length - 1));
  $("reverse").addEventListener("click", () => show(n + 1));
  $("slider").max = String(steps.length - 1);
  $("slider").addEventListener("input", (e) => show(Number(e.target.value)));
  // The graph follows its panel's width until the reader zooms by hand.
  let fitted = true;
  $("zoom-in").addEventListener("click", () => { fitted = false; zoom(scale * 1.25); });
  $("zoom-out").addEventListener("click", () => { fitted = false; zoom(scale / 1.25); });
  $("zoom-fit").addEventListener("click", () => { fitted = true; fit(); });
  if (window.ResizeObserver) new ResizeObserver(() => { if (fitted) fit(); }).observe($("graph-box"));
  // A click on a row shows its forward step; on its adjoint, its reverse step.
  rows.forEach((r, i) => r.addEventListener("click", (e) => {
    const cell = e.target.closest("td");
    show(cell && cell.cellIndex >= 3 ? 2 * n + 1 - i : i + 1);
  }));
  document.addEventListener("keydown", (e) => {
    if (e.target && e.target.tagName === "INPUT" && e.target.type !== "range") return;
    const go = { ArrowRight: state + 1, ArrowDown: state + 1, ArrowLeft: state - 1, ArrowUp: state - 1, Home: 0, End: steps.length - 1 }[e.key];
    if (go !== undefined) {
      e.preventDefault();
      show(go);
    }
  });
  show(0);
  fit();
})();

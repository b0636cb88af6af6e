// stillmake review board: plain JS, no build step. Every decision is a POST to the
// board's API, which writes selections.yaml exactly as `stillmake pick/lock` does.
// The page holds no secret: the browser's session cookie (HttpOnly, SameSite=Strict)
// goes with every same-origin request.
"use strict";

const POLL_MS = 2000;
let board = null;        // the last /api/board answer
let seenVersion = null;  // the last /api/version answer
let lastShot = null;     // the shot of the last write: its plan line says what will rebuild
let editing = null;      // {shot, region, strokes, mode} while the edit-step dialog is open

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function usd(x) { return x === null || x === undefined ? "–" : "$" + Number(x).toFixed(3); }

function showAlert(text) {
  const a = document.getElementById("alert");
  a.textContent = text || "";
  a.hidden = !text;
}

function showNotice(text) { document.getElementById("notice").textContent = text || ""; }

let posting = Promise.resolve();  // the click being written: the next one waits for it

function post(action, body) {
  // one click at a time, each with what the page knows once the one before has landed
  // (its `seen`): a second click fired before the first's answer would otherwise send
  // the shot as it was, and be refused as changed meanwhile
  const run = posting.then(() => postNow(action, body));
  posting = run.catch(() => false);
  return run;
}

async function postNow(action, body) {
  showAlert("");
  const shown = shotById(body.shot);
  if (shown) body.seen = shown.seen;  // the latest the page has read, not when it was drawn
  let resp, data;
  try {
    resp = await fetch("/api/" + action, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    data = await resp.json();
  } catch (e) {
    showAlert("the board server did not answer: " + e);
    return false;
  }
  lastShot = body.shot;
  if (resp.ok && data.seen) {
    const shot = shotById(body.shot);
    if (shot) shot.seen = data.seen;  // the page's own write: now seen
  }
  if (!resp.ok) {
    showAlert(data.error || ("refused (" + resp.status + ")"));
    if (data.reload) await refresh();
    return false;
  }
  showNotice(data.message);
  await refresh();
  return true;
}

// -- rendering -------------------------------------------------------------------
function flagList(flags) {
  if (!flags.length) return null;
  return el("ul", { class: "flags" },
    flags.map((f) => el("li", { class: f.level, text: f.level + ": " + f.message })));
}

function metricsTable(metrics) {
  const keys = Object.keys(metrics || {});
  if (!keys.length) return null;
  // the table is made when opened: 100 shots x 3 drafts x 10 rows is a slow first render
  const details = el("details", { class: "metrics" }, el("summary", { text: "metrics" }));
  details.addEventListener("toggle", () => {
    if (!details.open || details.querySelector("table")) return;
    details.append(el("table", {}, keys.map((k) => el("tr", {}, el("td", { text: k }),
      el("td", { text: String(Math.round(metrics[k] * 1000) / 1000) })))));
  });
  return details;
}

function viewer(url, alt) {
  return (ev) => {
    ev.preventDefault();
    const img = document.getElementById("viewer-image");
    img.src = url;
    img.alt = alt;
    document.getElementById("viewer").hidden = false;
    document.getElementById("viewer-close").focus();
  };
}

function draftFigure(shot, d) {
  const name = `draft ${d.k} of ${shot.id}`;
  const classes = ["draft", d.picked ? "picked" : "", d.rejected ? "rejected" : ""].join(" ");
  const image = d.url
    ? el("a", { href: d.url, onclick: viewer(d.url, name), title: "full size" },
        el("img", { src: d.url + "&thumb=1", alt: name, loading: "lazy", width: 480, height: 270 }))
    : el("p", { class: "hint", text: `draft ${d.k} not built yet` });
  const reason = el("input", { type: "text", placeholder: "why rejected?",
    "aria-label": `Reject reason for draft ${d.k} of ${shot.id}` });
  return el("figure", { class: classes },
    image,
    el("figcaption", {},
      el("div", { class: "line" },
        el("span", { class: "name", text: `draft ${d.k}` }),
        d.worst ? el("span", { class: "tag " + d.worst, text: d.worst }) : null,
        d.picked ? el("span", { class: "tag pick", text: shot.stale ? "picked (stale)" : "picked" }) : null,
        el("button", { type: "button", class: "primary", disabled: !d.url,
          "aria-label": `Pick draft ${d.k} of ${shot.id}`, text: "Pick",
          onclick: () => post("pick", { shot: shot.id, k: d.k, seen: shot.seen, drafts: shot.drafts_fp }) })),
      d.rejected ? el("div", { class: "reason", text: "rejected: " + d.rejected }) : null,
      flagList(d.flags),
      metricsTable(d.metrics),
      el("div", { class: "rejectrow" }, reason,
        el("button", { type: "button", "aria-label": `Reject draft ${d.k} of ${shot.id}`,
          text: "Reject",
          onclick: () => post("reject", { shot: shot.id, k: d.k, reason: reason.value, seen: shot.seen })
            .then((ok) => { if (ok) reason.value = ""; }) }))));
}

function stepCard(shot, s) {
  const where = s.region ? "region [" + s.region.join(", ") + "]" : s.mask ? "mask " + s.mask : "whole frame";
  return el("div", { class: "step" },
    s.url ? el("a", { href: s.url, onclick: viewer(s.url, `step ${s.step} of ${shot.id}`) },
      el("img", { src: s.url + "&thumb=1", alt: `edit step ${s.step} of ${shot.id}` })) : null,
    el("div", {}, el("b", { text: `step ${s.step}: ` }), s.change),
    s.keep ? el("div", { class: "meta", text: "keep: " + s.keep }) : null,
    el("div", { class: "meta", text: where + (s.url ? "" : " · not built yet") }),
    flagList(s.flags || []));
}

// the candidate the final renders (what a lock approves), its gate and waivers; the final
function candidateBlock(shot) {
  const c = shot.candidate;
  if (shot.pick === null) return null;
  const name = `candidate of ${shot.id}`;
  const failing = Object.entries(c.failing || {});
  return el("div", { class: "candidate" },
    el("figure", {},
      c.url
        ? el("a", { href: c.url, onclick: viewer(c.url, name), title: "full size" },
            el("img", { src: c.url + "&thumb=1", alt: name, width: 480, height: 270 }))
        : el("p", { class: "hint", text: `${c.candidate} not built yet` }),
      el("figcaption", {}, el("b", { text: "candidate " }), el("code", { text: c.candidate }),
        c.fingerprint ? " · " + c.fingerprint : "")),
    el("figure", {},
      c.final
        ? el("a", { href: c.final, onclick: viewer(c.final, `final of ${shot.id}`), title: "full size" },
            el("img", { src: c.final + "&thumb=1", alt: `final of ${shot.id}`, width: 480, height: 270 }))
        : el("p", { class: "hint", text: "no final yet" }),
      el("figcaption", {}, el("b", { text: "final " }), el("code", { text: c.final_path }))),
    el("div", { class: "approval" },
      el("div", {}, "approval ", el("b", { class: "approval-state", text: c.shown }),
        c.approved ? ` · lock ${c.approved}` : ""),
      c.why ? el("p", { class: "why", text: c.why }) : null,
      failing.map(([check, found]) => {
        const reason = el("input", { type: "text", placeholder: "why is this fail accepted?",
          "aria-label": `Waiver reason for ${check} of ${shot.id}` });
        return el("div", { class: "waiverow" },
          el("span", { class: "tag fail", text: check }), " " + found,
          c.waived[check]
            ? el("div", { class: "reason", text: "waived: " + c.waived[check] })
            : el("div", { class: "rejectrow" }, reason,
                el("button", { type: "button", "aria-label": `Waive ${check} of ${shot.id}`, text: "Waive",
                  onclick: () => post("waive", { shot: shot.id, check, reason: reason.value, seen: shot.seen }) })));
      }),
      Object.entries(c.unused_waivers || {}).map(([check, why]) =>
        el("div", { class: "hint", text: `waiver of ${check} unused (it does not fail): ${why}` }))));
}

function planLine(shot) {
  const mine = shot.id === lastShot;
  if (!shot.plan) {
    const text = board.plan_state === "error"
      ? "plan unavailable: " + board.plan_error
      : "checking what `snakemake -n` would rebuild…";
    return el("div", { class: "plan", "data-plan": "pending" }, text);
  }
  const files = shot.plan.rebuild;
  const paid = shot.plan.requests.filter((r) => r.paid).length;
  return el("div", { class: "plan", "data-plan": "ready", "aria-live": mine ? "polite" : null },
    files.length
      ? ["next build rebuilds for " + shot.id + ": ", files.map((f, i) => [i ? ", " : "", el("code", { text: f })]),
         ` · plan ${usd(shot.plan.pay_usd)} (${paid} paid request${paid === 1 ? "" : "s"})`]
      : "nothing to rebuild for " + shot.id);
}

function shotSection(shot) {
  const st = shot.status;
  const canEdit = shot.pick !== null;
  return el("section", { class: "shot" + (shot.lock ? " locked" : ""), id: "shot-" + shot.id,
      "aria-labelledby": "h-" + shot.id },
    el("div", { class: "shot-head" },
      el("h2", { id: "h-" + shot.id }, shot.id, shot.title ? " · " + shot.title : ""),
      el("div", { class: "facts" },
        el("span", {}, "stage ", el("b", { text: st.stage })),
        el("span", {}, "pick ", el("b", { text: st.pick })),
        el("span", {}, "edits ", el("b", { text: st.edits })),
        el("span", {}, "locked ", el("b", { text: st.locked })),
        el("span", {}, "approval ", el("b", { text: st.approval })),
        el("span", {}, "flag ", el("b", { text: st.flag })),
        el("span", {}, "spent ", el("b", { text: usd(shot.spend_usd) })),
        shot.reroll ? el("span", {}, "reroll ", el("b", { text: shot.reroll })) : null),
      el("div", { class: "controls" },
        // Lock approves the candidate shown; a locked shot awaiting approval offers both
        !shot.lock || ["awaiting approval", "stopped by the gate"].includes(shot.candidate.state)
          ? el("button", { type: "button", "aria-label": `Lock ${shot.id}`, text: "Lock",
              title: "approve the candidate shown for the final",
              onclick: () => post("lock", { shot: shot.id, seen: shot.seen,
                candidate: shot.candidate.fingerprint }) })
          : null,
        shot.lock
          ? el("button", { type: "button", "aria-label": `Unlock ${shot.id}`, text: "Unlock",
              onclick: () => post("unlock", { shot: shot.id, seen: shot.seen }) })
          : null,
        el("button", { type: "button", "aria-label": `Reroll ${shot.id}`, text: "Reroll",
          onclick: () => post("reroll", { shot: shot.id, seen: shot.seen }) }),
        el("button", { type: "button", "aria-label": `Add edit step to ${shot.id}`, text: "Add edit step",
          disabled: !canEdit, title: canEdit ? null : "pick a draft first",
          onclick: () => openEditor(shot.id) }))),
    shot.stale ? el("p", { class: "stale", text: "STALE: " + shot.stale }) : null,
    el("div", { class: "drafts" }, shot.drafts.map((d) => draftFigure(shot, d))),
    shot.edits.length ? el("div", { class: "steps" }, shot.edits.map((s) => stepCard(shot, s))) : null,
    candidateBlock(shot),
    planLine(shot));
}

function render() {
  const main = document.getElementById("shots");
  if (board.error) {
    showAlert(board.error);
    main.setAttribute("aria-busy", "false");
    return;
  }
  // keep what is being typed, and where the focus is, across a live update
  const typed = {};
  main.querySelectorAll("input").forEach((i) => { if (i.value) typed[i.getAttribute("aria-label")] = i.value; });
  const focused = document.activeElement && main.contains(document.activeElement)
    ? document.activeElement.getAttribute("aria-label") : null;
  document.getElementById("project").textContent = board.project || "";
  const planned = board.shots.reduce((t, s) => t + (s.plan ? s.plan.pay_usd : 0), 0);
  document.getElementById("summary").textContent =
    `${board.shots.length} shots · backend ${board.backend} · spent ${usd(board.spent_usd)}` +
    (board.budget_usd !== null ? ` of budget ${usd(board.budget_usd)}` : "") +
    (board.plan_state === "ready" ? ` · next build planned at ${usd(planned)}` : " · planning the next build…") +
    ` · decisions in ${board.selections}`;
  main.replaceChildren(...board.shots.map(shotSection));
  main.querySelectorAll("input").forEach((i) => {
    const v = typed[i.getAttribute("aria-label")];
    if (v) i.value = v;
  });
  if (focused) {
    const again = main.querySelector(`[aria-label="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
  main.setAttribute("aria-busy", "false");
}

let refreshes = 0;  // /api/board requests made: only the latest one's answer is shown

async function refresh() {
  const mine = ++refreshes;
  let data;
  try {
    data = await (await fetch("/api/board")).json();
  } catch (e) {
    document.getElementById("live").textContent = "board server not answering";
    return;
  }
  // a poll's answer read before a click's write may arrive after the click's own: it
  // would put back the decisions (and `seen`) from before the write
  if (mine !== refreshes) return;
  board = data;
  if (!board.error && document.getElementById("alert").textContent === board.error) showAlert("");
  render();
  if (editing) syncEditor();
}

async function poll() {
  try {
    const v = await (await fetch("/api/version")).json();
    const key = v.version + "/" + v.plan;
    document.getElementById("live").textContent = "live · " + new Date().toLocaleTimeString();
    if (key !== seenVersion) {
      seenVersion = key;
      await refresh();
    }
  } catch (e) {
    document.getElementById("live").textContent = "board server not answering";
  }
  setTimeout(poll, POLL_MS);
}

// -- the edit-step dialog: drag a box on the image the step is drawn on ------------
function shotById(id) { return board.shots.find((s) => s.id === id); }

function openEditor(id) {
  editing = { shot: id, region: null, strokes: 0, mode: "box" };
  clearStrokes();
  document.getElementById("editor-change").value = "";
  document.getElementById("editor-keep").value = "";
  syncEditor();
  document.getElementById("editor").hidden = false;
  document.getElementById("editor-change").focus();
}

function syncEditor() {
  const shot = shotById(editing.shot);
  if (!shot) return closeEditor();
  const n = shot.edits.length + 1;
  document.getElementById("editor-title").textContent = `Add edit step ${n} to ${shot.id}`;
  document.getElementById("editor-what").textContent = "drawn on " + shot.edit_source.what;
  const img = document.getElementById("editor-image");
  const frame = document.getElementById("editor-frame");
  if (shot.edit_source.url) {
    if (img.getAttribute("src") !== shot.edit_source.url) {
      img.src = shot.edit_source.url;
      editing.region = null;
      clearStrokes();
    }
    img.alt = `Edit region on ${shot.id}`;
    frame.hidden = false;
  } else {
    frame.hidden = true;
    img.removeAttribute("src");
    editing.region = null;
  }
  // where the edit model takes a markup (2.5 and later), strokes may stand for the box
  const mode = document.getElementById("editor-mode");
  mode.hidden = !(board.takes_markup && shot.edit_source.url);
  if (mode.hidden) editing.mode = "box";
  mode.setAttribute("aria-pressed", String(editing.mode === "strokes"));
  drawBox();
}

function clearStrokes() {
  const canvas = document.getElementById("editor-strokes");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  if (editing) editing.strokes = 0;
}

function strokeTo(from, to) {
  const img = document.getElementById("editor-image");
  const canvas = document.getElementById("editor-strokes");
  if (canvas.width !== img.naturalWidth || canvas.height !== img.naturalHeight) {
    canvas.width = img.naturalWidth;   // the markup is the size of the image it is drawn on
    canvas.height = img.naturalHeight;
  }
  const g = canvas.getContext("2d");
  g.strokeStyle = "#ff2d2d";
  g.lineWidth = Math.max(6, Math.round(canvas.width / 150));
  g.lineCap = g.lineJoin = "round";
  g.beginPath();
  g.moveTo(from[0] * canvas.width, from[1] * canvas.height);
  g.lineTo(to[0] * canvas.width, to[1] * canvas.height);
  g.stroke();
}

function closeEditor() {
  editing = null;
  document.getElementById("editor").hidden = true;
}

function fraction(ev) {
  const r = document.getElementById("editor-image").getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return [clamp((ev.clientX - r.left) / r.width), clamp((ev.clientY - r.top) / r.height)];
}

function drawBox() {
  const box = document.getElementById("editor-box");
  const text = document.getElementById("editor-region");
  const g = editing && editing.region;
  document.getElementById("editor-strokes").hidden = !(editing && editing.mode === "strokes");
  if (editing && editing.mode === "strokes") {
    box.hidden = true;
    text.textContent = editing.strokes
      ? "strokes drawn: they go to the model as a markup of what to change"
      : "Draw over what should change; the strokes go to the model as a markup.";
    return;
  }
  if (!g) {
    box.hidden = true;
    text.textContent = "Drag a box over what may change, or leave it empty for the whole frame.";
    return;
  }
  const [x0, y0, x1, y1] = g;
  Object.assign(box.style, { left: x0 * 100 + "%", top: y0 * 100 + "%",
    width: (x1 - x0) * 100 + "%", height: (y1 - y0) * 100 + "%" });
  box.hidden = false;
  text.textContent = "region [" + g.map((v) => v.toFixed(4)).join(", ") + "] (fractions of the image)";
}

function normal(a, b) {
  const r = (v) => Math.round(v * 10000) / 10000;
  return [r(Math.min(a[0], b[0])), r(Math.min(a[1], b[1])), r(Math.max(a[0], b[0])), r(Math.max(a[1], b[1]))];
}

function setupEditor() {
  const img = document.getElementById("editor-image");
  let start = null;
  img.addEventListener("dragstart", (e) => e.preventDefault());
  img.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    img.setPointerCapture(e.pointerId);
    start = fraction(e);
    if (editing.mode === "strokes") strokeTo(start, start);
    else editing.region = null;
    drawBox();
  });
  img.addEventListener("pointermove", (e) => {
    if (!start) return;
    const here = fraction(e);
    if (editing.mode === "strokes") {
      strokeTo(start, here);
      start = here;
      return;
    }
    editing.region = normal(start, here);
    drawBox();
  });
  img.addEventListener("pointerup", (e) => {
    if (!start) return;
    if (editing.mode === "strokes") {
      strokeTo(start, fraction(e));
      start = null;
      editing.strokes += 1;
      drawBox();
      return;
    }
    const g = normal(start, fraction(e));
    start = null;
    editing.region = g[2] - g[0] > 0.002 && g[3] - g[1] > 0.002 ? g : null;  // a click is no box
    drawBox();
  });
  document.getElementById("editor-mode").addEventListener("click", () => {
    editing.mode = editing.mode === "strokes" ? "box" : "strokes";
    editing.region = null;
    clearStrokes();
    syncEditor();
  });
  document.getElementById("editor-clear").addEventListener("click", () => {
    editing.region = null;
    clearStrokes();
    drawBox();
  });
  document.getElementById("editor-cancel").addEventListener("click", closeEditor);
  document.getElementById("editor-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const shot = shotById(editing.shot);
    const body = { shot: shot.id, seen: shot.seen,
      change: document.getElementById("editor-change").value,
      keep: document.getElementById("editor-keep").value };
    if (editing.mode === "strokes" && editing.strokes) {
      body.markup = document.getElementById("editor-strokes").toDataURL("image/png");
    } else if (editing.region) body.region = editing.region;
    if (await post("edit", body)) closeEditor();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    if (!document.getElementById("viewer").hidden) document.getElementById("viewer").hidden = true;
    else if (editing) closeEditor();
  });
  document.getElementById("viewer-close").addEventListener("click", () => {
    document.getElementById("viewer").hidden = true;
  });
  document.getElementById("viewer").addEventListener("click", (e) => {
    if (e.target.id === "viewer") e.currentTarget.hidden = true;
  });
}

setupEditor();
poll();

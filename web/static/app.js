// rackboot dashboard: reads /api/v1 and follows its live event stream.
// No framework and no build step; the server is the only state.
"use strict";

const API = "/api/v1";
const STAGES = ["power-on", "dhcp", "nbp", "ipxe-dhcp", "menu", "kernel", "archive", "booted-kernel", "up"];
const LABELS = {
  "power-on": "power on", "dhcp": "PXE DHCP", "nbp": "iPXE over TFTP", "ipxe-dhcp": "iPXE DHCP", "menu": "menu",
  "kernel": "kernel", "archive": "boot archive", "booted-kernel": "booted kernel", "up": "OS up",
};

const state = {
  machines: new Map(), // mac -> MachineView
  selected: null,      // mac
  refetch: new Map(),  // mac -> timer
  subnets: [],         // dhcp.mode full: each subnet's usage
  leases: [],
  leaseTimer: null,    // a leases reload waiting for its burst of DHCP events to end
  csrf: "",            // signed in: the session's CSRF token, sent with every write
  items: [],           // the selected machine's menu items
};

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

async function getJSON(path) {
  const r = await fetch(API + path, { cache: "no-store" });
  if (!r.ok) {
    let msg = r.statusText;
    try { msg = (await r.json()).error || msg; } catch (_) { /* not JSON */ }
    throw Object.assign(new Error(msg), { status: r.status });
  }
  return r.json();
}

function size(n) {
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MiB";
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + " KiB";
  return n + " B";
}

function secs(ms) {
  if (ms == null) return "";
  return ms < 1000 ? Math.round(ms) + " ms" : (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
}

function ago(t) {
  const s = Math.max(0, (Date.now() - new Date(t)) / 1000);
  if (s < 60) return Math.round(s) + "s ago";
  if (s < 3600) return Math.round(s / 60) + "m ago";
  if (s < 86400) return Math.round(s / 3600) + "h ago";
  return new Date(t).toLocaleString();
}

// until is ago for a time that may be ahead: "in 5m" or "3m ago".
function until(t) {
  const s = Math.round((new Date(t) - Date.now()) / 1000);
  if (s < 0) return ago(t);
  if (s < 60) return "in " + s + "s";
  if (Math.round(s / 60) < 60) return "in " + Math.round(s / 60) + "m";
  if (Math.round(s / 3600) < 48) return "in " + Math.round(s / 3600) + "h";
  return new Date(t).toLocaleString();
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : word.endsWith("s") ? "es" : "s"}`;

// ---- machines table ----

function stageCell(m) {
  const b = m.boot;
  if (!b) return el("td", {}, el("span", { class: "pill" }, "—"));
  let cls = b.finished ? "done" : "running";
  if (b.result === "abandoned") cls = "abandoned";
  const label = b.result === "abandoned" ? "abandoned at " + LABELS[b.stage] : LABELS[b.stage] || b.stage;
  const track = el("span", { class: "track", title: b.stages.map((s) => LABELS[s.stage]).join(" → ") });
  const reached = new Set(b.stages.map((s) => s.stage));
  for (const s of STAGES) track.append(el("i", { class: reached.has(s) ? "reached" : "", title: LABELS[s] }));
  const cell = el("td", {}, el("span", { class: "pill " + cls }, label), track);
  if (b.error && !b.finished) cell.append(el("div", { class: "hint err" }, b.error));
  return cell;
}

function progressCell(m) {
  const p = m.boot && m.boot.progress;
  if (!p) return el("td", {});
  const pct = p.total > 0 ? Math.min(100, (100 * p.bytes) / p.total) : 0;
  const bar = el("span", { class: "bar", title: p.file }, el("span", { style: "" }));
  bar.firstChild.style.width = pct.toFixed(1) + "%";
  const secsSoFar = (new Date(p.updated) - new Date(p.started)) / 1000;
  const rate = secsSoFar > 0 ? " · " + size(p.bytes / secsSoFar) + "/s" : "";
  return el("td", {}, bar, el("span", { class: "bar-label" }, `${p.kind} ${pct.toFixed(0)}%${rate}`));
}

function lastBootCell(m) {
  const b = m.boot;
  if (b) {
    const took = (new Date(b.updated) - new Date(b.started));
    return el("td", { title: new Date(b.started).toLocaleString() }, `${ago(b.started)}, ${secs(took)}`);
  }
  const last = m.boots && m.boots[m.boots.length - 1];
  return el("td", {}, last ? `${ago(last.started)}, ${secs(last.duration_ms)}` : "—");
}

function nextBootCell(m) {
  const td = el("td", {});
  if (m.boot_once) td.append(el("span", { class: "badge", title: "boot-once: the next boot only" }, "once: " + m.boot_once), " ");
  td.append(m.effective.default || "default");
  if (m.effective.skip_menu) td.append(" (no menu)");
  return td;
}

function machineRow(m) {
  const who = el("td", {});
  if (m.name) who.append(el("span", { class: "name" }, m.name));
  who.append(el("span", { class: "mac" }, m.mac));
  const tr = el("tr", { "data-mac": m.mac, "data-stage": (m.boot && m.boot.stage) || "" },
    who, el("td", {}, m.arch || "—"), el("td", {}, m.last_ip || (m.boot && m.boot.ip) || "—"),
    stageCell(m), progressCell(m), lastBootCell(m), nextBootCell(m));
  if (m.mac === state.selected) tr.classList.add("selected");
  tr.addEventListener("click", () => select(m.mac));
  return tr;
}

function renderMachines() {
  const body = $("#machines tbody");
  const list = [...state.machines.values()].sort((a, b) => a.mac.localeCompare(b.mac));
  body.replaceChildren(...list.map(machineRow));
  $("#no-machines").hidden = list.length > 0;
  const booting = list.filter((m) => m.boot && !m.boot.finished).length;
  $("#summary").textContent = `${list.length} machine${list.length === 1 ? "" : "s"}, ${booting} booting`;
}

async function loadMachines() {
  const list = await getJSON("/machines");
  state.machines = new Map(list.map((m) => [m.mac, m]));
  renderMachines();
  renderLeases(); // its MACs link to the machines
  if (state.selected) renderDetail(state.selected);
}

// refresh one machine soon (events come in bursts: one fetch per burst).
function refresh(mac) {
  if (state.refetch.has(mac)) return;
  state.refetch.set(mac, setTimeout(async () => {
    state.refetch.delete(mac);
    try {
      state.machines.set(mac, await getJSON("/machines/" + mac));
      renderMachines();
      if (mac === state.selected) renderDetail(mac);
    } catch (e) {
      if (e.status === 404) { state.machines.delete(mac); renderMachines(); }
    }
  }, 150));
}

// ---- one machine ----

function select(mac) {
  state.selected = mac;
  renderMachines();
  renderDetail(mac);
  $("#detail").scrollIntoView({ behavior: "smooth", block: "nearest" });
}

async function renderDetail(mac) {
  const m = state.machines.get(mac);
  if (!m) return;
  $("#detail").hidden = false;
  $("#detail-title").textContent = (m.name ? m.name + " — " : "") + m.mac;
  renderSettings(m);
  renderStages(m.boot);
  renderBoots(m.boots || []);
  const [evs] = await Promise.all([getJSON("/machines/" + mac + "/events").catch(() => []), renderMenu(m)]);
  renderTimeline(evs);
}

function renderSettings(m) {
  const e = m.effective;
  const rows = [
    ["Labels", Object.entries(m.labels || {}).map(([k, v]) => k + "=" + v).join(" ")],
    ["Rules", (e.rules || []).join(", ")],
    ["Default item", e.default || "the configured default"],
    ["Boot-once", m.boot_once],
    ["Boot args", (e.boot_args || []).map((kv) => kv.key + "=" + kv.value).join(",")],
    ["root_shadow", e.root_shadow ? "its own" : ""],
    ["Skip menu", e.skip_menu == null ? "" : String(e.skip_menu)],
    ["UUID", m.uuid], ["Vendor class", m.vendor_class],
    ["First seen", m.first_seen && new Date(m.first_seen).toLocaleString()],
  ];
  $("#settings").replaceChildren(...rows.filter(([, v]) => v).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function renderStages(b) {
  const box = $("#stages");
  if (!b) { box.replaceChildren(el("p", { class: "hint" }, "No boot since rackboot started.")); return; }
  const stages = b.stages.filter((s) => s.stage !== "booted-kernel");
  const max = Math.max(1, ...stages.map((s) => s.duration_ms));
  const slowest = stages.reduce((a, s) => (s.duration_ms > (a ? a.duration_ms : -1) ? s : a), null);
  box.replaceChildren(...stages.map((s) => {
    const fill = el("div", { class: "fill" });
    fill.style.width = ((100 * s.duration_ms) / max).toFixed(1) + "%";
    return el("div", { class: "stage-row" + (s === slowest ? " slowest" : ""), title: s === slowest ? "the slowest stage" : "" },
      el("span", {}, LABELS[s.stage] || s.stage), el("div", {}, fill), el("span", { class: "ms" }, secs(s.duration_ms)));
  }), el("p", { class: "hint" }, `Boot ${b.number}: ${b.result || "under way"}, ${secs(new Date(b.updated) - new Date(b.started))} so far, ${size(b.bytes)} sent.`));
}

function renderTimeline(evs) {
  const list = $("#timeline");
  const shown = evs.filter((e) => e.type !== "progress" || e === evs[evs.length - 1]);
  let start = null;
  list.replaceChildren(...shown.map((e) => {
    const t = new Date(e.time);
    if (start === null || e.type === "abandoned") start = t;
    const li = el("li", {}, el("span", { class: "t" }, "+" + ((t - start) / 1000).toFixed(2) + "s"),
      el("span", {}, (e.boot ? "#" + e.boot + " " : "") + (LABELS[e.stage] || "")),
      el("span", { class: e.error ? "err" : "" }, e.msg));
    li.title = t.toLocaleString();
    return li;
  }));
  list.scrollTop = list.scrollHeight;
}

function renderBoots(boots) {
  $("#boots tbody").replaceChildren(...boots.slice().reverse().map((b) => el("tr", {},
    el("td", {}, new Date(b.started).toLocaleString()), el("td", {}, secs(b.duration_ms)), el("td", {}, b.result),
    el("td", {}, b.item || ""), el("td", {}, b.slowest ? `${LABELS[b.slowest] || b.slowest} ${secs(b.stages_ms[b.slowest])}` : ""))));
}

// ---- the menu, drawn the way iPXE draws it on a text console ----

async function renderMenu(m) {
  const arch = $("#menu-arch").value;
  try {
    const r = await fetch(`${API}/machines/${m.mac}/menu${arch ? "?arch=" + arch : ""}`, { cache: "no-store" });
    const text = await r.text();
    if (!r.ok) throw new Error(text);
    $("#script").textContent = text;
    drawScreen(parseMenu(text));
    renderActions(m);
  } catch (e) {
    $("#screen").textContent = "\n  " + e.message;
  }
}

// parseMenu reads the first menu of a script: its title, lines and default.
function parseMenu(script) {
  const menu = { title: "", lines: [], def: "", timeout: "" };
  state.items = [];
  let inMenu = false;
  const vars = {};
  for (const raw of script.split("\n")) {
    const line = raw.trim();
    const words = line.match(/(?:[^\s"]+|"[^"]*")+/g) || [];
    if (words[0] === "set" || (words[0] === "isset" && words[2] === "||")) {
      const w = words[0] === "set" ? words : words.slice(3);
      vars[w[1]] = w.slice(2).join(" ");
    }
    if (words[0] === "menu" && !inMenu) { inMenu = true; menu.title = words.slice(1).join(" "); continue; }
    if (!inMenu) continue;
    if (words[0] === "item") {
      // item [--key k] [--default] label text   |   item --gap [--] text
      const gap = line.match(/^item\s+--gap(?:\s+--)?(?:\s(.*))?$/);
      const it = line.match(/^item\s+(?:--key\s+\S+\s+)?(?:--default\s+)?(\S+)(?:\s+(.*))?$/);
      if (gap) menu.lines.push({ gap: true, text: gap[1] || "" });
      else if (it) { menu.lines.push({ label: it[1], text: it[2] || "" }); state.items.push({ id: it[1], text: it[2] || it[1] }); }
    } else if (words[0] === "choose") {
      const i = words.indexOf("--default");
      if (i >= 0) menu.def = words[i + 1];
      const t = words.indexOf("--timeout");
      if (t >= 0) menu.timeout = words[t + 1].replace(/\$\{([^}]+)\}/, (_, v) => vars[v] || "");
      break;
    }
  }
  return menu;
}

function drawScreen(menu) {
  const W = 80;
  const screen = $("#screen");
  const center = (s) => " ".repeat(Math.max(0, Math.floor((W - s.length) / 2))) + s;
  const parts = [el("span", { class: "title" }, center(menu.title) + "\n"), "\n"];
  for (const l of menu.lines) {
    const text = (" " + l.text).padEnd(W - 2).slice(0, W - 2);
    if (l.gap) parts.push(el("span", { class: "gap" }, " " + text + "\n"));
    else if (l.label === menu.def) parts.push(" ", el("span", { class: "sel" }, text), "\n");
    else parts.push(" " + text + "\n");
  }
  const ms = parseInt(menu.timeout, 10);
  if (ms > 0) parts.push("\n" + center(ms < 1000 ? "(boots the selected item at once)" : `(boots the selected item in ${Math.round(ms / 1000)} s)`) + "\n");
  screen.replaceChildren(...parts);
}

// ---- platforms ----

async function loadPlatforms() {
  const hint = $("#no-platforms");
  try {
    const list = await getJSON("/platforms");
    $("#platforms tbody").replaceChildren(...list.map((p) => el("tr", {},
      el("td", { class: "mac" }, p.build), el("td", {}, p.default ? "★ default" : ""),
      el("td", {}, p.size ? size(p.size) : ""), el("td", {}, String(p.boots_7d || 0)))));
    hint.hidden = list.length > 0;
    hint.textContent = "No platform imported: run rackboot platform import.";
  } catch (e) {
    hint.hidden = false;
    hint.textContent = "Platforms are not available from this server (" + e.message + ").";
  }
}

// ---- leases (dhcp.mode full: /subnets is empty in the other modes) ----

// The order states are told in a subnet's line.
const LEASE_STATES = ["bound", "declined", "released", "expired", "offered"];

function subnetLine(u) {
  const n = u.leases || {};
  const inUse = (n.bound || 0) + (n.offered || 0) + (n.declined || 0);
  const counts = LEASE_STATES.filter((s) => n[s] > 0).map((s) => `${n[s]} ${s}`);
  let text = `${u.subnet} — ${counts.length ? counts.join(", ") : "nothing leased"} of ${plural(u.pool_addresses, "pool address")}`;
  if (u.reservations) text += ", " + plural(u.reservations, "reservation");
  const bar = el("span", { class: "bar", title: `${inUse} of ${u.pool_addresses} addresses taken (bound, offered or declined)` }, el("span", {}));
  bar.firstChild.style.width = (u.pool_addresses > 0 ? Math.min(100, (100 * inUse) / u.pool_addresses) : 0).toFixed(1) + "%";
  return el("li", { "data-subnet": u.subnet }, bar, " ", text);
}

function leaseRow(l) {
  const mac = l.mac || "";
  const known = state.machines.has(mac);
  const macCell = el("td", { class: "mac" }, mac || "—");
  if (known) {
    macCell.classList.add("link");
    macCell.title = "show this machine";
    macCell.addEventListener("click", () => select(mac));
  }
  const expires = el("td", { title: new Date(l.expires).toLocaleString() }, until(l.expires));
  return el("tr", { "data-ip": l.ip, "data-mac": mac, "data-state": l.state },
    el("td", { class: "mac" }, l.ip), macCell, el("td", {}, l.hostname || ""),
    el("td", {}, el("span", { class: "pill lease-" + l.state }, l.state + (l.reserved ? " (reserved)" : ""))),
    expires, el("td", { class: "mac" }, l.relay || "—"));
}

function renderLeases() {
  const section = $("#leases-section");
  section.hidden = state.subnets.length === 0;
  if (section.hidden) return;
  $("#subnets").replaceChildren(...state.subnets.map(subnetLine));
  $("#leases tbody").replaceChildren(...state.leases.map(leaseRow));
  $("#no-leases").hidden = state.leases.length > 0;
}

async function loadLeases() {
  try {
    state.subnets = await getJSON("/subnets");
    state.leases = state.subnets.length ? await getJSON("/leases") : [];
  } catch (_) {
    state.subnets = []; // an older server, or reads need a token: no section
  }
  renderLeases();
}

// reload the leases soon after a DHCP event (they come in bursts: one fetch per burst).
function leasesChanged() {
  if (state.leaseTimer) return;
  state.leaseTimer = setTimeout(() => { state.leaseTimer = null; loadLeases(); }, 500);
}

// ---- servers (those sharing the store; hidden for a server alone) ----

function serverRow(m) {
  const h = m.health;
  const health = !h ? "—" : h.ok ? "ok, " + ago(h.checked) : "failing: " + (h.error || "");
  const alive = m.alive ? el("span", { class: "pill done" }, "alive")
    : el("span", { class: "pill failed", title: "its registration expired" }, "gone, last seen " + ago(m.last_seen));
  return el("tr", { "data-server": m.name, "data-alive": String(m.alive) },
    el("td", {}, m.name + (m.self ? " (this one)" : "")), el("td", { class: "mac" }, m.advertise || "—"),
    el("td", {}, m.http_url ? el("a", { href: m.http_url + "/" }, m.http_url) : "—"), el("td", {}, m.version || ""),
    el("td", { title: new Date(m.started).toLocaleString() }, m.alive ? ago(m.started) : "—"), el("td", {}, alive),
    el("td", { class: h && !h.ok ? "bad" : "" }, health));
}

async function loadServers() {
  let snap;
  try {
    snap = await getJSON("/servers");
  } catch (_) {
    $("#servers-section").hidden = true; // an older server, or reads need a token
    return;
  }
  const members = snap.members || [];
  $("#servers-section").hidden = members.length < 2 && !snap.stale;
  const stale = $("#servers-stale");
  stale.hidden = !snap.stale;
  stale.textContent = snap.stale ? `The store has not answered since ${ago(snap.synced)} (${snap.error}): this is the last list read.` : "";
  $("#servers tbody").replaceChildren(...members.map(serverRow));
}

// ---- live ----

function follow() {
  const live = $("#live");
  const es = new EventSource(API + "/events?follow=1");
  es.onopen = () => { live.textContent = "live"; live.classList.add("on"); loadMachines().catch(() => {}); };
  es.onerror = () => { live.textContent = "reconnecting…"; live.classList.remove("on"); };
  es.addEventListener("lagged", () => loadMachines().catch(() => {}));
  es.addEventListener("boot", (msg) => {
    const ev = JSON.parse(msg.data);
    if (ev.type === "dhcp" && state.subnets.length) leasesChanged();
    if (!ev.mac) return;
    const m = state.machines.get(ev.mac);
    if (ev.type === "progress" && m && m.boot) {
      // Progress comes often: update the bar in place, no fetch.
      m.boot.progress = { file: ev.file, kind: ev.kind, bytes: ev.bytes, total: ev.total,
        started: m.boot.progress && m.boot.progress.file === ev.file ? m.boot.progress.started : new Date(new Date(ev.time) - ev.duration_ms).toISOString(),
        updated: ev.time };
      renderMachines();
      return;
    }
    refresh(ev.mac);
    if (ev.summary) {
      // A finished boot reaches the store in the registry's next batch.
      setTimeout(() => { refresh(ev.mac); loadPlatforms(); }, 1000);
    }
  });
}


// ---- signed in: the dashboard acts (session cookie + CSRF token) ----

async function write(method, path, body) {
  const r = await fetch(API + path, {
    method, cache: "no-store", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": state.csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 204) return null;
  const text = await r.text();
  let data = null;
  try { data = JSON.parse(text); } catch (_) { /* not JSON */ }
  if (!r.ok) {
    if (r.status === 401) setSignedIn(false);
    throw Object.assign(new Error((data && data.error) || r.statusText), { status: r.status, data });
  }
  return data;
}

function setSignedIn(on, csrf) {
  state.csrf = on ? csrf : "";
  $("#signin-open").hidden = on;
  $("#signin").hidden = true;
  $("#signed-in").hidden = !on;
  $("#import").hidden = !on;
  document.body.classList.toggle("signed-in", on);
  const m = state.machines.get(state.selected);
  if (m) renderActions(m);
}

async function loadSession() {
  try {
    const s = await getJSON("/session");
    setSignedIn(s.signed_in, s.csrf_token);
  } catch (_) { setSignedIn(false); }
}

$("#signin-open").addEventListener("click", () => {
  $("#signin-open").hidden = true;
  $("#signin").hidden = false;
  $("#signin-token").focus();
});

$("#signin").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("#signin-error").textContent = "";
  try {
    const r = await fetch(API + "/session", {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: $("#signin-token").value }),
    });
    const s = await r.json();
    if (!r.ok) throw new Error(s.error || r.statusText);
    $("#signin-token").value = "";
    setSignedIn(true, s.csrf_token);
  } catch (err) {
    $("#signin-error").textContent = err.message;
  }
});

$("#signout").addEventListener("click", async () => {
  try { await write("DELETE", "/session"); } catch (_) { /* signed out anyway */ }
  setSignedIn(false);
});

function renderActions(m) {
  const box = $("#actions");
  box.hidden = !state.csrf;
  if (box.hidden) return;
  const sel = $("#act-item");
  const keep = sel.value;
  const items = state.items.filter((i) => i.id !== "options");
  if (!items.some((i) => i.id === "smartos-noimport")) items.unshift({ id: "smartos-noimport", text: "the default SmartOS, noimport (rescue)" });
  sel.replaceChildren(...items.map((i) => el("option", { value: i.id }, i.id + " — " + i.text)));
  if (items.some((i) => i.id === keep)) sel.value = keep;
  getJSON(`/machines/${m.mac}/bmc`).then((b) => {
    $("#act-bmc").textContent = b.address
      ? `BMC ${b.address} (${b.interface}), user ${b.user || "—"}, password ${b.password_set ? "set" : "not set"}` + (b.rules && b.rules.length ? `; defaults from ${b.rules.join(", ")}` : "")
      : "No BMC: set one with rackboot machines bmc set " + m.mac + " --address …";
  }).catch(() => { $("#act-bmc").textContent = ""; });
  if (document.activeElement !== $("#act-labels")) {
    $("#act-labels").value = Object.entries(m.labels || {}).map(([k, v]) => k + "=" + v).join(" ");
  }
}

// act runs one change for the selected machine and says how it went.
async function act(what, fn) {
  const mac = state.selected;
  const out = $("#act-result");
  out.classList.remove("err");
  out.textContent = what + "…";
  try {
    const msg = await fn(mac);
    out.textContent = typeof msg === "string" ? msg : what + ": done"; // not an API answer's object
    refresh(mac);
  } catch (e) {
    out.classList.add("err");
    out.textContent = what + ": " + e.message;
  }
}

function powerText(r) {
  let s = `${r.mac}: ${r.done}`;
  if (r.action !== "status" && r.power) s += ` (was ${r.power})`;
  for (const w of r.warnings || []) s += " — warning: " + w;
  return s;
}

$("#act-boot-once").addEventListener("click", () => act("boot-once", async (mac) => {
  const item = $("#act-item").value;
  await write("POST", `/machines/${mac}/boot-once`, { item });
  return `its next boot boots ${item}, once`;
}));
$("#act-clear-once").addEventListener("click", () => act("clear boot-once", async (mac) => {
  await write("DELETE", `/machines/${mac}/boot-once`);
  return "boot-once cleared: its next boot boots its default";
}));
$("#act-boot-now").addEventListener("click", () => act("boot now", async (mac) => {
  const item = $("#act-item").value;
  const r = await write("POST", `/machines/${mac}/boot`, { item, now: true });
  return `booting ${item} now: ` + powerText(r.power);
}));
$("#act-default").addEventListener("click", () => act("default", async (mac) => {
  const item = $("#act-item").value;
  await write("PATCH", `/machines/${mac}`, { default: item });
  return `its menu starts on ${item} from now on`;
}));
$("#act-default-clear").addEventListener("click", () => act("default", async (mac) => {
  await write("PATCH", `/machines/${mac}`, { default: null });
  return "its menu starts on the rules' or the configured default again";
}));
$("#act-labels-save").addEventListener("click", () => act("labels", async (mac) => {
  const want = {};
  for (const kv of $("#act-labels").value.split(/\s+/).filter(Boolean)) {
    const i = kv.indexOf("=");
    if (i <= 0) throw new Error(`"${kv}": write key=value`);
    want[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const labels = { ...want };
  for (const k of Object.keys((state.machines.get(mac) || {}).labels || {})) if (!(k in want)) labels[k] = null;
  await write("PATCH", `/machines/${mac}`, { labels });
  return "labels saved";
}));
for (const b of document.querySelectorAll("[data-power]")) {
  b.addEventListener("click", () => act("power " + b.dataset.power, async (mac) =>
    powerText(await write("POST", `/machines/${mac}/power`, { action: b.dataset.power }))));
}

// Platform import: the answer is a stream of JSON lines, progress then the result.
$("#import").addEventListener("submit", async (e) => {
  e.preventDefault();
  const status = $("#import-status");
  const bar = $("#import-progress");
  status.classList.remove("err");
  status.textContent = "starting…";
  bar.hidden = false;
  bar.removeAttribute("value");
  try {
    const r = await fetch(API + "/platforms", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": state.csrf },
      body: JSON.stringify({ source: $("#import-source").value }),
    });
    if (!r.ok) { const d = await r.json().catch(() => ({})); throw new Error(d.error || r.statusText); }
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const m = JSON.parse(line);
        if (m.error) throw new Error(m.error);
        if (m.progress) {
          const p = m.progress;
          if (p.total > 0) bar.value = Math.min(100, (100 * p.bytes) / p.total); else bar.removeAttribute("value");
          status.textContent = `${p.phase} ${p.file || p.build || ""} ${p.total > 0 ? Math.round((100 * p.bytes) / p.total) + "%" : size(p.bytes)}`;
        }
        if (m.platform) { status.textContent = "imported " + m.platform.build; bar.value = 100; loadPlatforms(); }
      }
    }
  } catch (err) {
    status.classList.add("err");
    status.textContent = "import: " + err.message;
    bar.hidden = true;
  }
});

$("#menu-arch").addEventListener("change", () => { const m = state.machines.get(state.selected); if (m) renderMenu(m); });
setInterval(renderMachines, 10000); // "ago" columns
setInterval(loadLeases, 10000);      // not every lease comes with an event: only netboot clients' do
setInterval(loadServers, 5000);      // servers come and go without boot events
loadMachines().catch((e) => { $("#summary").textContent = "cannot read machines: " + e.message; });
loadPlatforms();
loadLeases();
loadServers();
loadSession();
follow();

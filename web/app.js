// The upwatch dashboard: plain modules, no build step, no third-party code.
// It reads the same API as any client; live changes come from the WebSocket.

const app = document.getElementById("app");
const live = document.getElementById("live");
const PAGE = 50;

// ---- the API --------------------------------------------------------------

let token = localStorage.getItem("upwatch-token") || "";

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.field = body?.error?.field;
  }
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (token) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, {
    ...options,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  if (response.status === 401) {
    askForToken();
    throw new ApiError(401, await response.json().catch(() => null));
  }
  if (response.status === 204) return null;
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function askForToken(message = "") {
  const dialog = document.getElementById("token-dialog");
  document.getElementById("token-error").textContent = message;
  if (!dialog.open) dialog.showModal();
}

document.getElementById("token-form").addEventListener("submit", () => {
  token = document.getElementById("token-input").value.trim();
  localStorage.setItem("upwatch-token", token);
  route();
});

// ---- small helpers ----------------------------------------------------------

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key === "class") element.className = value;
    else element.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

const percent = (share) => (share === null || share === undefined ? "–" : `${(Math.floor(share * 10000) / 100).toFixed(2)} %`);
const ms = (value) => (value === null || value === undefined ? "–" : `${value} ms`);
const when = (at) => (at ? new Date(at).toLocaleString() : "–");
const hoursAgo = (n) => new Date(Date.now() - n * 3600_000).toISOString();

function statusOf(monitor) {
  return monitor.paused ? "paused" : monitor.status;
}

function statusCell(status) {
  return h("span", { class: `status ${status}` }, status);
}

/// One cell per hour with checks: green all passed, red all failed, amber some.
function recentBar(hours, label) {
  const cells = hours.map((hour) => {
    const kind = hour.failed_checks === 0 ? "ok" : hour.failed_checks === hour.checks ? "bad" : "some";
    const title = `${new Date(hour.start).toLocaleString()}: ${hour.checks - hour.failed_checks} of ${hour.checks} checks passed`;
    return h("span", { class: kind, title });
  });
  return h("div", { class: "bar", role: "img", "aria-label": label }, cells);
}

function fieldError(form, field, message) {
  for (const slot of form.querySelectorAll(".field .error")) slot.textContent = "";
  const slot = form.querySelector(`[data-error-for="${field}"]`) || form.querySelector('[data-error-for="form"]');
  if (slot) slot.textContent = message;
}

// ---- the live feed ----------------------------------------------------------

let socket = null;
let watching = [];
let pending = new Map();
let onTransitions = () => {};

/// Subscribes to the transitions of `ids` only; changes are applied about
/// once a second, coalesced per monitor.
function watch(ids, apply) {
  onTransitions = apply;
  const same = ids.length === watching.length && ids.every((id, i) => id === watching[i]);
  if (same && socket && socket.readyState <= 1) return;
  watching = ids;
  if (socket) socket.close();
  socket = null;
  if (ids.length === 0) return;
  const query = new URLSearchParams();
  for (const id of ids) query.append("monitor_id", id);
  if (token) query.set("access_token", token);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const opened = new WebSocket(`${scheme}://${location.host}/api/v1/ws?${query}`);
  socket = opened;
  opened.onopen = () => (live.textContent = "live");
  opened.onclose = () => {
    if (socket !== opened) return;
    live.textContent = "reconnecting…";
    setTimeout(() => {
      if (socket === opened) {
        socket = null;
        watch(watching, onTransitions);
      }
    }, 2000);
  };
  opened.onmessage = (message) => {
    const item = JSON.parse(message.data);
    if (item.type === "transition") pending.set(item.monitor_id, item);
  };
}

setInterval(() => {
  if (pending.size === 0) return;
  const changes = [...pending.values()];
  pending = new Map();
  onTransitions(changes);
}, 1000);

// ---- the overview -----------------------------------------------------------

const filters = { status: "", tag: "", name: "", cursors: [null] };

async function overview() {
  document.title = "upwatch";
  const summary = h("section", { class: "summary", "aria-label": "Monitors by status" });
  const rows = h("tbody");
  const pager = h("div", { class: "pager" });
  const form = addForm();
  app.replaceChildren(
    h("h1", {}, "Monitors"),
    summary,
    filterBar(),
    h("table", { "aria-label": "Monitors" },
      h("thead", {}, h("tr", {},
        ["Status", "Name", "Tags", "Last latency", "Uptime 24 h", "Last 24 h", ""].map((title) => h("th", { scope: "col" }, title)))),
      rows),
    pager,
    h("h2", { id: "add-title" }, "Add a monitor"),
    form,
  );
  await Promise.all([drawSummary(summary), drawRows(rows, pager, summary)]);
}

async function drawSummary(section) {
  const counts = await api("/api/v1/summary");
  section.replaceChildren(...["up", "down", "unknown", "paused", "total"].map((key) =>
    h("div", { "data-count": key }, h("strong", {}, counts[key]), key)));
}

function filterBar() {
  const status = h("select", { id: "filter-status", onchange: (e) => refilter({ status: e.target.value }) },
    ["", "up", "down", "unknown"].map((value) => h("option", { value, selected: value === filters.status }, value || "any")));
  const tag = h("input", { id: "filter-tag", value: filters.tag, placeholder: "prod", onchange: (e) => refilter({ tag: e.target.value.trim() }) });
  const name = h("input", { id: "filter-name", type: "search", value: filters.name, placeholder: "checkout",
    oninput: debounce((e) => refilter({ name: e.target.value.trim() }), 300) });
  return h("div", { class: "filters", role: "search" },
    h("div", { class: "field" }, h("label", { for: "filter-status" }, "Filter by status"), status),
    h("div", { class: "field" }, h("label", { for: "filter-tag" }, "Filter by tag"), tag),
    h("div", { class: "field" }, h("label", { for: "filter-name" }, "Search monitors"), name));
}

function debounce(fn, wait) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
}

function refilter(changes) {
  Object.assign(filters, changes, { cursors: [null] });
  overview();
}

async function drawRows(rows, pager, summary) {
  const query = new URLSearchParams({ limit: PAGE });
  if (filters.status) query.set("status", filters.status);
  if (filters.tag) query.set("tag", filters.tag);
  if (filters.name) query.set("name", filters.name);
  const cursor = filters.cursors[filters.cursors.length - 1];
  if (cursor) query.set("cursor", cursor);
  let page;
  try {
    page = await api(`/api/v1/monitors?${query}`);
  } catch (error) {
    rows.replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "error" }, error.message)));
    return;
  }
  const byId = new Map();
  rows.replaceChildren(...page.items.map((monitor) => {
    const row = monitorRow(monitor, () => drawSummary(summary));
    byId.set(monitor.id, row);
    return row;
  }));
  if (page.items.length === 0) rows.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No monitors match.")));
  pager.replaceChildren(
    h("button", { disabled: filters.cursors.length === 1, onclick: () => { filters.cursors.pop(); overview(); } }, "Previous page"),
    h("button", { disabled: !page.next_cursor, onclick: () => { filters.cursors.push(page.next_cursor); overview(); } }, "Next page"),
    h("span", { class: "muted" }, `page ${filters.cursors.length}`));
  const ids = page.items.map((m) => m.id);
  watch(ids, (changes) => {
    for (const change of changes) byId.get(change.monitor_id)?.update({ status: change.to, latency: change.latency_ms });
    drawSummary(summary);
  });
  if (ids.length) {
    const query = new URLSearchParams();
    for (const id of ids) query.append("monitor_id", id);
    const recent = await api(`/api/v1/uptime?${query}`).catch(() => ({ items: [] }));
    for (const item of recent.items) byId.get(item.monitor_id)?.history(item);
  }
}

function monitorRow(monitor, changed) {
  let current = monitor;
  const status = h("td", {}, statusCell(statusOf(monitor)));
  const latency = h("td", {}, ms(monitor.last_latency_ms));
  const uptime = h("td", {}, "…");
  const bar = h("td", {}, "");
  const toggle = h("button", {}, "");
  const label = () => {
    toggle.textContent = current.paused ? "Resume" : "Pause";
    toggle.setAttribute("aria-label", `${current.paused ? "Resume" : "Pause"} ${current.name}`);
  };
  toggle.addEventListener("click", async () => {
    const action = current.paused ? "resume" : "pause";
    current = await api(`/api/v1/monitors/${current.id}/${action}`, { method: "POST" });
    status.replaceChildren(statusCell(statusOf(current)));
    label();
    changed();
  });
  label();
  const row = h("tr", { "data-monitor-id": monitor.id },
    status,
    h("td", {}, h("a", { href: `#/monitors/${monitor.id}` }, monitor.name)),
    h("td", {}, monitor.tags.map((tag) => h("span", { class: "tag" }, tag))),
    latency, uptime, bar, h("td", {}, toggle));
  row.update = ({ status: to, latency: lastLatency }) => {
    current = { ...current, status: to };
    status.replaceChildren(statusCell(statusOf(current)));
    if (lastLatency !== undefined) latency.textContent = ms(lastLatency);
  };
  row.history = (item) => {
    uptime.textContent = percent(item.uptime_24h);
    bar.replaceChildren(recentBar(item.hours, `Checks of ${monitor.name} in the last 24 hours`));
  };
  return row;
}

/// The fields a person edits (name, URL, interval, tags), each with its
/// label and a slot for the API's message; `prefix` keeps their ids apart.
function monitorFields(prefix, monitor, submitLabel) {
  const field = (name, labelText, attributes = {}) =>
    h("div", { class: "field" },
      h("label", { for: `${prefix}-${name}` }, labelText),
      h("input", { id: `${prefix}-${name}`, name, ...attributes }),
      h("span", { class: "error", "data-error-for": name, role: "alert" }));
  return [
    field("name", "Name", { required: true, value: monitor.name }),
    field("url", "URL", { required: true, value: monitor.url, placeholder: "https://service.example/health" }),
    field("interval_seconds", "Interval (seconds)", { type: "number", value: monitor.interval_seconds ?? 60, min: 1 }),
    field("tags", "Tags (comma-separated)", { value: (monitor.tags || []).join(", ") }),
    h("button", { type: "submit", class: "primary" }, submitLabel),
    h("span", { class: "error", "data-error-for": "form", role: "alert" }),
  ];
}

/// What the monitor fields hold, as the API's body.
function monitorBody(form) {
  const data = new FormData(form);
  return {
    name: data.get("name"),
    url: data.get("url"),
    interval_seconds: Number(data.get("interval_seconds")),
    tags: String(data.get("tags") || "").split(",").map((t) => t.trim()).filter(Boolean),
  };
}

function addForm() {
  const form = h("form", { class: "add", "aria-labelledby": "add-title", novalidate: true },
    monitorFields("add", {}, "Add monitor"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("/api/v1/monitors", { method: "POST", body: monitorBody(form) });
      form.reset();
      overview();
    } catch (error) {
      fieldError(form, error.field || "form", error.message);
    }
  });
  return form;
}

// ---- a monitor's page -------------------------------------------------------

async function monitorPage(id) {
  let monitor;
  try {
    monitor = await api(`/api/v1/monitors/${id}`);
  } catch (error) {
    app.replaceChildren(h("h1", {}, "Monitor"), h("p", { class: "error" }, error.message), h("a", { href: "#/" }, "All monitors"));
    return;
  }
  document.title = `${monitor.name} · upwatch`;
  const heading = h("div", {});
  const uptimes = h("section", { class: "cards", "aria-label": "Uptime" });
  const days = h("section", { "aria-label": "Last 90 days" });
  const chart = h("div", { class: "chart" });
  const results = h("tbody");
  const timeline = h("ol", { class: "timeline" });
  const audit = h("pre", { "aria-live": "polite" }, "");
  const editForm = h("form", { class: "add", hidden: true, "aria-label": `Edit ${monitor.name}` });

  const drawHeading = () => heading.replaceChildren(
    h("h1", {}, monitor.name, " ", statusCell(statusOf(monitor))),
    h("p", { class: "muted" }, monitor.url, " · every ", monitor.interval_seconds, " s · ",
      monitor.tags.map((t) => h("span", { class: "tag" }, t))),
    h("div", { class: "actions" },
      h("button", { onclick: async () => { monitor = await api(`/api/v1/monitors/${id}/${monitor.paused ? "resume" : "pause"}`, { method: "POST" }); drawHeading(); } },
        monitor.paused ? "Resume" : "Pause"),
      h("button", { onclick: () => { editForm.hidden = !editForm.hidden; } }, "Edit"),
      h("button", { onclick: async () => {
        if (!confirm(`Delete ${monitor.name}? Its history stays.`)) return;
        await api(`/api/v1/monitors/${id}`, { method: "DELETE" });
        location.hash = "#/";
      } }, "Delete"),
      h("a", { href: "#/" }, "All monitors")));
  drawHeading();
  fillEditForm(editForm, monitor, (updated) => { monitor = updated; drawHeading(); });

  const range = h("div", { class: "actions", role: "group", "aria-label": "Latency range" },
    h("button", { onclick: () => drawChart(chart, id, 24) }, "24 h"),
    h("button", { onclick: () => drawChart(chart, id, 168) }, "7 d"));
  const at = h("input", { id: "state-at", type: "datetime-local" });
  const stateForm = h("form", { class: "add", onsubmit: async (event) => {
    event.preventDefault();
    const when = at.value ? new Date(at.value).toISOString() : new Date().toISOString();
    try {
      const state = await api(`/api/v1/monitors/${id}/state?at=${encodeURIComponent(when)}`);
      audit.textContent = `As of ${new Date(when).toLocaleString()}: ${state.status}${state.paused ? " (paused)" : ""}, version ${state.version}, ` +
        `every ${state.interval_seconds} s, changed by ${state.changed_by}\n` + JSON.stringify(state, null, 2);
    } catch (error) {
      audit.textContent = error.message;
    }
  } }, h("div", { class: "field" }, h("label", { for: "state-at" }, "State at"), at), h("button", { type: "submit" }, "Show state"));

  app.replaceChildren(heading, editForm,
    h("h2", {}, "Uptime"), uptimes,
    h("h2", {}, "Last 90 days"), days,
    h("h2", {}, "Latency"), range, chart,
    h("h2", {}, "Recent results"),
    h("table", { "aria-label": "Recent results" }, h("thead", {}, h("tr", {},
      ["Checked", "Status", "Latency", "HTTP", "Error"].map((t) => h("th", { scope: "col" }, t)))), results),
    h("h2", {}, "Events"), timeline,
    h("h2", {}, "Audit: the state at a time"), stateForm, audit);

  watch([id], async (changes) => {
    const last = changes[changes.length - 1];
    monitor = { ...monitor, status: last.to };
    drawHeading();
    drawResults(results, id);
    drawTimeline(timeline, id);
  });
  await Promise.all([
    drawUptimes(uptimes, id),
    drawDays(days, id),
    drawChart(chart, id, 24),
    drawResults(results, id),
    drawTimeline(timeline, id),
  ]);
}

function fillEditForm(form, monitor, done) {
  form.replaceChildren(...monitorFields("edit", monitor, "Save"));
  form.onsubmit = async (event) => {
    event.preventDefault();
    const body = monitorBody(form);
    try {
      const updated = await api(`/api/v1/monitors/${monitor.id}`, { method: "PATCH", body, headers: { "if-match": String(monitor.version) } });
      form.hidden = true;
      done(updated);
    } catch (error) {
      fieldError(form, error.field || "form", error.message);
    }
  };
}

async function drawUptimes(section, id) {
  const spans = [["24 h", 24, "hour"], ["7 d", 168, "hour"], ["30 d", 720, "day"], ["90 d", 2160, "day"]];
  const answers = await Promise.all(spans.map(([, hours, bucket]) =>
    api(`/api/v1/monitors/${id}/uptime?from=${encodeURIComponent(hoursAgo(hours))}&bucket=${bucket}`)));
  section.replaceChildren(...spans.map(([label], i) => h("div", {}, h("strong", {}, percent(answers[i].uptime)), label)));
}

async function drawDays(section, id) {
  const history = await api(`/api/v1/monitors/${id}/uptime?from=${encodeURIComponent(hoursAgo(90 * 24))}&bucket=day`);
  const cells = history.items.map((day) => {
    const kind = day.uptime === null ? "" : day.uptime >= 0.999 ? "ok" : day.uptime >= 0.99 ? "some" : "bad";
    return h("span", { class: kind, title: `${new Date(day.start).toLocaleDateString()}: ${percent(day.uptime)}` });
  });
  section.replaceChildren(h("div", { class: "bar days", role: "img", "aria-label": "Uptime of each of the last 90 days" }, cells));
}

async function drawChart(container, id, hours) {
  const history = await api(`/api/v1/monitors/${id}/uptime?from=${encodeURIComponent(hoursAgo(hours))}&bucket=hour`);
  const points = history.items.filter((b) => b.latency_ms_p50 !== null);
  const width = 800, height = 180, pad = 28;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `Latency p50 and p95 over the last ${hours === 24 ? "24 hours" : "7 days"}`);
  if (points.length === 0) {
    container.replaceChildren(h("p", { class: "muted" }, "No checks in this range yet."));
    return;
  }
  const top = Math.max(...points.map((p) => p.latency_ms_p95), 1);
  const start = new Date(history.items[0].start).getTime();
  const span = Math.max(Date.now() - start, 1);
  const x = (b) => pad + ((new Date(b.start).getTime() - start) / span) * (width - 2 * pad);
  const y = (value) => height - pad - (value / top) * (height - 2 * pad);
  const line = (key, colour) => {
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", points.map((p, i) => `${i ? "L" : "M"}${x(p).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" "));
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", colour);
    path.setAttribute("stroke-width", "2");
    path.setAttribute("data-series", key);
    return path;
  };
  const label = (text, ly) => {
    const t = document.createElementNS("http://www.w3.org/2000/svg", "text");
    t.setAttribute("x", "2");
    t.setAttribute("y", ly);
    t.setAttribute("font-size", "11");
    t.setAttribute("fill", "#59636e");
    t.textContent = text;
    return t;
  };
  const dots = (key, colour) => points.map((p) => {
    const dot = document.createElementNS("http://www.w3.org/2000/svg", "circle");
    dot.setAttribute("cx", x(p).toFixed(1));
    dot.setAttribute("cy", y(p[key]).toFixed(1));
    dot.setAttribute("r", "3");
    dot.setAttribute("fill", colour);
    return dot;
  });
  svg.append(line("latency_ms_p95", "#9a6700"), line("latency_ms_p50", "#0969da"),
    ...dots("latency_ms_p95", "#9a6700"), ...dots("latency_ms_p50", "#0969da"),
    label(`${top} ms`, pad - 4), label("0", height - pad + 12));
  container.replaceChildren(svg, h("p", { class: "muted" }, "blue: p50, amber: p95 (per hour)"));
}

async function drawResults(body, id) {
  const page = await api(`/api/v1/monitors/${id}/results?limit=20`);
  body.replaceChildren(...page.items.map((r) => h("tr", {},
    h("td", {}, when(r.checked_at)), h("td", {}, statusCell(r.status)), h("td", {}, ms(r.latency_ms)),
    h("td", {}, r.http_status ?? "–"), h("td", {}, r.error ?? ""))));
  if (page.items.length === 0) body.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No results yet.")));
}

async function drawTimeline(list, id) {
  const page = await api(`/api/v1/monitors/${id}/events?limit=1000`);
  const describe = (e) => {
    if (e.type === "status_changed") return `${e.data.from} → ${e.data.to}: ${e.data.reason}`;
    if (e.type === "monitor_updated") return `changed ${e.data.changed.join(", ")}`;
    return e.type.replace("monitor_", "").replace("_", " ");
  };
  list.replaceChildren(...page.items.slice(-100).reverse().map((e) =>
    h("li", {}, h("time", { datetime: e.recorded_at }, when(e.recorded_at)), " · ", describe(e), " · by ", h("strong", {}, e.actor))));
}

// ---- routing ---------------------------------------------------------------

function route() {
  const match = location.hash.match(/^#\/monitors\/([0-9a-f-]{36})$/);
  (match ? monitorPage(match[1]) : overview()).catch((error) => {
    if (error.status !== 401) app.replaceChildren(h("p", { class: "error", role: "alert" }, error.message));
  });
  app.focus();
}

window.addEventListener("hashchange", route);
route();

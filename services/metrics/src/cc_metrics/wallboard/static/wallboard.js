// The wallboard: one snapshot per Server-Sent Event, drawn with plain DOM and SVG.
"use strict";

const TEXT = {
  en: {
    title: "Contact center wallboard", connecting: "Connecting…", live: "Live", lost: "Reconnecting…",
    offered: "Offered", answered: "Answered", abandoned: "Abandoned", blocked: "Blocked",
    callbacks: "Callbacks", service_level: "Service level", abandon_rate: "Abandon rate",
    asa: "ASA", waiting: "Waiting", longest_wait: "Longest wait", estimated_wait: "Expected wait",
    target: "target", no_data: "no data", agents: "Agents", agent: "Agent", team: "Team", state: "State",
    reason: "Reason", time_in_state: "Time in state", queues: "Queues",
    chart_volume: "Offered vs answered by 15 minutes", chart_sl: "Service level by 15 minutes",
    chart_abandon: "Abandon rate by 15 minutes", all_queues: "All queues",
    st_available: "Available", st_reserved: "Ringing", st_on_call: "On call", st_wrap_up: "Wrap-up",
    st_break: "Break", st_not_ready: "Not ready", other_language: "中文",
    r_break: "break", r_lunch: "lunch", r_training: "training", r_max_no_answer: "missed calls",
  },
  zh: {
    title: "呼叫中心实时看板", connecting: "正在连接…", live: "实时", lost: "正在重新连接…",
    offered: "呼入", answered: "接通", abandoned: "放弃", blocked: "拒绝",
    callbacks: "回拨", service_level: "服务水平", abandon_rate: "放弃率",
    asa: "平均应答时间", waiting: "排队中", longest_wait: "最长等待", estimated_wait: "预计等待",
    target: "目标", no_data: "无数据", agents: "坐席", agent: "坐席", team: "团队", state: "状态",
    reason: "原因", time_in_state: "状态时长", queues: "队列",
    chart_volume: "每15分钟呼入与接通", chart_sl: "每15分钟服务水平",
    chart_abandon: "每15分钟放弃率", all_queues: "全部队列",
    st_available: "空闲", st_reserved: "振铃", st_on_call: "通话中", st_wrap_up: "话后处理",
    st_break: "休息", st_not_ready: "未就绪", other_language: "English",
    r_break: "休息", r_lunch: "午餐", r_training: "培训", r_max_no_answer: "多次未接",
  },
};
const STATES = ["available", "reserved", "on_call", "wrap_up", "break", "not_ready"];
const params = new URLSearchParams(location.search);
let lang = (params.get("lang") || localStorage.getItem("wallboard.lang") || "en").startsWith("zh") ? "zh" : "en";
let last = null;

const t = (key) => TEXT[lang][key] ?? key;
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) node.append(child);
  return node;
};
const pct = (v) => (v === null || v === undefined ? "—" : `${Math.round(v * 100)}%`);
const secs = (v) => {
  if (v === null || v === undefined) return "—";
  const s = Math.round(v);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};
const duration = (v) => {
  if (v === null || v === undefined) return "—";
  const s = Math.floor(v), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${String(m).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}` : `${m}:${String(s % 60).padStart(2, "0")}`;
};

function slClass(value, th) {
  if (value === null || value === undefined) return "none";
  if (value >= th.service_level_target) return "good";
  return value >= th.service_level_target - 0.1 ? "warn" : "bad";
}
function abandonClass(value, th) {
  if (value === null || value === undefined) return "none";
  if (value <= th.abandon_rate_limit) return "good";
  return value <= th.abandon_rate_limit * 2 ? "warn" : "bad";
}
function waitClass(value, th) {
  if (!value) return "good";
  return value <= th.longest_wait_limit_seconds ? "warn" : "bad";
}

function stat(label, value, cls = "", figure = "") {
  return el("div", { class: "stat", "data-figure": figure }, el("div", { class: "label" }, label),
    el("div", { class: `value ${cls}` }, value));
}

function renderTotals(s) {
  const th = s.thresholds, tot = s.total;
  document.getElementById("totals").replaceChildren(
    stat(t("offered"), String(tot.offered), "", "offered"),
    stat(t("answered"), String(tot.answered), "", "answered"),
    stat(t("abandoned"), String(tot.abandoned), "", "abandoned"),
    stat(t("blocked"), String(tot.blocked), "", "blocked"),
    stat(t("callbacks"), String(tot.callbacks), "", "callbacks"),
    stat(`${t("service_level")} (${th.service_level_seconds}s)`, pct(tot.service_level), `${slClass(tot.service_level, th)}-text`, "service_level"),
    stat(t("abandon_rate"), pct(tot.abandon_rate), `${abandonClass(tot.abandon_rate, th)}-text`, "abandon_rate"),
  );
}

function renderQueues(s) {
  const th = s.thresholds;
  const cards = s.queues.map((q) => {
    const sl = slClass(q.service_level, th);
    const fig = (label, value, cls, name) => el("div", { "data-figure": name },
      el("div", { class: "label" }, label), el("div", { class: `value ${cls || ""}` }, value));
    const chips = STATES.filter((st) => q.agents[st]).map((st) =>
      el("span", { class: `chip st-${st}` }, `${t("st_" + st)} ${q.agents[st]}`));
    return el("article", { class: `queue ${sl}`, "data-queue": q.name },
      el("h3", {}, q.name),
      el("div", { class: "big" },
        fig(t("waiting"), String(q.waiting), q.waiting ? "warn-text" : "", "waiting"),
        fig(t("longest_wait"), secs(q.longest_wait_seconds), `${waitClass(q.longest_wait_seconds, th)}-text`, "longest_wait"),
        fig(`${t("service_level")}`, pct(q.service_level), `${sl}-text`, "service_level")),
      el("div", { class: "small" },
        fig(t("abandon_rate"), pct(q.abandon_rate), `${abandonClass(q.abandon_rate, th)}-text`, "abandon_rate"),
        fig(t("asa"), secs(q.asa), "", "asa"),
        fig(`${t("target")} ${th.service_level_seconds}s`, pct(th.service_level_target), "", "target"),
        fig(t("offered"), String(q.offered), "", "offered"),
        fig(t("answered"), String(q.answered), "", "answered"),
        fig(`${t("abandoned")} / ${t("blocked")}`, `${q.abandoned} / ${q.blocked}`, "", "abandoned")),
      el("div", { class: "chips" }, ...chips));
  });
  document.getElementById("queues").replaceChildren(...cards);
}

function renderAgents(s) {
  const rows = s.agents.map((a) => el("tr", { "data-agent": a.id },
    el("td", {}, a.id), el("td", {}, a.team || ""),
    el("td", {}, el("span", { class: `chip st-${a.state}` }, t("st_" + a.state))),
    el("td", {}, a.reason ? (TEXT[lang]["r_" + a.reason] ?? a.reason) : ""),
    el("td", { class: "num" }, duration(a.seconds_in_state)),
    el("td", {}, a.queues.join(", "))));
  document.getElementById("agents").replaceChildren(...rows);
}

const SVG = "http://www.w3.org/2000/svg";
function svgEl(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}
const PAD = { l: 36, r: 8, t: 10, b: 24 }, W = 600, H = 220;

function axes(svg, n, max, labels, fmt) {
  const ih = H - PAD.t - PAD.b;
  for (let i = 0; i <= 4; i++) {
    const y = PAD.t + ih - (ih * i) / 4;
    svg.append(svgEl("line", { class: "grid", x1: PAD.l, x2: W - PAD.r, y1: y, y2: y }));
    const label = svgEl("text", { x: PAD.l - 4, y: y + 4, "text-anchor": "end" });
    label.textContent = fmt((max * i) / 4);
    svg.append(label);
  }
  const step = Math.max(1, Math.ceil(n / 8));
  labels.forEach((text, i) => {
    if (i % step) return;
    const x = PAD.l + ((W - PAD.l - PAD.r) * (i + 0.5)) / Math.max(n, 1);
    const label = svgEl("text", { x, y: H - 6, "text-anchor": "middle" });
    label.textContent = text;
    svg.append(label);
  });
}

function barChart(svg, intervals) {
  svg.replaceChildren();
  const n = intervals.length, max = Math.max(4, ...intervals.map((i) => i.offered));
  const top = Math.ceil(max / 4) * 4;
  axes(svg, n, top, intervals.map((i) => i.start), (v) => String(Math.round(v)));
  const iw = (W - PAD.l - PAD.r) / Math.max(n, 1), ih = H - PAD.t - PAD.b;
  intervals.forEach((i, k) => {
    const x = PAD.l + iw * k;
    for (const [name, value, off, color] of [["offered", i.offered, 0.1, "var(--offered)"], ["answered", i.answered, 0.5, "var(--answered)"]]) {
      const h = (ih * value) / top;
      svg.append(svgEl("rect", { x: x + iw * off, width: iw * 0.4, y: PAD.t + ih - h, height: h, fill: color, "data-series": name }));
    }
  });
}

function lineChart(svg, intervals, key, limit, higherIsBetter) {
  svg.replaceChildren();
  const n = intervals.length, ih = H - PAD.t - PAD.b, iw = (W - PAD.l - PAD.r) / Math.max(n, 1);
  const top = higherIsBetter ? 1 : Math.max(0.2, ...intervals.map((i) => i[key] ?? 0));
  axes(svg, n, top, intervals.map((i) => i.start), (v) => `${Math.round(v * 100)}%`);
  const y = (v) => PAD.t + ih - (ih * v) / top;
  svg.append(svgEl("line", { class: "target", x1: PAD.l, x2: W - PAD.r, y1: y(limit), y2: y(limit) }));
  let path = "";
  intervals.forEach((i, k) => {
    const v = i[key];
    if (v === null || v === undefined) { path += " "; return; }  // no data: a gap, not a zero
    const x = PAD.l + iw * (k + 0.5);
    path += `${path.endsWith(" ") || !path ? "M" : "L"}${x.toFixed(1)},${y(v).toFixed(1)}`;
    const good = higherIsBetter ? v >= limit : v <= limit;
    svg.append(svgEl("circle", { cx: x, cy: y(v), r: 3, fill: good ? "var(--good)" : "var(--bad)" }));
  });
  svg.prepend(svgEl("path", { d: path.trim().replace(/\s+/g, " ").replace(/ M/g, "M") || "M0,0", fill: "none", stroke: "var(--offered)", "stroke-width": 2 }));
}

function render(s) {
  last = s;
  document.body.dataset.version = String(s.version);
  document.getElementById("clock").textContent = s.time;
  document.getElementById("day").textContent = `${s.day} ${s.time_zone}`;
  renderTotals(s);
  renderQueues(s);
  barChart(document.getElementById("chart-volume"), s.intervals);
  lineChart(document.getElementById("chart-sl"), s.intervals, "service_level", s.thresholds.service_level_target, true);
  lineChart(document.getElementById("chart-abandon"), s.intervals, "abandon_rate", s.thresholds.abandon_rate_limit, false);
  renderAgents(s);
}

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  document.getElementById("lang").textContent = t("other_language");
  const state = document.body.dataset.state;
  document.getElementById("status").textContent = t(state === "live" ? "live" : state === "lost" ? "lost" : "connecting");
  if (last) render(last);
}

document.getElementById("lang").addEventListener("click", () => {
  lang = lang === "en" ? "zh" : "en";
  localStorage.setItem("wallboard.lang", lang);
  applyLanguage();
});

function connect() {
  const source = new EventSource("/wallboard/stream");
  source.addEventListener("snapshot", (event) => {
    document.body.dataset.state = "live";
    document.getElementById("status").textContent = t("live");
    render(JSON.parse(event.data));
  });
  source.onerror = () => {
    document.body.dataset.state = "lost";
    document.getElementById("status").textContent = t("lost");
  };
}

applyLanguage();
connect();

// backburner dashboard: live parts of the server-rendered pages. No inline script (the
// Content-Security-Policy forbids it), no library, no build step.
"use strict";

const REFRESH_MS = 5000;

// [data-refresh] sections (Overview counts, Jobs rows) are fetched again every few
// seconds as server-rendered HTML, escaped by the server; not while the tab is hidden.
function refresher(section) {
  let busy = false;
  async function tick() {
    if (document.hidden || busy) return;
    busy = true;
    try {
      const response = await fetch(section.dataset.refresh, {cache: "no-store"});
      if (response.ok) section.innerHTML = await response.text();
    } catch (e) {
      // the server is restarting: the next tick tries again
    } finally {
      busy = false;
    }
  }
  setInterval(tick, REFRESH_MS);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) tick(); });
}

// forms with data-confirm ask first (cancel, force cancel, delete)
function confirming(form) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}

// A job's page: its log and state stream in (Server-Sent Events), or are polled where
// the stream cannot be opened; once the job finishes the page reloads once, to show its
// result and attempts.
function jobLog(log) {
  log.scrollTop = log.scrollHeight;  // the latest lines first
  if (log.dataset.finished === "true") return;
  let after = Number(log.dataset.after) || 0;
  let status = document.querySelector("#job-status [data-status]")?.dataset.status;

  function addLines(lines) {
    const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    for (const line of lines) {
      if (line.seq <= after) continue;  // seen already (a reconnection, a poll)
      after = line.seq;
      const div = document.createElement("div");
      const meta = document.createElement("span");
      div.className = "line " + line.stream + " " + (line.level || "");
      meta.className = "meta";
      meta.textContent = "#" + line.attempt + " " + (line.level || line.stream);
      div.append(meta, " " + line.message);  // text, never HTML
      log.append(div);
    }
    if (atEnd) log.scrollTop = log.scrollHeight;
  }

  function showState(state) {
    const badge = document.querySelector("#job-status [data-status]");
    if (badge && state.status !== status) {
      badge.textContent = state.status;
      badge.dataset.status = state.status;
      badge.className = "badge status-" + state.status;
    }
    status = state.status;
    const bar = document.getElementById("progress");
    const p = state.progress;
    if (bar && p.share !== null) bar.value = p.share;
    const text = document.getElementById("progress-text");
    if (text) {
      const count = p.total ? p.done + "/" + p.total : (p.done ?? "");
      text.textContent = (count + " " + p.message).trim();
    }
    const attempts = document.getElementById("job-attempts");
    if (attempts) attempts.textContent = state.attempts + " of " + state.max_attempts;
  }

  let reloaded = false;
  function finished() {
    if (!reloaded) { reloaded = true; window.location.reload(); }
  }

  async function poll() {
    try {
      const response = await fetch(log.dataset.poll + "?after=" + after, {cache: "no-store"});
      if (response.ok) {
        const data = await response.json();
        addLines(data.lines);
        showState(data.state);
        if (data.state.finished) { finished(); return; }
      }
    } catch (e) {
      // server restarting: try again
    }
    setTimeout(poll, document.hidden ? 5000 : 1000);
  }

  if (!window.EventSource) { poll(); return; }
  const events = new EventSource(log.dataset.events + "?after=" + after);
  let opened = false;
  events.onopen = () => { opened = true; };
  events.addEventListener("log", (e) => addLines([JSON.parse(e.data)]));
  events.addEventListener("state", (e) => showState(JSON.parse(e.data)));
  events.addEventListener("end", () => { events.close(); finished(); });
  events.onerror = () => {
    // a stream that ends (its time cap) is reopened by EventSource itself; one that
    // never opened, or that EventSource gave up on, falls back to polling
    if (!opened || events.readyState === EventSource.CLOSED) { events.close(); poll(); }
  };
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-refresh]").forEach(refresher);
  document.querySelectorAll("form[data-confirm]").forEach(confirming);
  const log = document.getElementById("log");
  if (log) jobLog(log);
});

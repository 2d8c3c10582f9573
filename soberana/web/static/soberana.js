// Soberana: progressive enhancement only. Every form also works as a plain HTML form without this file.
"use strict";

// Read a Server-Sent Events stream from a fetch response, calling onEvent(name, data) for each event.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      onEvent(name, data ? JSON.parse(data) : null);
    }
  }
}

function element(tag, attributes, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

// The citizen assistant: stream the answer into the conversation instead of reloading the page.
function enhanceAsk(form) {
  const log = document.getElementById(form.dataset.log);
  const labels = JSON.parse(form.dataset.labels);
  const embedded = document.querySelector("main.embedded") !== null;
  form.addEventListener("submit", async (event) => {
    const field = form.querySelector("textarea");
    const question = field.value.trim();
    if (!question) return;
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const mine = element("li", { class: "message user" });
    mine.append(element("p", { class: "who" }, labels.you), element("p", { class: "body" }, question));
    const answer = element("li", { class: "message assistant", "aria-busy": "true" });
    const body = element("p", { class: "body" }, labels.searching);
    answer.append(element("p", { class: "who" }, labels.assistant), body);
    log.append(mine, answer);
    field.value = "";
    const status = document.getElementById(form.dataset.status);
    status.textContent = labels.searching;
    try {
      const response = await fetch(form.dataset.stream, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", "Accept": "text/event-stream" },
        body: new URLSearchParams({ question: question, csrf_token: form.querySelector("[name=csrf_token]").value }),
      });
      if (!response.ok) throw new Error(String(response.status));
      let started = false;
      let finished = false;
      await readEvents(response, (name, data) => {
        if (name === "mode") {
          const shown = answer.querySelector("p.mode");
          if (shown) shown.remove();
          if (data.label) answer.insertBefore(element("p", { class: "mode" }, data.label), body);
        } else if (name === "delta") {
          if (!started) { body.textContent = ""; started = true; }
          body.textContent += data.text;
        } else if (name === "replace") {
          body.textContent = data.text;
        } else if (name === "citations" && data.items.length) {
          const heading = element("p", { class: "who" }, labels.sources);
          const list = element("ol", { class: "citations" });
          for (const item of data.items) {
            const entry = element("li", { value: String(item.index) });
            let link = element("span", {}, item.title);
            if (item.url && embedded) { // inside the widget's frame: the source opens in a tab of its own
              link = element("a", { href: item.url, target: "_blank", rel: "noopener" }, item.title);
              link.append(element("span", { class: "visually-hidden" }, " " + labels.new_tab));
            } else if (item.url) {
              link = element("a", { href: item.url }, item.title);
            }
            entry.append(link);
            if (item.quote) entry.append(element("blockquote", {}, item.quote));
            list.append(entry);
          }
          answer.append(heading, list);
        } else if (name === "language") {
          body.setAttribute("lang", data.language);
        } else if (name === "done") {
          finished = true;
          answer.setAttribute("aria-busy", "false");
          answer.id = "msg-" + data.id;
          status.textContent = labels.answered;
          if (data.feedback) answer.insertAdjacentHTML("beforeend", data.feedback);
        } else if (name === "error") {
          finished = true;
          if (!field.value) field.value = question; // nothing typed is lost
          body.textContent = data.message;
          answer.setAttribute("aria-busy", "false");
          status.textContent = data.message;
        }
      });
      if (!finished) throw new Error("the answer stopped before its end");
    } catch (error) {
      if (!field.value) field.value = question; // nothing typed is lost
      body.textContent = labels.failed;
      answer.setAttribute("aria-busy", "false");
      status.textContent = labels.failed;
    } finally {
      button.disabled = false;
      field.focus();
    }
  });
}

// A conversation handed to a person: the staff member's reply appears without reloading the page.
// The page itself is read again every few seconds while the case is open (no other endpoint to keep);
// not while the tab is hidden, and no more once the case is closed or the page is gone.
function followHandoff(section) {
  const log = document.getElementById("log");
  if (!log) return;
  const every = Number(section.dataset.follow) * 1000;
  let failures = 0;
  const timer = setInterval(async () => {
    if (document.hidden || log.querySelector("[aria-busy=true]")) return; // an answer is being written: not now
    let fresh;
    try {
      const response = await fetch(location.pathname + location.search, { headers: { Accept: "text/html" } });
      if (!response.ok) throw new Error(String(response.status));
      fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      failures = 0;
    } catch (error) {
      if (++failures >= 5) clearInterval(timer); // offline for long, or the assistant withdrawn: stop
      return;
    }
    for (const item of fresh.querySelectorAll("#log > li.message.staff")) {
      if (!document.getElementById(item.id)) log.append(document.importNode(item, true));
    }
    const state = fresh.getElementById("handoff");
    if (state && "closed" in state.dataset) { // answered and closed: show it, and stop
      section.replaceWith(document.importNode(state, true));
      clearInterval(timer);
    } else if (!state || !("follow" in state.dataset)) {
      clearInterval(timer); // no open case any more (the conversation erased or expired): stop, change nothing
    }
  }, every);
}

// A key shown once: a button copies it.
function enhanceCopy(button) {
  button.hidden = false;
  button.addEventListener("click", async () => {
    const target = document.getElementById(button.dataset.copy);
    await navigator.clipboard.writeText(target.textContent.trim());
    button.textContent = button.dataset.done;
  });
}

function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

// Uploading documents: the bytes sent, then the ingestion job followed until it ends.
function enhanceUpload(form) {
  const box = form.querySelector(".upload-progress");
  const bar = form.querySelector("progress");
  const status = form.querySelector("[role=status]");
  const errors = form.querySelector("#upload-errors");
  const button = form.querySelector("button[type=submit]");
  // The live region is rewritten only when its text changes, so screen readers are not flooded.
  const show = (key, values) => {
    const text = fill(status.dataset[key], values || {});
    if (status.textContent !== text) status.textContent = text;
  };
  const parse = (text) => { try { return JSON.parse(text); } catch (e) { return null; } };
  form.addEventListener("submit", (event) => {
    if (!form.querySelector("input[type=file]").files.length) return;
    event.preventDefault();
    box.hidden = false;
    button.disabled = true;
    errors.replaceChildren();
    bar.max = 100;
    bar.value = 0;
    show("sending", { percent: 0 });
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      const percent = Math.round((100 * e.loaded) / e.total);
      bar.value = percent;
      show("sending", { percent: 25 * Math.floor(percent / 25) }); // announced in quarters
    });
    request.addEventListener("load", () => {
      const body = parse(request.responseText);
      if (request.responseURL.includes("/sign-in")) { window.location.assign(request.responseURL); return; }
      if ((request.status !== 202 && request.status !== 200) || !body || !body.id) {
        button.disabled = false;
        status.textContent = (body && body.error && body.error.message) || status.dataset.failed;
        return;
      }
      follow(body);
    });
    request.addEventListener("error", () => { button.disabled = false; show("failed"); });
    request.send(new FormData(form));
  });
  function follow(job) {
    bar.max = Math.max(1, job.files_total);
    bar.value = job.files_done;
    show("processing", { done: job.files_done, total: job.files_total });
    if (job.status === "queued" || job.status === "running") {
      setTimeout(async () => {
        const response = await fetch("/staff/jobs/" + job.id, { headers: { "Accept": "application/json" } });
        if (response.ok) follow(await response.json());
        else { button.disabled = false; show("failed"); }
      }, 700);
      return;
    }
    button.disabled = false;
    show("finished", {
      added: job.documents_added, updated: job.documents_updated,
      unchanged: job.documents_unchanged, failed: job.errors.length,
    });
    for (const failure of job.errors) errors.append(element("li", {}, failure.file + ": " + failure.message));
    const details = form.querySelector("#upload-job");
    details.href = "/staff/jobs/" + encodeURIComponent(job.id);
    details.hidden = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-upload]").forEach(enhanceUpload);
  document.querySelectorAll("form[data-demo]").forEach((f) => f.addEventListener("submit", (e) => e.preventDefault()));
  document.querySelectorAll("form[data-stream]").forEach(enhanceAsk);
  document.querySelectorAll("button[data-copy]").forEach(enhanceCopy);
  document.querySelectorAll("section[data-follow]").forEach(followHandoff);
});

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
      await readEvents(response, (name, data) => {
        if (name === "mode") answer.insertBefore(element("p", { class: "mode" }, data.label), body);
        else if (name === "delta") {
          if (!started) { body.textContent = ""; started = true; }
          body.textContent += data.text;
        } else if (name === "citations" && data.items.length) {
          const heading = element("p", { class: "who" }, labels.sources);
          const list = element("ol", { class: "citations" });
          for (const item of data.items) {
            const entry = element("li", { value: String(item.index) });
            const link = item.url ? element("a", { href: item.url }, item.title) : element("span", {}, item.title);
            entry.append(link);
            if (item.quote) entry.append(element("blockquote", {}, item.quote));
            list.append(entry);
          }
          answer.append(heading, list);
        } else if (name === "language") {
          body.setAttribute("lang", data.language);
        } else if (name === "done") {
          answer.setAttribute("aria-busy", "false");
          answer.id = "msg-" + data.id;
          status.textContent = labels.answered;
          if (data.feedback) answer.insertAdjacentHTML("beforeend", data.feedback);
        } else if (name === "error") {
          body.textContent = data.message;
          answer.setAttribute("aria-busy", "false");
          status.textContent = data.message;
        }
      });
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

// A key shown once: a button copies it.
function enhanceCopy(button) {
  button.hidden = false;
  button.addEventListener("click", async () => {
    const target = document.getElementById(button.dataset.copy);
    await navigator.clipboard.writeText(target.textContent.trim());
    button.textContent = button.dataset.done;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-stream]").forEach(enhanceAsk);
  document.querySelectorAll("button[data-copy]").forEach(enhanceCopy);
});

// Soberana assistant widget. An agency adds to its own pages:
//   <script src="https://soberana.example/widget.js" data-collection="org/collection" data-lang="es" async></script>
// It shows a button that opens the assistant in a panel; the assistant itself is Soberana's page,
// framed only on the sites the collection allows (Content-Security-Policy frame-ancestors).
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.dataset.collection) return;
  var base = new URL(script.src).origin;
  var lang = (script.dataset.lang || document.documentElement.lang || "").slice(0, 2).toLowerCase();
  // The button's label and the close label in each interface language: /widget.js fills them in from
  // the message catalogues (this file as stored carries English only).
  var labels = {"en": ["Ask the assistant", "Close the assistant"]};
  var text = labels[lang] || labels.en;
  var open = script.dataset.label || text[0];

  var button = document.createElement("button");
  button.type = "button";
  button.id = "soberana-widget-button";
  button.textContent = open;
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", "soberana-widget-panel");
  button.style.cssText = "position:fixed;right:1rem;bottom:1rem;z-index:2147483000;font:600 1rem system-ui,sans-serif;" +
    "padding:.7rem 1.1rem;border:2px solid #1f4fa8;border-radius:4px;background:#1f4fa8;color:#fff;cursor:pointer";

  var panel = document.createElement("div");
  panel.id = "soberana-widget-panel";
  panel.hidden = true;
  panel.setAttribute("role", "region");
  panel.setAttribute("aria-label", open);
  panel.style.cssText = "position:fixed;right:1rem;bottom:4.5rem;z-index:2147483000;width:min(26rem,calc(100vw - 2rem));" +
    "height:min(40rem,calc(100vh - 6rem));border:2px solid #1b1b1f;border-radius:6px;background:#fff;box-shadow:0 4px 16px rgba(0,0,0,.25)";

  var frame = document.createElement("iframe");
  frame.title = open;
  frame.style.cssText = "width:100%;height:100%;border:0;border-radius:6px";
  var source = base + "/ask/" + script.dataset.collection + "?embed=1" + (labels[lang] ? "&lang=" + lang : "");

  button.addEventListener("click", function () {
    var showing = panel.hidden;
    if (showing && !frame.src) frame.src = source; // loaded on first use only
    panel.hidden = !showing;
    button.setAttribute("aria-expanded", String(showing));
    button.textContent = showing ? text[1] : open;
    if (showing) frame.focus();
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !panel.hidden) {
      button.click();
      button.focus();
    }
  });

  panel.appendChild(frame);
  document.body.appendChild(panel);
  document.body.appendChild(button);
})();

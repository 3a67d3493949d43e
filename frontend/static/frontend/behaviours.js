// Small page behaviours that used to be inline hx-on attributes: the Content-Security-Policy
// allows no inline script, so they live here and attach by data attribute (delegated, so
// they also work on fragments htmx swaps in later).
(function () {
  "use strict";

  // <form data-reset-on-success>: empty the form after htmx posted it successfully.
  document.addEventListener("htmx:afterRequest", function (event) {
    const form = event.detail.elt;
    if (form instanceof HTMLFormElement && form.hasAttribute("data-reset-on-success")
        && event.detail.xhr && event.detail.xhr.status < 300) {
      form.reset();
    }
  });

  // <form data-confirm="Question?">: ask before a plain (non-htmx) form is submitted;
  // htmx forms use hx-confirm.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  // <input data-escape-cancels>: Escape clicks the form's .cancel link.
  document.addEventListener("keydown", function (event) {
    const input = event.target;
    if (event.key !== "Escape" || !(input instanceof HTMLElement)
        || !input.hasAttribute("data-escape-cancels") || !input.form) {
      return;
    }
    const cancel = input.form.querySelector(".cancel");
    if (cancel) cancel.click();
  });

  // <button data-url="…" data-copy-fallback="element id">: copy a link; without
  // clipboard access, select the link's text so Ctrl+C copies it.
  document.addEventListener("click", function (event) {
    const button = event.target instanceof Element && event.target.closest("button[data-url][data-copy-fallback]");
    if (!button) return;
    const copied = navigator.clipboard
      ? navigator.clipboard.writeText(button.dataset.url)
      : Promise.reject(new Error("no clipboard"));
    copied.then(
      function () { button.textContent = "Link copied"; },
      function () {
        const source = document.getElementById(button.dataset.copyFallback);
        if (source) {
          const range = document.createRange();
          range.selectNodeContents(source);
          getSelection().removeAllRanges();
          getSelection().addRange(range);
        }
        button.textContent = "Press Ctrl+C to copy";
      },
    );
  });
})();
